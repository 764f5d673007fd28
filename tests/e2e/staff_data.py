"""Data the staff walks start from, made in the live server's database the way the demo makes its own.

A walk needs a customer of its own (the live database is shared by every browser test of an engine): a new
organization with a Master (demo password), licences of a demo product, optionally its agreements accepted and
an invoice issued on a past billing day. Nothing here is a step a person does in the page; those are walked.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from flask import Flask, current_app
from sqlalchemy import select

from portal.accounts.models import Organization, User
from portal.accounts.roles import Role
from portal.agreements.models import AcceptanceMethod, AgreementAcceptance, AgreementVersion
from portal.billing.payments import refresh_delinquency
from portal.billing.run import invoice_organization
from portal.billing.settings import BillingSettings
from portal.catalog.models import Product
from portal.extensions import db
from portal.shared import clock
from portal.shared.audit import Actor
from tests import factories

PRODUCT = "Microsoft 365 Business Basic"
ACTOR = Actor.system("e2e")


@dataclass(frozen=True)
class Customer:
    organization_id: int
    legal_name: str
    master_email: str
    master_name: str


def last_day_with_day_at_most_28(day: date) -> date:
    """`day`, or the last day before it that any organization can have as billing day (1 to 28)."""
    while day.day > 28:
        day -= timedelta(days=1)
    return day


def customer(app: Flask, *, billing_day: int, licences: int = 3, agreements: bool = True,
             tenant: bool = True, master_joined: bool = True) -> Customer:
    """A new organization with a Master, `licences` of Microsoft 365 Business Basic bought 90 days ago and, with
    `agreements`, every published agreement accepted by the Master a month ago; with `tenant`, its Microsoft
    tenant id (without it, its Microsoft orders fail until staff enter it). Without `master_joined` the Master's
    invitation is still pending: nobody receives the organization's invoices."""
    tag = uuid.uuid4().hex[:8]
    with app.app_context():
        organization = factories.OrganizationFactory(legal_name=f"Cliente E2E {tag} Ltda", trade_name=f"E2E {tag}",
                                                     billing_day=billing_day)
        master = factories.UserFactory(email=f"master-{tag}@e2e.example.com", name=f"Paula Master {tag}")
        factories.MembershipFactory(organization=organization, user=master, roles=[Role.MASTER],
                                    accepted_at=clock.now() if master_joined else None)
        product = db.session.scalar(select(Product).where(Product.name == PRODUCT))
        factories.subscription(organization, product=product, quantity=licences,
                               added_at=clock.now() - timedelta(days=90))
        organization.microsoft_tenant_id = str(uuid.uuid4()) if tenant else None
        if agreements:
            published = select(AgreementVersion).where(AgreementVersion.published_at.is_not(None))
            for version in db.session.scalars(published):
                db.session.add(AgreementAcceptance(
                    organization_id=organization.id, version_id=version.id, method=AcceptanceMethod.ACCEPTED,
                    first_name="Paula", last_name=f"Master {tag}", email=master.email, phone=master.phone,
                    accepted_on=clock.today() - timedelta(days=30), accepted_at=clock.now() - timedelta(days=30),
                    recorded_by_id=master.id, provider_status="done" if version.provider_template_id else "not_needed"))
        db.session.commit()
        found = Customer(organization.id, organization.legal_name, master.email, master.name)
        db.session.remove()
        return found


def former_and_invited(app: Flask, found: Customer) -> dict[str, str]:
    """Two more people of the organization: one whose membership was deactivated, one whose invitation is still
    pending (never accepted). Their e-mails, by "former" and "invited"."""
    tag = found.master_email.split("@")[0].removeprefix("master-")
    emails = {"former": f"ex-{tag}@e2e.example.com", "invited": f"convidado-{tag}@e2e.example.com"}
    with app.app_context():
        organization = db.session.get(Organization, found.organization_id)
        factories.MembershipFactory(organization=organization, active=False, roles=[Role.ADM],
                                    user=factories.UserFactory(email=emails["former"], name=f"Ex Membro {tag}"))
        factories.MembershipFactory(organization=organization, accepted_at=None, roles=[Role.SUPORTE],
                                    user=factories.UserFactory(email=emails["invited"], name=f"Convidado {tag}",
                                                               password_hash=None))
        db.session.commit()
        db.session.remove()
    return emails


def also_member(app: Flask, email: str, organization_id: int) -> None:
    """The user of `email` becomes a Master of another organization too (a multi-organization user)."""
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        factories.MembershipFactory(organization=db.session.get(Organization, organization_id), user=user,
                                    roles=[Role.MASTER])
        db.session.commit()
        db.session.remove()


def issued_invoice(app: Flask, organization_id: int, day: date) -> dict:
    """The organization's invoice of billing day `day`, issued as the run of that day would have (clock at noon),
    then its standing refreshed as the daily job does (an invoice long overdue makes it "inadimplente")."""
    with app.app_context():
        settings = BillingSettings.from_config(current_app.config)
        with clock.frozen(datetime(day.year, day.month, day.day, 12, tzinfo=UTC)):
            invoice = invoice_organization(organization_id, on=day, settings=settings, actor=ACTOR).invoice
        assert invoice is not None, "nothing to invoice"
        refresh_delinquency(invoice.organization, clock.today(), settings, ACTOR)
        db.session.commit()
        facts = {"id": invoice.id, "number": invoice.display_number, "total_cents": invoice.total_cents}
        db.session.remove()
        return facts


def brl(cents: int) -> str:
    """R$ 1.234,56 as the pages write it."""
    whole, part = divmod(cents, 100)
    return f"R$ {whole:,}".replace(",", ".") + f",{part:02d}"
