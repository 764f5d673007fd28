"""The home's read model: the next invoice's estimate is what the billing run then issues, overdue detection, the 12
months of spend add up to the invoices, licences by family, changes, orders, renewals, tickets."""

from datetime import UTC, date, datetime, timedelta

import pytest

from portal.billing.models import CreditEntry, InvoiceLine, InvoiceStatus, LineKind
from portal.billing.run import invoice_organization
from portal.billing.settings import BillingSettings
from portal.catalog.models import BillingFrequency, Term
from portal.extensions import db
from portal.home import presenters, service
from portal.shared import clock
from portal.shared.audit import Actor
from portal.subscriptions import service as subscriptions
from portal.subscriptions.models import Order, OrderKind, OrderStatus
from portal.support.models import TicketStatus
from tests import factories

SYSTEM = Actor.system("tests")
TODAY = date(2026, 6, 15)


def at(day: date, hour: int = 15) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


@pytest.fixture(autouse=True)
def documents_elsewhere(monkeypatch):
    """The invoices alone: their PDFs, nota fiscal and e-mail are not what is read here."""
    import portal.billing.run as billing

    monkeypatch.setattr(billing, "_queue_documents", lambda invoice: None)


@pytest.fixture
def settings(app_ctx):
    return BillingSettings.from_config(app_ctx.config)


@pytest.fixture
def demo(app_ctx, world):
    world.demo.billing_day = 10
    world.demo.microsoft_tenant_id = "tenant-demo"
    db.session.commit()
    return world.demo


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


# ---------------------------------------------------------------- what we pay

def test_the_next_invoice_estimate_is_what_the_billing_run_then_issues(demo, world, settings):
    """Recurring lines, a pró-rata of an increase not invoiced yet and credit already known: the estimate shown on
    June 15 is, centavo for centavo, the invoice the run issues on July 10."""
    with clock.frozen(at(date(2026, 6, 12))):
        subscription = factories.subscription(demo, quantity=10, added_at=at(date(2026, 1, 2)))
        change(world, subscription, 13)  # +3 on June 12: pró-rata to July 10
    db.session.add(CreditEntry(organization_id=demo.id, amount_cents=2500, description="Crédito de teste"))
    db.session.commit()
    with clock.frozen(at(TODAY)):
        assert service.next_billing_date(demo, TODAY) == date(2026, 7, 10)
        estimate = service.next_invoice(demo, TODAY)
    assert estimate.billing_date == date(2026, 7, 10)
    assert any(line.kind == LineKind.PRORATA for line in estimate.lines) and estimate.credit_cents == 2500
    invoice = issue(demo, date(2026, 7, 10), settings)
    assert (estimate.subtotal_cents, estimate.credit_cents, estimate.total_cents) == (
        invoice.subtotal_cents, invoice.credit_applied_cents, invoice.total_cents)


def test_the_next_billing_date_is_today_until_todays_invoice_is_issued(demo, settings):
    factories.subscription(demo, quantity=2, added_at=at(date(2026, 1, 2)))
    db.session.commit()
    assert service.next_billing_date(demo, date(2026, 6, 10)) == date(2026, 6, 10)
    issue(demo, date(2026, 6, 10), settings)
    assert service.next_billing_date(demo, date(2026, 6, 10)) == date(2026, 7, 10)
    assert service.next_billing_date(demo, date(2026, 6, 9)) == date(2026, 6, 10)


def test_recurring_totals_keep_annual_billing_apart(demo):
    monthly = factories.ProductFactory(price=7890)
    annual = factories.ProductFactory(price=94680, billing_frequency=BillingFrequency.ANNUAL)
    cancelled = factories.ProductFactory(price=1000)
    factories.subscription(demo, monthly, quantity=10)
    factories.subscription(demo, annual, quantity=3)
    factories.subscription(demo, cancelled, quantity=5, status="cancelled")
    db.session.commit()
    totals = service.recurring_totals(service.licence_rows(demo))
    assert totals.monthly_cents == 10 * 7890
    assert totals.annual_cents == 3 * 94680
    assert totals.annual_monthly_cents == 3 * 94680 // 12  # 23670: twelfths, exact here
    assert totals.monthly_equivalent_cents == 10 * 7890 + 23670


def test_open_invoices_overdue_first_with_their_pix(demo):
    paid = factories.invoice(demo, billing_date=TODAY - timedelta(days=70), due_date=TODAY - timedelta(days=60),
                             status=InvoiceStatus.PAID)
    overdue = factories.invoice(demo, billing_date=TODAY - timedelta(days=40), due_date=TODAY - timedelta(days=1))
    due_today = factories.invoice(demo, billing_date=TODAY - timedelta(days=10), due_date=TODAY)
    other = factories.invoice(factories.OrganizationFactory(), billing_date=TODAY, due_date=TODAY)
    rows, count = service.open_invoices(demo.id, TODAY)
    assert [row.id for row in rows] == [overdue.id, due_today.id] and count == 2
    assert [row.overdue for row in rows] == [True, False]  # due today is not overdue yet
    assert rows[1].pix_payload == due_today.boletos[0].pix_payload and rows[1].boleto_id == due_today.boletos[0].id
    assert paid.id not in [row.id for row in rows] and other.id not in [row.id for row in rows]


# ---------------------------------------------------------------- what we spent

def test_twelve_months_of_spend_by_family_add_up_to_the_invoices(demo, world, settings):
    """Invoices issued by the run over 14 months, two families, a credit applied, a cancelled invoice: each month's
    families plus its adjustments are its invoices' total, and the 12 months only are counted."""
    office = factories.ProductFactory(price=7890)
    security = factories.ProductFactory(price=1800)
    factories.subscription(demo, office, quantity=10, added_at=at(date(2025, 3, 2)))
    factories.subscription(demo, security, quantity=4, added_at=at(date(2025, 9, 2)))
    db.session.commit()
    issued = []
    for month in range(14):  # April 2025 … May 2026, then June 10, 2026
        day = date(2025 + (3 + month) // 12, (3 + month) % 12 + 1, 10)
        if month == 5:
            db.session.add(CreditEntry(organization_id=demo.id, amount_cents=1234, description="Crédito"))
            db.session.commit()
        issued.append(issue(demo, day, settings))
    issued.append(issue(demo, date(2026, 6, 10), settings))
    cancelled = issued[-2]  # May 2026: cancelled, does not count
    cancelled.status = InvoiceStatus.CANCELLED
    db.session.commit()

    spend = service.spend_last_12_months(demo.id, TODAY)
    assert spend.months[0] == date(2025, 7, 1) and spend.months[-1] == date(2026, 6, 1) and len(spend.months) == 12
    assert spend.families == (office.family.name, security.family.name)
    counted = [i for i in issued if i.billing_date >= date(2025, 7, 1) and i.status != InvoiceStatus.CANCELLED]
    assert spend.total_cents == sum(i.total_cents for i in counted)
    for m, month in enumerate(spend.months):
        in_month = [i for i in counted if i.billing_date.replace(day=1) == month]
        assert spend.totals[m] == sum(i.total_cents for i in in_month)
        assert sum(values[m] for values in spend.by_family) + spend.adjustments[m] == spend.totals[m]
    assert spend.by_family[0][0] == 10 * 7890 and spend.by_family[1][0] == 0  # July 2025: office only
    assert spend.by_family[1][3] == 4 * 1800  # October 2025: security too
    september = spend.months.index(date(2025, 9, 1))
    assert spend.adjustments[september] == -1234  # the credit applied that month
    assert spend.totals[spend.months.index(date(2026, 5, 1))] == 0  # cancelled


def test_spend_lines_without_a_subscription_are_adjustments(demo):
    invoice = factories.invoice(demo, billing_date=TODAY, lines=[(LineKind.RECURRING, 2, 5000)])
    db.session.add(InvoiceLine(invoice_id=invoice.id, position=2, kind=LineKind.ADJUSTMENT, description="Desconto",
                               quantity=1, unit_price_cents=-1000, amount_cents=-1000))
    invoice.total_cents -= 1000
    db.session.commit()
    spend = service.spend_last_12_months(demo.id, TODAY)
    assert spend.families == () and spend.totals[-1] == 9000 and spend.adjustments[-1] == 9000


# ---------------------------------------------------------------- licences, orders, renewals, tickets

def test_licences_by_family_leave_cancelled_subscriptions_out(demo):
    office = factories.ProductFactory()
    factories.subscription(demo, office, quantity=10)
    factories.subscription(demo, factories.ProductFactory(family=office.family), quantity=5)
    security = factories.ProductFactory()
    factories.subscription(demo, security, quantity=3)
    factories.subscription(demo, security, quantity=7, status="cancelled")
    db.session.commit()
    found = service.licences_by_family(service.licence_rows(demo))
    assert [(f.family, f.licences, f.subscriptions) for f in found] == [
        (office.family.name, 15, 2), (security.family.name, 3, 1)]


def test_recent_changes_and_unfinished_orders(demo, world):
    with clock.frozen(at(date(2026, 6, 12))):
        subscription = factories.subscription(demo, quantity=10, added_at=at(date(2026, 1, 2)))
        change(world, subscription, 12)
        db.session.add_all([
            Order(organization_id=demo.id, kind=OrderKind.QUANTITY_CHANGE, subscription_id=subscription.id, quantity=9,
                  status=OrderStatus.FAILED, correlation_id="00000000-0000-4000-8000-00000000000f"),
            Order(organization_id=demo.id, kind=OrderKind.QUANTITY_CHANGE, subscription_id=subscription.id, quantity=8,
                  status=OrderStatus.DONE, correlation_id="00000000-0000-4000-8000-00000000000d"),
        ])
        db.session.commit()
    changes = service.recent_changes(demo.id, at(TODAY) - timedelta(days=30))
    assert [(c.kind, c.delta, c.quantity_after) for c in changes] == [("increase", 2, 12)]  # the initial is older
    orders = service.unfinished_orders(demo.id)
    assert [o.status for o in orders][0] == OrderStatus.FAILED
    assert OrderStatus.DONE not in [o.status for o in orders]
    assert {o.product_name for o in orders} == {subscription.product.name}


def test_the_home_lists_renewals_of_terms_of_a_year_or_more_within_60_days(demo):
    annual = factories.ProductFactory(price=7890)
    monthly_term = factories.ProductFactory(price=2500, term=Term.MONTHLY)
    triennial = factories.ProductFactory(price=10000, term=Term.TRIENNIAL)
    soon = factories.subscription(demo, annual, quantity=10, term_start=date(2025, 7, 20), renewal_quantity=8)
    factories.subscription(demo, monthly_term, quantity=4, term_start=date(2026, 6, 1))  # renews July 1: noise
    later = factories.subscription(demo, annual, quantity=2, term_start=date(2025, 9, 1))  # 78 days away
    factories.subscription(demo, triennial, quantity=5, term_start=date(2023, 8, 1))  # August 1, 2026
    db.session.add(factories.ProductPrice(product=annual, unit_price_cents=8200, effective_from=date(2026, 7, 1)))
    db.session.commit()
    with clock.frozen(at(TODAY)):
        renewals = presenters.licences_card(demo, TODAY, at(TODAY)).renewals  # "Renovações"' rows, 60 days
        assert [(r.product_name, r.renews_on, r.renewal_quantity, r.value_cents) for r in renewals] == [
            (annual.name, date(2026, 7, 20), 8, 8 * 8200),  # the scheduled quantity, at the price in force that day
            (triennial.name, date(2026, 8, 1), 5, 5 * 10000),
        ]
    assert renewals[0].subscription_id == soon.id
    assert later.id not in [r.subscription_id for r in renewals]


def test_open_tickets_leave_resolved_ones_out(demo, world):
    opened = factories.ticket(demo, world.suporte, subject="Aberto", created_at=at(TODAY) - timedelta(hours=5))
    factories.ticket(demo, world.suporte, subject="Resolvido", status=TicketStatus.RESOLVED)
    factories.ticket(world.other, world.other_master, subject="De outra organização")
    tickets, count = service.open_tickets(demo.id)
    assert [t.id for t in tickets] == [opened.id] and count == 1
