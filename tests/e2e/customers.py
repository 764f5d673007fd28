"""A fresh customer organization for a browser test whose flow consumes what it touches (a cancellation, a
rescission, an agreement, a user's 2FA): the demo's organizations stay as the other tests expect them.

The setup is data, not the flow under test: the organization, its Master (the demo password), optionally the
accepted agreements and a few licenses bought through the same service the onboarding approval uses. Everything
the test then does, it does in the browser.
"""

import random
import uuid
from dataclasses import dataclass
from datetime import timedelta

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
from tests.e2e.conftest import DEMO_PASSWORD


@dataclass(frozen=True)
class Customer:
    id: int
    trade_name: str
    legal_name: str
    master_email: str
    master_name: str


def _cnpj() -> str:
    return "".join(random.choices("0123456789", k=14))  # noqa: S311 - a unique test identifier, not a secret


def new_customer(app, *, accepted: bool = True, licenses: dict[str, int] | None = None,
                 master_name: str = "Renata Master") -> Customer:
    """A new organization (own CNPJ and Microsoft tenant) with one active Master; `accepted` records both
    agreements as accepted by that Master a month ago; `licenses` ({SKU: quantity}) are bought for it now."""
    tag = uuid.uuid4().hex[:8]
    trade_name = f"Cliente {tag}"
    email = f"master-{tag}@e2e.example.com"
    with app.app_context():
        organization = Organization(
            legal_name=f"{trade_name} Ltda", trade_name=trade_name, cnpj=_cnpj(), street="Rua Augusta", number="500",
            complement="", district="Consolação", city="São Paulo", state="SP", postal_code="01305000",
            # a few days after the billing day, as the demo: not the billing day itself (issue 13, point 4)
            billing_day=min((clock.today() - timedelta(days=3)).day, 28), microsoft_tenant_id=str(uuid.uuid4()),
        )
        user = User(email=email, name=master_name, phone="(11) 3000-0000",
                    password_hash=generate_password_hash(DEMO_PASSWORD, method=app.config["PASSWORD_HASH_METHOD"]))
        membership = Membership(user=user, organization=organization, accepted_at=clock.now())
        membership.role_rows = [MembershipRole(role=str(Role.MASTER))]
        db.session.add_all([organization, membership])
        db.session.flush()
        if accepted:
            first_name, _, last_name = master_name.partition(" ")
            for version in db.session.scalars(select(AgreementVersion)).all():
                db.session.add(AgreementAcceptance(
                    organization_id=organization.id, version_id=version.id, method=AcceptanceMethod.ACCEPTED,
                    first_name=first_name, last_name=last_name, email=email, phone=user.phone,
                    accepted_on=clock.today() - timedelta(days=30), accepted_at=clock.now() - timedelta(days=30),
                    recorded_by_id=user.id,
                    provider_status="done" if version.kind == AgreementKind.MICROSOFT else "not_needed",
                ))
        if licenses:
            products = {p.sku: p for p in db.session.scalars(select(Product).where(Product.sku.in_(licenses)))}
            purchase_for_new_customer(organization=organization, actor=Actor.for_user(user),
                                      items=[(products[sku], quantity) for sku, quantity in licenses.items()])
        db.session.commit()
        customer = Customer(organization.id, trade_name, organization.legal_name, email, master_name)
        db.session.remove()
    return customer


class PageChecks:
    """`check_page` that lets the flow go on: each page's problems (issue 13, point 21) are collected, and
    `assert_clean()` at the end of the test fails with all of them, so one broken layout does not hide what the
    rest of the flow would have shown."""

    def __init__(self, check_page) -> None:
        self.check_page = check_page
        self.problems: list[str] = []

    def __call__(self, page) -> None:
        try:
            self.check_page(page)
        except AssertionError as problem:
            self.problems.append(str(problem).split("\nassert")[0])

    def assert_clean(self) -> None:
        assert not self.problems, "\n".join(self.problems)
