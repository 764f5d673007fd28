"""Budgets: the month's spend and forecast are the month's invoices plus the billing run's own drafts, the budgets
the Master sets (and their audit event), and the card's numbers."""

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from portal.billing.corrections import issue_credit_note
from portal.billing.lines import draft_invoice
from portal.billing.run import invoice_organization
from portal.billing.settings import BillingSettings
from portal.budgets import service as budgets
from portal.budgets.models import Budget
from portal.extensions import db
from portal.shared import clock
from portal.shared.audit import Actor, AuditEvent, AuditTag
from portal.shared.errors import ServiceError
from portal.subscriptions import service as subscriptions
from portal.subscriptions.models import QuantityChange
from tests import factories

SYSTEM = Actor.system("tests")
BILLING_DAY = date(2026, 3, 20)  # the organization's billing day in March


def at(day: date, hour: int = 15) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


@pytest.fixture
def demo(app_ctx, world):
    world.demo.billing_day = 20
    world.demo.microsoft_tenant_id = "tenant-demo"
    db.session.commit()
    return world.demo


@pytest.fixture
def settings(app_ctx):
    return BillingSettings.from_config(app_ctx.config)


@pytest.fixture
def bought(demo):
    """Two families: 10 licences of a Microsoft 365 product and 4 of a Backup one, bought in January."""
    office = factories.ProductFactory(family=factories.ProductFamilyFactory(name="Microsoft 365"))
    backup = factories.ProductFactory(family=factories.ProductFamilyFactory(name="Backup em Nuvem"), price=5000)
    with clock.frozen(at(date(2026, 1, 5))):
        office_sub = factories.subscription(demo, product=office, quantity=10, added_at=at(date(2026, 1, 5)))
        backup_sub = factories.subscription(demo, product=backup, quantity=4, added_at=at(date(2026, 1, 5)))
    db.session.commit()
    return office_sub, backup_sub


def change(world, subscription, quantity):
    actor = Actor.for_user(world.adm)
    quote = subscriptions.quote_quantity_change(organization=world.demo, subscription=subscription,
                                                new_quantity=quantity, actor=actor)
    subscriptions.confirm_quote(organization=world.demo, token=quote.token, actor=actor)


def issue(organization, day: date, settings):
    with clock.frozen(at(day, 9)):
        issued = invoice_organization(organization.id, on=day, settings=settings, actor=SYSTEM)
    db.session.expire_all()
    return issued.invoice


def charge_of(subscription) -> int:
    """The pró-rata of the subscription's last ledger change (what its increase costs)."""
    return db.session.scalar(select(QuantityChange.charge_cents)
                             .where(QuantityChange.subscription_id == subscription.id)
                             .order_by(QuantityChange.id.desc()).limit(1))


def spend(organization, day: date) -> budgets.MonthSpend:
    with clock.frozen(at(day)):
        return budgets.month_spend(organization, day)


def families(organization):
    return {f.name: f.id for f in budgets.families(organization.id)}


# ---------------------------------------------------------------- what a month costs

def test_before_the_billing_day_spend_is_the_months_prorata_and_the_forecast_the_days_draft(demo, world, bought,
                                                                                           settings):
    office, backup = bought
    issue(demo, date(2026, 2, 20), settings)  # February's invoice: not March's spend
    with clock.frozen(at(date(2026, 3, 5))):
        change(world, office, 13)  # +3 on March 5: a pró-rata incurred in March, not invoiced yet
    prorata = charge_of(office)
    assert prorata > 0

    found = spend(demo, date(2026, 3, 12))

    with clock.frozen(at(date(2026, 3, 12))):
        draft = draft_invoice(demo, BILLING_DAY)
    assert found.month == date(2026, 3, 1)
    assert found.spend_cents == prorata
    assert found.forecast_cents == draft.total_cents == 13 * 7890 + 4 * 5000 + prorata  # the draft carries it once
    ids = families(demo)
    assert found.family_spend_cents == {ids["Microsoft 365"]: prorata}
    assert found.family_forecast_cents == {ids["Microsoft 365"]: 13 * 7890 + prorata, ids["Backup em Nuvem"]: 4 * 5000}


def test_after_the_billing_day_the_invoice_is_spent_and_the_forecast_adds_nothing_more(demo, world, bought,
                                                                                       settings):
    office, _backup = bought
    invoice = issue(demo, BILLING_DAY, settings)
    assert spend(demo, date(2026, 3, 25)).spend_cents == invoice.total_cents
    assert spend(demo, date(2026, 3, 25)).forecast_cents == invoice.total_cents

    with clock.frozen(at(date(2026, 3, 26))):
        change(world, office, 12)  # +2 after the billing day: incurred in March, invoiced in April
    later = spend(demo, date(2026, 3, 27))
    assert later.spend_cents == later.forecast_cents == invoice.total_cents + charge_of(office)
    # April starts from April's own invoices: nothing invoiced yet, the +2 not incurred in April.
    april = spend(demo, date(2026, 4, 2))
    with clock.frozen(at(date(2026, 4, 2))):
        assert april.spend_cents == 0 and april.forecast_cents == draft_invoice(demo, date(2026, 4, 20)).total_cents


def test_credit_notes_and_cancelled_invoices(demo, world, bought, settings):
    invoice = issue(demo, BILLING_DAY, settings)
    with clock.frozen(at(date(2026, 3, 22))):
        issue_credit_note(invoice, amount_cents=1000, reason="Desconto combinado", actor=SYSTEM)
    assert spend(demo, date(2026, 3, 23)).spend_cents == invoice.total_cents - 1000
    # Family spend counts the family's lines; the credit note belongs to the organization.
    ids = families(demo)
    assert spend(demo, date(2026, 3, 23)).family_spend_cents[ids["Backup em Nuvem"]] == 4 * 5000


def test_a_billing_day_not_issued_yet_is_still_forecast(demo, bought, settings):
    """The day has passed but its invoice is not issued (the run has not come, or finance reviews its draft)."""
    found = spend(demo, date(2026, 3, 21))
    with clock.frozen(at(date(2026, 3, 21))):
        assert found.forecast_cents == draft_invoice(demo, BILLING_DAY).total_cents
    assert found.spend_cents == 0


# ---------------------------------------------------------------- the budgets

def test_the_master_sets_and_removes_budgets(demo, world, bought):
    master = Actor.for_user(world.master)
    ids = families(demo)
    budgets.set_budgets(demo, total_cents=500_000, family_cents={ids["Microsoft 365"]: 300_000,
                                                                 ids["Backup em Nuvem"]: None}, actor=master)
    assert budgets.budgets_of(demo.id) == budgets.Budgets(500_000, {ids["Microsoft 365"]: 300_000})
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.tag == AuditTag.BUDGET_CHANGED))
    assert event.organization_id == demo.id and event.before is None
    assert event.after == {"total_cents": 500_000, "families": {"Microsoft 365": 300_000}}

    budgets.set_budgets(demo, total_cents=None, family_cents={}, actor=master)
    assert budgets.budgets_of(demo.id) == budgets.Budgets(None, {})
    assert db.session.scalars(select(Budget)).all() == []
    assert budgets.budget_status(demo, date(2026, 3, 12)) is None


def test_saving_the_same_budgets_records_nothing(demo, world):
    master = Actor.for_user(world.master)
    budgets.set_budgets(demo, total_cents=100_000, family_cents={}, actor=master)
    budgets.set_budgets(demo, total_cents=100_000, family_cents={}, actor=master)
    assert len(db.session.scalars(select(AuditEvent).where(AuditEvent.tag == AuditTag.BUDGET_CHANGED)).all()) == 1


@pytest.mark.parametrize(("total", "family", "field", "message"), [
    (0, None, "total", "maior que zero"),
    (1_000_000_001, None, "total", "no máximo"),
    (None, 10_000, "family", "Defina primeiro"),
    (10_000, 20_000, "family", "não pode passar"),
    (10_000, -5, "family", "maior que zero"),
])
def test_budgets_refused(demo, world, bought, total, family, field, message):
    family_id = families(demo)["Microsoft 365"]
    with pytest.raises(ServiceError) as refused:
        budgets.set_budgets(demo, total_cents=total, family_cents={family_id: family},
                            actor=Actor.for_user(world.master))
    assert refused.value.field == (f"family_{family_id}" if field == "family" else field)
    assert message in refused.value.message
    assert db.session.scalars(select(Budget)).all() == []


def test_the_status_against_the_budgets(demo, world, bought, settings):
    office, _backup = bought
    ids = families(demo)
    budgets.set_budgets(demo, total_cents=100_000, family_cents={ids["Microsoft 365"]: 50_000},
                        actor=Actor.for_user(world.master))
    with clock.frozen(at(date(2026, 3, 5))):
        change(world, office, 13)
    found = spend(demo, date(2026, 3, 12))
    status = budgets.budget_status(demo, date(2026, 3, 12))
    assert status.month == date(2026, 3, 1)
    assert (status.total.budget_cents, status.total.spend_cents, status.total.forecast_cents) == (
        100_000, found.spend_cents, found.forecast_cents)
    [family] = status.families
    assert (family.label, family.budget_cents, family.spend_cents, family.forecast_cents) == (
        "Microsoft 365", 50_000, found.family_spend_cents[ids["Microsoft 365"]],
        found.family_forecast_cents[ids["Microsoft 365"]])
    assert family.forecast_over and family.level == "warning"


def test_line_levels():
    line = budgets.BudgetLine(label="x", family_id=None, budget_cents=10_000, spend_cents=7_999, forecast_cents=9_000)
    assert (line.percent, line.level, line.crossed()) == (79, "ok", [])
    line = budgets.BudgetLine(label="x", family_id=None, budget_cents=10_000, spend_cents=8_000, forecast_cents=10_001)
    assert (line.percent, line.level, line.crossed()) == (80, "warning", ["forecast", "actual_80"])
    line = budgets.BudgetLine(label="x", family_id=None, budget_cents=10_000, spend_cents=12_000, forecast_cents=12_000)
    assert (line.percent, line.bar_value, line.level) == (120, 10_000, "over")
    assert line.crossed() == ["forecast", "actual_80", "actual_100"]
