"""A fresh customer organization for a browser test whose flow consumes what it touches (a cancellation, a
rescission, an agreement, a user's 2FA): the demo's organizations stay as the other tests expect them.

The setup is data, not the flow under test: the organization, a user per role asked for (the demo password),
optionally the accepted agreements, a few licenses bought through the same service the onboarding approval uses,
and an overdue invoice issued as the billing run issues it. Everything the test then does, it does in the browser.

`PageChecks` runs `check_page` (issue 13, point 21) on each page of a walk and reports every failing page at the
end, so a layout defect does not stop the walk before its result.
"""

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from werkzeug.security import generate_password_hash

from portal.accounts.models import Membership, MembershipRole, Organization, User
from portal.accounts.roles import Role
from portal.agreements.models import AcceptanceMethod, AgreementAcceptance, AgreementKind, AgreementVersion
from portal.catalog.models import Product
from portal.extensions import db
from portal.shared import clock
from portal.shared.audit import Actor
from portal.subscriptions.service import purchase_for_new_customer
from tests import factories
from tests.e2e.conftest import DEMO_PASSWORD

# The people of a new customer, by role: (name, e-mail prefix). Each is a user of that one role.
PEOPLE = {Role.MASTER: ("Renata Master", "master"), Role.ADM: ("Álvaro Adm", "adm"),
          Role.COBRANCA: ("Célia Cobrança", "cobranca"), Role.SUPORTE: ("Saulo Suporte", "suporte")}


@dataclass(frozen=True)
class Customer:
    id: int
    trade_name: str
    legal_name: str
    emails: dict[Role, str]

    @property
    def master_email(self) -> str:
        return self.emails[Role.MASTER]

    @property
    def master_name(self) -> str:
        return PEOPLE[Role.MASTER][0]


def _cnpj() -> str:
    """A valid CNPJ (check digits right: the bank's remessa and the NFS-e refuse any other) with a random root."""
    return factories.valid_cnpj(root=random.randrange(10_000_000, 100_000_000))  # noqa: S311 - not a secret


def new_customer(app, *, accepted: bool = True, licenses: dict[str, int] | None = None,
                 roles: tuple[Role, ...] = (Role.MASTER,), overdue_invoice: bool = False,
                 bought_days_ago: int = 0) -> Customer:
    """A new organization (own CNPJ and Microsoft tenant) with one active user per role in `roles` (the first is
    the Master); `accepted` records both agreements as accepted by the Master a month ago; `licenses`
    ({SKU: quantity}) are bought for it `bought_days_ago`, as the onboarding approval buys them; with
    `overdue_invoice`, 40 days ago, and the invoice of the billing day after that is issued (with its PDF, boleto
    and nota fiscal) and is overdue today."""
    tag = uuid.uuid4().hex[:8]
    trade_name = f"Cliente {tag}"
    emails = {role: f"{PEOPLE[role][1]}-{tag}@e2e.example.com" for role in roles}
    password_hash = generate_password_hash(DEMO_PASSWORD, method=app.config["PASSWORD_HASH_METHOD"])
    with app.app_context():
        organization = Organization(
            legal_name=f"{trade_name} Ltda", trade_name=trade_name, cnpj=_cnpj(), street="Rua Augusta", number="500",
            complement="", district="Consolação", city="São Paulo", state="SP", postal_code="01305000",
            # a few days after the billing day, as the demo: not the billing day itself (issue 13, point 4)
            billing_day=min((clock.today() - timedelta(days=3)).day, 28), microsoft_tenant_id=str(uuid.uuid4()),
        )
        db.session.add(organization)
        users = {}
        for role, email in emails.items():
            users[role] = User(email=email, name=PEOPLE[role][0], phone="(11) 3000-0000", password_hash=password_hash)
            membership = Membership(user=users[role], organization=organization, accepted_at=clock.now())
            membership.role_rows = [MembershipRole(role=str(role))]
            db.session.add(membership)
        db.session.flush()
        user = users[Role.MASTER]
        if accepted:
            first_name, _, last_name = user.name.partition(" ")
            for version in db.session.scalars(select(AgreementVersion)).all():
                db.session.add(AgreementAcceptance(
                    organization_id=organization.id, version_id=version.id, method=AcceptanceMethod.ACCEPTED,
                    first_name=first_name, last_name=last_name, email=user.email, phone=user.phone,
                    accepted_on=clock.today() - timedelta(days=30), accepted_at=clock.now() - timedelta(days=30),
                    recorded_by_id=user.id,
                    provider_status="done" if version.kind == AgreementKind.MICROSOFT else "not_needed",
                ))
        bought_at = clock.now() - timedelta(days=40 if overdue_invoice else bought_days_ago)
        with clock.frozen(bought_at):  # the job that sends the orders runs on commit, in the same moment
            if licenses:
                products = {p.sku: p for p in db.session.scalars(select(Product).where(Product.sku.in_(licenses)))}
                purchase_for_new_customer(organization=organization, actor=Actor.for_user(user),
                                          items=[(products[sku], quantity) for sku, quantity in licenses.items()])
            db.session.commit()
        if overdue_invoice:
            _issue_invoice_after(organization, clock.to_business(bought_at).date())
        customer = Customer(organization.id, trade_name, organization.legal_name, emails)
        db.session.remove()
    return customer


def _issue_invoice_after(organization: Organization, day) -> None:
    """The invoice of `organization`'s first billing day after `day`, with its documents, as the billing run
    issues it (the clock at noon of that day in São Paulo)."""
    from flask import current_app

    from portal.billing import documents, fiscal
    from portal.billing.run import invoice_organization
    from portal.billing.settings import BillingSettings

    day += timedelta(days=1)
    while day.day != organization.billing_day:
        day += timedelta(days=1)
    settings = BillingSettings.from_config(current_app.config)
    actor = Actor.system("e2e")
    with clock.frozen(datetime(day.year, day.month, day.day, 15, tzinfo=UTC)):
        invoice = invoice_organization(organization.id, on=day, settings=settings, actor=actor).invoice
        assert invoice is not None, "nothing to bill"
        documents.ensure_invoice_documents(invoice, settings=settings, actor=actor)
        fiscal.ensure_fiscal_document(invoice, issuer=current_app.extensions["fiscal_issuer"], settings=settings,
                                      actor=actor)
        db.session.commit()


