"""Issue 13 point 4: the checkout review's "total deste pedido na fatura de …" is the billing run's own rule.

Each case buys through the real checkout (quote, review, confirm), has the provider confirm the order, then
runs the real billing with a frozen clock on the day the review named, and compares the review with the lines
the run wrote for that purchase: on the billing day before and after its run, before and after the billing day,
and across month ends (anchor 31 in February, a purchase on the last day of a month).
"""

from datetime import UTC, date, datetime, timedelta

import pytest
from flask import current_app
from sqlalchemy import select

from portal.billing.jobs import CATCH_UP_DAYS
from portal.billing.models import Invoice, InvoiceLine, LineKind
from portal.billing.run import billing_days_back, run_billing
from portal.billing.settings import BillingSettings
from portal.catalog import cart as carts
from portal.catalog import service
from portal.extensions import db
from portal.shared import clock
from portal.shared.audit import Actor
from portal.subscriptions import orders
from portal.subscriptions import service as subscriptions
from portal.subscriptions.models import Order, OrderStatus
from tests import factories
from tests.conftest import sign_in

SYSTEM = Actor.system("tests")
PRICE = 14400  # R$ 144,00 per license and month: the numbers


@pytest.fixture(autouse=True)
def documents_elsewhere(monkeypatch):
    """The run alone: the issued invoices' PDFs, nota fiscal and e-mail are not made here."""
    import portal.billing.run as billing

    monkeypatch.setattr(billing, "_queue_documents", lambda invoice: None)


@pytest.fixture
def product(app_ctx):
    return factories.ProductFactory(name="Microsoft 365 E3", sku="M365-E3", price=PRICE)


@pytest.fixture
def annual(app_ctx):
    from portal.catalog.models import BillingFrequency

    return factories.ProductFactory(name="Microsoft 365 E5 (cobrança anual)", sku="M365-E5-A", price=1200000,
                                    billing_frequency=BillingFrequency.ANNUAL)


def at(day: date, hour_utc: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour_utc, tzinfo=UTC)


def run(day: date) -> None:
    """The billing of `day` at 09:00 UTC (06:00 in São Paulo) that day."""
    morning(at(day, 9), [day])


def morning(moment: datetime, days) -> None:
    settings = BillingSettings.from_config(current_app.config)
    with clock.frozen(moment):
        for day in days:
            assert not run_billing(on=day, settings=settings, actor=SYSTEM).failed


def daily_runs(since: datetime, until: date) -> None:
    """Every daily job (today and its catch-up days) from the first 06:00 in São Paulo after `since` on, until
    the last one that can still issue the invoice of `until`."""
    moment = at(since.date(), 9)
    if moment < since:
        moment += timedelta(days=1)
    while moment.date() <= until + timedelta(days=CATCH_UP_DAYS):
        morning(moment, billing_days_back(moment.date(), CATCH_UP_DAYS))
        moment += timedelta(days=1)


def buy(world, product, quantity: int) -> tuple[service.CheckoutPreview, list[int], str]:
    """Review and confirm a purchase as the Adm does; its orders are done by the provider (or by staff)."""
    actor = Actor.for_user(world.adm)
    carts.set_cart_quantity(organization=world.demo, user=world.adm, product_id=product.id,
                            quantity=quantity)
    quote = subscriptions.quote_checkout(organization=world.demo, user=world.adm, actor=actor)
    preview = service.checkout_preview(world.demo, quote.token)
    subscriptions.confirm_quote(organization=world.demo, token=quote.token, actor=actor)
    bought = db.session.scalars(select(Order).where(Order.quote_id == quote.id)).all()
    for order in bought:  # the simulated provider usually has answered already (jobs run inline in tests)
        if order.status != OrderStatus.DONE:
            orders.complete_by_staff(order, actor=Actor.for_user(world.staff_suporte), note="provisionado no teste")
    return preview, [order.subscription_id for order in bought], quote.token


def invoiced(subscription_ids: list[int]) -> list[tuple[date, str, int]]:
    """(billing day, kind, amount) of every invoice line of these subscriptions."""
    return [tuple(row) for row in db.session.execute(
        select(Invoice.billing_date, InvoiceLine.kind, InvoiceLine.amount_cents)
        .join(Invoice, Invoice.id == InvoiceLine.invoice_id)
        .where(InvoiceLine.subscription_id.in_(subscription_ids))
        .order_by(Invoice.billing_date, InvoiceLine.position))]


def billing_day(world, day: int) -> None:
    world.demo.billing_day = day
    world.demo.microsoft_tenant_id = "tenant-demo"
    db.session.commit()


def check(world, product, *, anchor: int, bought_at: datetime, expected_day: date, expected: list[tuple[str, int]],
          run_first: bool = False, quantity: int = 1) -> service.CheckoutPreview:
    """Buy at `bought_at`, run every billing day up to the one the review names, and compare."""
    billing_day(world, anchor)
    bought_on = clock.to_business(bought_at).date()
    if run_first:  # the organization already had licenses, invoiced by that day's run before the purchase
        with clock.frozen(bought_at - timedelta(days=40)):
            factories.subscription(world.demo, factories.ProductFactory(price=1000), quantity=1)
            db.session.commit()
        run(bought_on)
    with clock.frozen(bought_at):
        preview, subscription_ids, token = buy(world, product, quantity)
    assert preview.next_invoice_date == expected_day
    daily_runs(bought_at, expected_day)  # every daily job from the purchase on: none before that day bills it
    lines = invoiced(subscription_ids)
    assert [(kind, amount) for _day, kind, amount in lines] == expected
    assert {billed_on for billed_on, _kind, _amount in lines} == {expected_day}
    assert preview.next_invoice_cents == sum(amount for _day, _kind, amount in lines)
    # Read back after the run, the confirmed review still says what the invoice says.
    with clock.frozen(at(expected_day, 20)):
        again = service.checkout_preview(world.demo, token)
    assert (again.next_invoice_date, again.next_invoice_cents) == (expected_day, preview.next_invoice_cents)
    return preview


def test_bought_on_the_billing_day_before_its_run_is_one_full_period_on_that_day(world, product):
    """The issue's case: the review said R$ 288,00 (144 + 144); the invoice of that day holds R$ 144,00."""
    preview = check(world, product, anchor=3, bought_at=at(date(2026, 12, 3), 8),  # 05:00 in São Paulo
                    expected_day=date(2026, 12, 3), expected=[(LineKind.PRORATA, 14400)])
    assert preview.charge_cents == 14400 and preview.next_invoice_cents == 14400
    assert preview.next_invoice_recurring_cents == 0 and preview.next_period_start == date(2027, 1, 3)


def test_bought_before_the_billing_day(world, product):
    """3 licenses 4 days before day 15: 144 × 3 × 4/30 = 57,60 of pró-rata, then December in advance."""
    preview = check(world, product, anchor=15, bought_at=at(date(2026, 12, 11), 15), quantity=3,
                    expected_day=date(2026, 12, 15),
                    expected=[(LineKind.RECURRING, 43200), (LineKind.PRORATA, 5760)])
    assert (preview.next_invoice_prorata_cents, preview.next_invoice_recurring_cents) == (5760, 43200)


@pytest.mark.parametrize(("anchor", "bought_at", "run_first", "expected_day", "expected"), [
    # On the billing day after its run (which invoiced the organization's other licenses): the next invoice,
    # with the whole period of pró-rata and the first month in advance.
    (3, at(date(2026, 12, 3), 15), True, date(2027, 1, 3), [(LineKind.RECURRING, 14400), (LineKind.PRORATA, 14400)]),
    # On the billing day after a run that found nothing: the next morning's catch-up issues that day's invoice.
    (3, at(date(2026, 12, 3), 15), False, date(2026, 12, 3), [(LineKind.PRORATA, 14400)]),
    # After the billing day (day 3, bought 12/05): 144 × 29/31 = 134,71 on the January invoice, with January.
    (3, at(date(2026, 12, 5), 15), False, date(2027, 1, 3), [(LineKind.RECURRING, 14400), (LineKind.PRORATA, 13471)]),
    # Across a month end: anchor 31 is 28 February in 2027; bought that day before the run, the whole 28/02–30/03.
    (31, at(date(2027, 2, 28), 8), False, date(2027, 2, 28), [(LineKind.PRORATA, 14400)]),
    # Across a month end: bought 31/12, billed on day 1: one day of 31 (4,65) and January in advance.
    (1, at(date(2026, 12, 31), 15), False, date(2027, 1, 1), [(LineKind.RECURRING, 14400), (LineKind.PRORATA, 465)]),
], ids=["billing-day-after-its-run", "billing-day-caught-up", "after-billing-day", "anchor-31-in-february",
        "last-day-of-the-month"])
def test_the_review_and_the_invoice_agree(world, product, anchor, bought_at, run_first, expected_day, expected):
    check(world, product, anchor=anchor, bought_at=bought_at, run_first=run_first, expected_day=expected_day,
          expected=expected)


def test_annual_billing_on_the_billing_day_is_the_first_year_only(world, annual):
    check(world, annual, anchor=3, bought_at=at(date(2026, 12, 3), 8),
          expected_day=date(2026, 12, 3), expected=[(LineKind.PRORATA, 1200000)])


def test_the_review_page_on_the_billing_day_says_the_invoice_total(world, product, client):
    billing_day(world, 3)
    with clock.frozen(at(date(2026, 12, 3), 8)):
        carts.set_cart_quantity(organization=world.demo, user=world.adm, product_id=product.id, quantity=1)
        sign_in(client, world.adm, world.demo)
        response = client.post("/carrinho/revisar")
        page = client.get(response.headers["Location"])
    body = " ".join(page.get_data(as_text=True).split())
    assert "Total deste pedido na fatura de 03/12/2026" in body
    assert "R$ 288,00" not in body and "primeira mensalidade de R$ 144,00" not in body
    assert ("R$ 144,00 <div class=\"small text-body-secondary\">só a pró-rata, que já cobre o período inteiro; "
            "a primeira mensalidade vem na fatura de 03/01/2027</div>") in body


def test_a_review_made_before_the_days_run_and_confirmed_after_it_asks_to_review_again(world, product, client):
    """The run issued the day's invoice between the review (R$ 144,00 on it) and the confirmation: confirming
    would put R$ 288,00 on the next one, so the portal asks for a new review instead of charging another number."""
    billing_day(world, 3)
    with clock.frozen(at(date(2026, 12, 3) - timedelta(days=40), 15)):
        factories.subscription(world.demo, factories.ProductFactory(price=1000), quantity=1)  # invoiced that day
        db.session.commit()
    actor = Actor.for_user(world.adm)
    with clock.frozen(at(date(2026, 12, 3), 8)):  # 05:00 in São Paulo
        carts.set_cart_quantity(organization=world.demo, user=world.adm, product_id=product.id, quantity=1)
        quote = subscriptions.quote_checkout(organization=world.demo, user=world.adm, actor=actor)
        assert service.checkout_preview(world.demo, quote.token).next_invoice_cents == 14400
    run(date(2026, 12, 3))
    with clock.frozen(at(date(2026, 12, 3), 13)):
        with pytest.raises(subscriptions.StaleQuote, match="A fatura de hoje foi emitida depois deste orçamento"):
            service.confirm_checkout(world.demo, quote.token, actor=actor)
        assert db.session.scalars(select(Order).where(Order.quote_id == quote.id)).all() == []
        sign_in(client, world.adm, world.demo)
        response = client.post(f"/carrinho/orcamento/{quote.token}/confirmar")
        assert response.headers["Location"] == "/carrinho"
        again = subscriptions.quote_checkout(organization=world.demo, user=world.adm, actor=actor)
        preview = service.checkout_preview(world.demo, again.token)
        assert (preview.next_invoice_date, preview.next_invoice_cents) == (date(2027, 1, 3), 28800)
        service.confirm_checkout(world.demo, again.token, actor=actor)  # the new review is confirmed as shown
    assert db.session.scalars(select(Order).where(Order.quote_id == again.id)).all() != []
