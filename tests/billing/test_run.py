"""The billing run: what an invoice holds (E12 end to end), idempotency, concurrent runs, gapless numbers, credits."""

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from portal.billing import boleto as boleto_codes
from portal.billing import pix
from portal.billing.models import CreditEntry, Invoice, InvoiceLine, InvoiceSeries, InvoiceStatus
from portal.billing.run import invoice_organization, run_billing
from portal.billing.service import credit_balance
from portal.billing.settings import BillingSettings
from portal.catalog import cart
from portal.extensions import db
from portal.shared import clock
from portal.shared.audit import Actor, AuditEvent, AuditTag
from portal.shared.periods import is_billing_day
from portal.subscriptions import service as subscriptions
from tests import factories

SYSTEM = Actor.system("tests")
JANUARY = datetime(2026, 1, 5, 12, tzinfo=UTC)  # when most test subscriptions were bought


@pytest.fixture(autouse=True)
def documents_elsewhere(monkeypatch):
    """The run alone: each issued invoice's PDFs, nota fiscal and e-mail are tested in their own files."""
    import portal.billing.run as billing

    queued = []
    monkeypatch.setattr(billing, "_queue_documents", lambda invoice: queued.append(invoice.id))
    return queued


@pytest.fixture
def settings(app_ctx):
    return BillingSettings.from_config(app_ctx.config)


@pytest.fixture
def demo(app_ctx, world):
    world.demo.billing_day = 1
    world.demo.microsoft_tenant_id = "tenant-demo"
    db.session.commit()
    return world.demo


def at(day: date, hour: int = 15) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def change(world, subscription, quantity):
    actor = Actor.for_user(world.adm)
    quote = subscriptions.quote_quantity_change(organization=world.demo, subscription=subscription,
                                                new_quantity=quantity, actor=actor)
    subscriptions.confirm_quote(organization=world.demo, token=quote.token, actor=actor)


def issue(organization, day: date, settings) -> Invoice:
    with clock.frozen(at(day, 9)):
        issued = invoice_organization(organization.id, on=day, settings=settings, actor=SYSTEM)
    db.session.expire_all()
    return issued.invoice


def lines(invoice) -> list[tuple[str, int, int, int]]:
    return [(line.kind, line.quantity, line.unit_price_cents, line.amount_cents) for line in invoice.lines]


# ---------------------------------------------------------------- what an invoice holds

def test_e12_the_april_invoice_after_e1_and_e3(demo, world, settings):
    with clock.frozen(at(date(2026, 3, 11))):
        subscription = factories.subscription(demo, quantity=10, added_at=at(date(2026, 1, 1)))
        change(world, subscription, 13)  # E1: +3 on 03-11 → R$ 160,35
        clock.advance(timedelta(days=4))
        change(world, subscription, 11)  # E3: −2 of that lot on 03-15 → credit R$ 86,54
    invoice = issue(demo, date(2026, 4, 1), settings)
    assert lines(invoice) == [
        ("recurring", 11, 7890, 86790),  # 11 licenses, in advance, for April
        ("prorata", 3, 7890, 16035),  # the +3 of March 11 → 31
        ("credit", 1, -8654, -8654),  # the −2 of March 15, from the credit ledger
    ]
    assert (invoice.subtotal_cents, invoice.credit_applied_cents, invoice.total_cents) == (102825, 8654, 94171)
    assert (invoice.period_start, invoice.period_end) == (date(2026, 4, 1), date(2026, 5, 1))
    recurring, prorata, _credit = invoice.lines
    assert (prorata.period_start, prorata.period_end) == (date(2026, 3, 11), date(2026, 4, 1))
    assert (recurring.period_start, recurring.period_end) == (date(2026, 4, 1), date(2026, 5, 1))
    assert credit_balance(demo.id) == 0


def test_the_invoice_carries_its_boleto_and_pix(demo, settings):
    factories.subscription(demo, quantity=2, added_at=at(date(2026, 1, 1)))
    invoice = issue(demo, date(2026, 4, 1), settings)
    assert invoice.display_number == "2026/000001" and invoice.status == InvoiceStatus.OPEN
    assert invoice.due_date == date(2026, 4, 13)  # April 11 + 10 days is a Saturday → Monday the 13th
    [boleto] = invoice.boletos
    assert (boleto.amount_cents, boleto.due_date, boleto.sequence) == (2 * 7890, invoice.due_date, 1)
    assert boleto_codes.barcode_from_digitable_line(boleto.digitable_line) == boleto.barcode
    assert boleto.barcode[9:19] == f"{2 * 7890:010d}"
    assert boleto_codes.due_date(boleto.barcode[5:9], date(2026, 4, 1)) == invoice.due_date
    assert pix.crc_ok(boleto.pix_payload) and pix.parse_payload(boleto.pix_payload)["54"] == "157.80"
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.tag == AuditTag.INVOICE_ISSUED))
    assert event.after["number"] == "2026/000001" and event.after["total_cents"] == 15780


def test_a_first_invoice_charges_the_contracted_quantity_and_the_prorata(demo, world, settings):
    product = factories.ProductFactory()
    with clock.frozen(at(date(2026, 3, 11))):
        cart.set_cart_quantity(organization=demo, user=world.adm, product_id=product.id, quantity=3)
        quote = subscriptions.quote_checkout(organization=demo, user=world.adm, actor=Actor.for_user(world.adm))
        subscriptions.confirm_quote(organization=demo, token=quote.token, actor=Actor.for_user(world.adm))
    invoice = issue(demo, date(2026, 4, 1), settings)
    assert lines(invoice) == [("recurring", 3, 7890, 23670), ("prorata", 3, 7890, 16035)]
    assert invoice.total_cents == 39705


def test_a_purchase_on_the_billing_day_is_not_charged_twice(demo, world, settings):
    product = factories.ProductFactory()
    with clock.frozen(at(date(2026, 4, 1), 8)):
        cart.set_cart_quantity(organization=demo, user=world.adm, product_id=product.id, quantity=2)
        quote = subscriptions.quote_checkout(organization=demo, user=world.adm, actor=Actor.for_user(world.adm))
        subscriptions.confirm_quote(organization=demo, token=quote.token, actor=Actor.for_user(world.adm))
    invoice = issue(demo, date(2026, 4, 1), settings)
    assert lines(invoice) == [("prorata", 2, 7890, 15780)]  # D == S: the whole month, once


def test_annual_billing_is_invoiced_when_the_year_renews(demo, settings):
    product = factories.ProductFactory(billing_frequency="annual", price=94680)
    subscription = factories.subscription(demo, product=product, quantity=2, added_at=at(date(2025, 4, 1)))
    db.session.commit()
    assert issue(demo, date(2026, 3, 1), settings) is None  # nothing monthly to bill, no renewal yet
    subscriptions.renew_due(today=date(2026, 4, 1), actor=SYSTEM)
    invoice = issue(demo, date(2026, 4, 1), settings)
    assert lines(invoice) == [("recurring", 2, 94680, 189360)]
    [line] = invoice.lines
    assert (line.period_start, line.period_end, line.subscription_id) == (date(2026, 4, 1), date(2027, 4, 1),
                                                                          subscription.id)
    assert issue(demo, date(2026, 5, 1), settings) is None  # the year was paid in advance


def test_credit_never_makes_a_negative_invoice(demo, settings):
    # E11: a credit of R$ 4.695,09 against an invoice of R$ 1.500,00 pays it whole; R$ 3.195,09 is carried.
    factories.subscription(demo, product=factories.ProductFactory(price=150000), quantity=1,
                           added_at=at(date(2026, 1, 1)))
    db.session.add(CreditEntry(organization_id=demo.id, amount_cents=469509, description="E11"))
    db.session.commit()
    invoice = issue(demo, date(2026, 4, 1), settings)
    assert (invoice.subtotal_cents, invoice.credit_applied_cents, invoice.total_cents) == (150000, 150000, 0)
    assert invoice.status == InvoiceStatus.PAID and invoice.boletos == []
    assert credit_balance(demo.id) == 319509


def test_an_organization_with_nothing_to_bill_gets_no_invoice(demo, settings):
    assert issue(demo, date(2026, 4, 1), settings) is None
    assert db.session.scalar(select(func.count(Invoice.id))) == 0


@pytest.mark.parametrize(("billing_day", "on", "due"), [
    (31, date(2026, 2, 28), True), (31, date(2026, 2, 27), False), (30, date(2026, 4, 30), True),
    (15, date(2026, 4, 15), True), (1, date(2026, 4, 2), False),
])
def test_billing_days_clamp_to_the_end_of_short_months(billing_day, on, due):
    assert is_billing_day(billing_day, on) is due


# ---------------------------------------------------------------- idempotency, numbering

def test_running_twice_issues_once(demo, world, settings, documents_elsewhere):
    factories.subscription(demo, quantity=2, added_at=JANUARY)
    other = factories.OrganizationFactory(billing_day=1)
    factories.subscription(other, quantity=1, added_at=JANUARY)
    world.other.billing_day = 1
    db.session.commit()
    with clock.frozen(at(date(2026, 4, 1), 9)):
        first = run_billing(on=date(2026, 4, 1), settings=settings, actor=SYSTEM)
        second = run_billing(on=date(2026, 4, 1), settings=settings, actor=SYSTEM)
    assert (len(first.issued), first.existing, len(second.issued), second.existing) == (2, 0, 0, 2)
    assert documents_elsewhere == first.issued  # each invoice's documents were queued once
    assert first.nothing_to_bill == second.nothing_to_bill == 1  # Outra Empresa: no subscriptions
    numbers = sorted(db.session.scalars(select(Invoice.number)))
    assert numbers == [1, 2]
    assert db.session.get(InvoiceSeries, ("F", 2026)).last_number == 2


def test_numbers_restart_each_year_and_stay_gapless(demo, settings):
    factories.subscription(demo, quantity=1, added_at=JANUARY)
    issue(demo, date(2026, 12, 1), settings)
    issue(demo, date(2027, 1, 1), settings)
    issue(demo, date(2027, 2, 1), settings)
    assert sorted(i.display_number for i in db.session.scalars(select(Invoice))) == [
        "2026/000001", "2027/000001", "2027/000002"]


def test_one_organizations_failure_does_not_stop_the_run(demo, settings, monkeypatch):
    factories.subscription(demo, quantity=1, added_at=JANUARY)
    other = factories.OrganizationFactory(billing_day=1)
    factories.subscription(other, quantity=1, added_at=JANUARY)
    db.session.commit()
    import portal.billing.run as billing

    real = billing.draft_invoice

    def broken_for_demo(organization, on):
        if organization.id == demo.id:
            raise RuntimeError("dados inconsistentes")
        return real(organization, on)

    monkeypatch.setattr(billing, "draft_invoice", broken_for_demo)
    with clock.frozen(at(date(2026, 4, 1), 9)):
        result = run_billing(on=date(2026, 4, 1), settings=settings, actor=SYSTEM)
    assert result.failed == [(demo.id, "RuntimeError: dados inconsistentes")] and len(result.issued) == 1
    monkeypatch.setattr(billing, "draft_invoice", real)
    with clock.frozen(at(date(2026, 4, 1), 10)):
        again = run_billing(on=date(2026, 4, 1), settings=settings, actor=SYSTEM)
    assert (len(again.issued), again.existing, again.failed) == (1, 1, [])  # recovered by running again
    assert sorted(db.session.scalars(select(Invoice.number))) == [1, 2]


def test_concurrent_runs_issue_each_invoice_once_with_gapless_numbers(make_app, engine_name):
    app = make_app(engine_name)
    with app.app_context():
        for _ in range(6):
            organization = factories.OrganizationFactory(billing_day=1)
            factories.subscription(organization, quantity=2, added_at=at(date(2026, 1, 1)))
        db.session.commit()
        settings = BillingSettings.from_config(app.config)
    results, errors = [], []
    start = threading.Barrier(3, timeout=30)

    def run():
        try:
            with app.app_context():
                start.wait()
                results.append(run_billing(on=date(2026, 4, 1), settings=settings, actor=SYSTEM))
        except BaseException as exc:  # reported below
            errors.append(exc)

    with clock.frozen(at(date(2026, 4, 1), 9)):
        threads = [threading.Thread(target=run) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not errors and all(not r.failed for r in results)
    assert sum(len(r.issued) for r in results) == 6
    with app.app_context():
        assert sorted(db.session.scalars(select(Invoice.number))) == [1, 2, 3, 4, 5, 6]
        assert db.session.scalar(select(func.count(InvoiceLine.id))) == 6


def test_billing_run_command(make_app, engine_name):
    app = make_app(engine_name)
    with app.app_context():
        factories.subscription(factories.OrganizationFactory(billing_day=1), quantity=2, added_at=JANUARY)
        db.session.commit()
    runner = app.test_cli_runner()
    with clock.frozen(at(date(2026, 4, 1), 9)):
        first = runner.invoke(args=["billing", "run", "--date", "2026-04-01"])
        second = runner.invoke(args=["billing", "run", "--date", "2026-04-01"])
    assert first.exit_code == 0, first.output
    assert "1 organization(s)" in first.output and "issued 1, already issued 0" in first.output
    assert "issued 0, already issued 1" in second.output
    wrong = runner.invoke(args=["billing", "run", "--date", "01/04/2026"])
    assert wrong.exit_code == 2 and "'%Y-%m-%d'" in wrong.output
