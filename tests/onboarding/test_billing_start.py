"""Issue 13 point 2: a customer the onboarding created is billed only for licences the provider confirmed, and
from the contract's first monthly payment (the later of that date and the confirmation), at the exact amounts of
specs/prorata.md. Before the fix the billing day after the approval billed the pró-rata from the approval plus a
whole month, while the contract said "Primeira mensalidade em 06/01/2027" and the order had failed."""

from datetime import UTC, date, datetime

import pytest
from flask import current_app
from sqlalchemy import select

from portal.billing.lines import draft_invoice
from portal.billing.models import Invoice, LineKind
from portal.billing.run import invoice_organization
from portal.billing.settings import BillingSettings
from portal.extensions import db
from portal.integrations.partner_center import PartnerCenterSimulator
from portal.onboarding import service as onboarding
from portal.onboarding.models import Stage
from portal.shared import clock
from portal.shared.audit import Actor
from portal.subscriptions import orders as order_service
from portal.subscriptions.models import Order, OrderStatus
from tests import factories

APPROVED = datetime(2026, 12, 6, 13, tzinfo=UTC)  # 10:00 in São Paulo
FIRST_PAYMENT = date(2027, 1, 6)  # "Primeira mensalidade em 06/01/2027"


@pytest.fixture(autouse=True)
def documents_elsewhere(monkeypatch):
    import portal.billing.run as billing

    monkeypatch.setattr(billing, "_queue_documents", lambda invoice: None)


@pytest.fixture
def slow_provider(app_ctx):
    """Partner Center takes an hour to apply a purchase: the order stays "enviado" until polled after that."""
    original = app_ctx.extensions["provisioner"]
    app_ctx.extensions["provisioner"] = simulator = PartnerCenterSimulator(delay_seconds=3600)
    yield simulator
    app_ctx.extensions["provisioner"] = original


def approve(*, billing_day: int, quantity: int = 5):
    """A customer onboarded on APPROVED with `quantity` licences of a Microsoft product at R$ 78,90 a month."""
    product = factories.ProductFactory(name="Microsoft 365 Business Standard", price=7890)
    financeiro = Actor.for_user(factories.StaffUserFactory(roles=["financeiro"]))
    with clock.frozen(APPROVED):
        opportunity = factories.opportunity(Stage.APPROVAL, items=[(product, quantity)], billing_day=billing_day,
                                            first_payment_date=FIRST_PAYMENT)
        settings = onboarding.OnboardingSettings.from_config(current_app.config)
        organization = onboarding.approve(opportunity, actor=financeiro, settings=settings,
                                          url_for_token=lambda t: f"/convite/{t}",
                                          provisioner=current_app.extensions["provisioner"])
    [order] = db.session.scalars(select(Order).where(Order.organization_id == organization.id)).all()
    return organization, order


def confirm(order: Order, when: datetime) -> None:
    """The provider finishes the purchase; the order's next poll (the sweep) records it as done."""
    with clock.frozen(when):
        order_service.run_order(order.id, provisioner=current_app.extensions["provisioner"])
    db.session.expire_all()
    assert db.session.get(Order, order.id).status == OrderStatus.DONE


def lines(organization, on: date) -> list[tuple[str, int, int, date, date]]:
    with clock.frozen(datetime(on.year, on.month, on.day, 12, tzinfo=UTC)):
        draft = draft_invoice(organization, on)
    return [(line.kind, line.quantity, line.amount_cents, line.period_start, line.period_end) for line in draft.lines]


def test_nothing_is_billed_before_the_provider_confirms_nor_before_the_first_payment(app_ctx, slow_provider):
    organization, order = approve(billing_day=10)
    assert order.status == OrderStatus.SENT  # accepted by Partner Center, not applied yet
    assert lines(organization, date(2026, 12, 10)) == []  # the billing day after the approval: not confirmed
    confirm(order, datetime(2026, 12, 20, 15, tzinfo=UTC))
    assert lines(organization, date(2026, 12, 20)) == []  # confirmed, but the contract starts on 06/01/2027
    assert lines(organization, date(2027, 1, 5)) == []
    # The first invoice (billing day 10/01/2027): pró-rata from 06/01 of the period 10/12/2026 → 10/01/2027
    # (N = 31, r = 4: 78,90 × 5 × 4 / 31 = 50,903… → 50,90) and the month 10/01 → 10/02/2027 (5 × 78,90).
    assert lines(organization, date(2027, 1, 10)) == [
        (LineKind.RECURRING, 5, 39450, date(2027, 1, 10), date(2027, 2, 10)),
        (LineKind.PRORATA, 5, 5090, date(2027, 1, 6), date(2027, 1, 10)),
    ]
    settings = BillingSettings.from_config(app_ctx.config)
    with clock.frozen(datetime(2027, 1, 10, 9, tzinfo=UTC)):
        issued = invoice_organization(organization.id, on=date(2027, 1, 10), settings=settings,
                                      actor=Actor.system("tests"))
    assert issued.invoice.total_cents == 44540
    # Next month: the recurring line only; the start's pró-rata was billed once.
    assert lines(organization, date(2027, 2, 10)) == [
        (LineKind.RECURRING, 5, 39450, date(2027, 2, 10), date(2027, 3, 10))]


def test_billing_starts_on_the_confirmation_when_it_comes_after_the_first_payment(app_ctx, slow_provider):
    organization, order = approve(billing_day=10)
    confirm(order, datetime(2027, 1, 8, 15, tzinfo=UTC))  # two days after the contracted start
    # 78,90 × 5 × 2 / 31 = 25,451… → 25,45, from 08/01 (the day the licences exist).
    assert lines(organization, date(2027, 1, 10)) == [
        (LineKind.RECURRING, 5, 39450, date(2027, 1, 10), date(2027, 2, 10)),
        (LineKind.PRORATA, 5, 2545, date(2027, 1, 8), date(2027, 1, 10)),
    ]


def test_a_first_payment_on_the_billing_day_is_a_whole_month_and_no_pro_rata(app_ctx, slow_provider):
    organization, order = approve(billing_day=6)
    assert lines(organization, date(2026, 12, 6)) == []
    confirm(order, datetime(2026, 12, 7, 15, tzinfo=UTC))
    assert lines(organization, date(2026, 12, 6)) == []  # re-running the approval's billing day: before the start
    assert lines(organization, date(2027, 1, 6)) == [
        (LineKind.RECURRING, 5, 39450, date(2027, 1, 6), date(2027, 2, 6))]


def test_a_failed_order_is_never_billed(app_ctx, slow_provider):
    organization, order = approve(billing_day=10)
    order = db.session.get(Order, order.id)
    order.status = OrderStatus.FAILED
    order.needs_staff = True
    db.session.commit()
    assert lines(organization, date(2027, 1, 10)) == []
    assert lines(organization, date(2027, 2, 10)) == []
    assert db.session.scalar(select(Invoice.id).where(Invoice.organization_id == organization.id)) is None
