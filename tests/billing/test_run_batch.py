"""The billing run in batches: the same invoices as one by one, one message per batch, concurrent runs, failures."""

import threading
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import event, func, select

from portal.billing import boleto as boleto_codes
from portal.billing import jobs as billing_jobs
from portal.billing.boletos import free_field, nosso_numero
from portal.billing.lines import load_billing_facts
from portal.billing.models import Boleto, CreditEntry, Invoice, InvoiceLine, InvoiceStatus
from portal.billing.run import run_billing
from portal.billing.settings import BillingSettings
from portal.catalog import cart
from portal.extensions import db
from portal.shared import clock
from portal.shared.audit import Actor, AuditEvent, AuditTag, verify
from portal.subscriptions import service as subscriptions
from portal.subscriptions.models import LotDraw, Order, OrderKind, OrderStatus
from tests import factories

SYSTEM = Actor.system("tests")
JANUARY = datetime(2026, 1, 5, 12, tzinfo=UTC)


def at(day: date, hour: int = 9) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


@pytest.fixture
def queued(monkeypatch):
    """The documents jobs as they are enqueued after each commit (not run: PDFs are tested elsewhere)."""
    calls: list[tuple[str, object]] = []
    monkeypatch.setattr(billing_jobs, "complete_invoice", lambda invoice_id: calls.append(("one", invoice_id)))
    monkeypatch.setattr(billing_jobs, "complete_invoices", lambda ids: calls.append(("batch", list(ids))))
    return calls


# ---------------------------------------------------------------- the same invoices both ways

def _product(name: str, price: int, frequency: str = "monthly"):
    return factories.ProductFactory(name=name, price=price, billing_frequency=frequency)


def _change(organization, adm, subscription, quantity: int) -> None:
    actor = Actor.for_user(adm)
    quote = subscriptions.quote_quantity_change(organization=organization, subscription=subscription,
                                                new_quantity=quantity, actor=actor)
    subscriptions.confirm_quote(organization=organization, token=quote.token, actor=actor)


def _scenario(app, batch_size: int) -> dict:
    """A quarter of billing for a varied set of organizations; everything that was written, with stable keys."""
    settings = BillingSettings.from_config(app.config)
    runs = []
    with app.app_context():
        with clock.frozen(JANUARY):
            e3 = _product("Microsoft 365 E3", 7890)
            basic = _product("Microsoft 365 Business Basic", 2500)
            expensive = _product("Dynamics 365 Sales", 150000)
            annual = _product("Microsoft 365 E5 anual", 94680, frequency="annual")
            orgs = {name: factories.OrganizationFactory(legal_name=f"{name} Ltda", billing_day=day)
                    for name, day in [("mensal", 1), ("credito-maior", 1), ("vazia", 1), ("anual", 1),
                                      ("compra", 1), ("dia-31", 31), ("dia-28", 28), ("credito-menor", 1)]}
            adm = factories.MembershipFactory(organization=orgs["mensal"], roles=["adm"]).user
            buyer = factories.MembershipFactory(organization=orgs["compra"], roles=["adm"]).user
            e12 = factories.subscription(orgs["mensal"], product=e3, quantity=10, added_at=JANUARY)
            factories.subscription(orgs["mensal"], product=basic, quantity=4, added_at=JANUARY)
            factories.subscription(orgs["credito-maior"], product=expensive, quantity=1, added_at=JANUARY)
            db.session.add(CreditEntry(organization_id=orgs["credito-maior"].id, amount_cents=469509,
                                       description="E11"))
            factories.subscription(orgs["credito-menor"], product=basic, quantity=3, added_at=JANUARY)
            db.session.add(CreditEntry(organization_id=orgs["credito-menor"].id, amount_cents=1234,
                                       description="ajuste"))
            factories.subscription(orgs["anual"], product=annual, quantity=2,
                                   added_at=datetime(2025, 4, 1, 12, tzinfo=UTC))
            factories.subscription(orgs["anual"], product=basic, quantity=1, added_at=JANUARY)
            factories.subscription(orgs["dia-31"], product=e3, quantity=5, added_at=JANUARY)
            factories.subscription(orgs["dia-28"], product=basic, quantity=7, added_at=JANUARY)
            db.session.commit()

        def run(day: date) -> None:
            with clock.frozen(at(day)):
                result = run_billing(on=day, settings=settings, actor=SYSTEM, batch_size=batch_size)
            runs.append((day, len(result.issued), result.existing, result.nothing_to_bill, result.failed))

        run(date(2026, 2, 28))  # billing day 31 in February, with day 28
        run(date(2026, 3, 1))
        with clock.frozen(at(date(2026, 3, 11), 15)):
            _change(orgs["mensal"], adm, e12, 13)  # E1: +3 → R$ 160,35 on the next invoice
            cart.set_cart_quantity(organization=orgs["compra"], user=buyer, product_id=e3.id, quantity=3)
            quote = subscriptions.quote_checkout(organization=orgs["compra"], user=buyer, actor=Actor.for_user(buyer))
            confirmation = subscriptions.confirm_quote(organization=orgs["compra"], token=quote.token,
                                                       actor=Actor.for_user(buyer))
            for order in confirmation:  # Partner Center confirms the purchase (billing waits for it)
                order.status, order.completed_at = "done", clock.now()
            db.session.commit()
        with clock.frozen(at(date(2026, 3, 15), 15)):
            _change(orgs["mensal"], adm, e12, 11)  # E3: −2 in the window → credit R$ 86,54
        run(date(2026, 3, 31))
        with clock.frozen(at(date(2026, 4, 1), 3)):
            subscriptions.renew_due(today=date(2026, 4, 1), actor=SYSTEM)  # the annual term renews
        run(date(2026, 4, 1))
        run(date(2026, 4, 1))  # again: nothing new
        return {"runs": runs, **_snapshot(settings)}


def _snapshot(settings: BillingSettings) -> dict:
    invoices = db.session.scalars(select(Invoice).order_by(Invoice.series, Invoice.year, Invoice.number)).all()
    number_of = {invoice.id: invoice.display_number for invoice in invoices}
    snapshot = {"invoices": [], "credits": [], "audit": []}
    for invoice in invoices:
        boletos = []
        for found in invoice.boletos:
            # The nosso número is made of the invoice id; everything else must be the same.
            assert found.nosso_numero == nosso_numero(settings, invoice.id, found.sequence)
            assert found.barcode == boleto_codes.barcode(found.bank, found.amount_cents, found.due_date,
                                                         free_field(settings, found.nosso_numero))
            assert boleto_codes.barcode_from_digitable_line(found.digitable_line) == found.barcode
            boletos.append((found.sequence, found.bank, found.due_date, found.amount_cents, found.fine_cents,
                            found.interest_cents, found.pix_payload, found.registered, found.created_at,
                            found.barcode[:5] + found.barcode[5:19]))  # bank, currency, DV, fator, amount
        snapshot["invoices"].append({
            "organization": invoice.organization.legal_name, "number": invoice.display_number,
            "kind": invoice.kind, "status": invoice.status, "billing_date": invoice.billing_date,
            "period": (invoice.period_start, invoice.period_end), "due_date": invoice.due_date,
            "amounts": (invoice.subtotal_cents, invoice.credit_applied_cents, invoice.total_cents),
            "issued_at": invoice.issued_at, "paid_at": invoice.paid_at, "replaces": invoice.replaces_id,
            "lines": [(line.position, line.kind, line.description, line.quantity, line.unit_price_cents,
                       line.amount_cents, line.period_start, line.period_end, line.subscription_id, line.change_id)
                      for line in invoice.lines],
            "boletos": boletos,
        })
    for entry in db.session.scalars(select(CreditEntry).order_by(CreditEntry.id)):
        snapshot["credits"].append((entry.organization_id, entry.amount_cents, entry.description,
                                    number_of.get(entry.invoice_id), entry.created_at))
    for found in db.session.scalars(select(AuditEvent).where(AuditEvent.tag == AuditTag.INVOICE_ISSUED)
                                    .order_by(AuditEvent.seq)):
        invoice_id = int(found.subject.removeprefix("invoice:"))
        snapshot["audit"].append((found.organization_id, number_of[invoice_id], found.actor_label, found.after,
                                  found.created_at))
    assert verify().ok
    return snapshot


def test_batches_issue_the_same_invoices_as_one_by_one(make_app, engine_name, queued):
    one_by_one = _scenario(make_app(engine_name), batch_size=1)
    batched = _scenario(make_app(engine_name), batch_size=3)  # several batches per day, one of a single org
    assert batched["runs"] == one_by_one["runs"]
    assert batched["invoices"] == one_by_one["invoices"]
    assert batched["credits"] == one_by_one["credits"]
    assert batched["audit"] == one_by_one["audit"]
    # The scenario covers what it says it covers.
    assert [run[1:4] for run in one_by_one["runs"]] == [(2, 0, 0), (4, 0, 2), (1, 0, 0), (5, 0, 1), (0, 5, 1)]
    by_org = {}
    for invoice in one_by_one["invoices"]:
        by_org.setdefault(invoice["organization"], []).append(invoice)
    april = {name: invoices[-1] for name, invoices in by_org.items()}
    assert [line[1:6] for line in april["mensal Ltda"]["lines"]] == [
        ("recurring", "Microsoft 365 E3", 11, 7890, 86790), ("recurring", "Microsoft 365 Business Basic", 4, 2500,
                                                              10000),
        ("prorata", "Microsoft 365 E3", 3, 7890, 16035), ("credit", "credit", 1, -8654, -8654)]
    assert april["credito-maior Ltda"]["status"] == "paid" and april["credito-maior Ltda"]["boletos"] == []
    assert by_org["credito-maior Ltda"][0]["amounts"] == (150000, 150000, 0)
    assert by_org["credito-menor Ltda"][0]["amounts"] == (7500, 1234, 6266)
    renewal, monthly = april["anual Ltda"]["lines"]
    assert renewal[1:4] + renewal[6:8] == ("recurring", "Microsoft 365 E5 anual", 2, date(2026, 4, 1),
                                           date(2027, 4, 1))  # the year, in advance
    assert monthly[2] == "Microsoft 365 Business Basic" and by_org["anual Ltda"][0]["lines"] == [
        (1, "recurring", "Microsoft 365 Business Basic", 1, 2500, 2500, date(2026, 3, 1), date(2026, 4, 1),
         monthly[8], None)]  # March: only the monthly product
    assert [line[1] for line in april["compra Ltda"]["lines"]] == ["recurring", "prorata"]
    assert [i["billing_date"] for i in by_org["dia-31 Ltda"]] == [date(2026, 2, 28), date(2026, 3, 31)]
    assert by_org["dia-31 Ltda"][0]["period"] == (date(2026, 2, 28), date(2026, 3, 31))
    assert "vazia Ltda" not in by_org
    numbers = [invoice["number"] for invoice in one_by_one["invoices"]]
    assert numbers == [f"2026/{n:06d}" for n in range(1, 13)]


# ---------------------------------------------------------------- one message per batch, constant statements

def _organizations(count: int, *, quantity: int = 2) -> list[int]:
    ids = []
    for _ in range(count):
        organization = factories.OrganizationFactory(billing_day=1)
        factories.subscription(organization, quantity=quantity, added_at=JANUARY)
        ids.append(organization.id)
    db.session.commit()
    return ids


def test_each_batch_queues_one_documents_job(app_ctx, queued):
    settings = BillingSettings.from_config(app_ctx.config)
    _organizations(5)
    with clock.frozen(at(date(2026, 4, 1))):
        result = run_billing(on=date(2026, 4, 1), settings=settings, actor=SYSTEM, batch_size=2)
    first, second, third = result.issued[:2], result.issued[2:4], result.issued[4]
    assert queued == [("batch", first), ("batch", second), ("one", third)]  # a batch of one goes one by one


def test_the_documents_job_of_a_batch_fans_out_one_job_per_invoice(app_ctx, monkeypatch):
    calls = []
    monkeypatch.setattr(billing_jobs, "complete_invoice", calls.append)
    assert billing_jobs.complete_invoices.call_local([7, 8, 9]) == 3
    assert calls == [7, 8, 9]


def test_a_batch_runs_as_many_statements_for_3_as_for_30_organizations(app_ctx, queued):
    settings = BillingSettings.from_config(app_ctx.config)
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    def run(day: date) -> int:
        statements.clear()
        event.listen(db.engine, "before_cursor_execute", count)
        try:
            with clock.frozen(at(day)):
                result = run_billing(on=day, settings=settings, actor=SYSTEM, batch_size=100)
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        assert not result.failed
        return len(statements)

    _organizations(3)
    small = run(date(2026, 4, 1))
    _organizations(27)
    large = run(date(2026, 5, 1))
    assert large == small, (small, large)


# ---------------------------------------------------------------- failures and concurrency

def test_a_failure_inside_a_batch_leaves_the_others_issued(app_ctx, queued, monkeypatch):
    import portal.billing.run as billing

    settings = BillingSettings.from_config(app_ctx.config)
    ids = _organizations(5)
    bad = ids[2]
    real = billing.draft_invoice

    def broken(organization, on):
        if organization.id == bad:
            raise RuntimeError("dados inconsistentes")
        return real(organization, on)

    monkeypatch.setattr(billing, "draft_invoice", broken)
    with clock.frozen(at(date(2026, 4, 1))):
        result = run_billing(on=date(2026, 4, 1), settings=settings, actor=SYSTEM, batch_size=50)
    assert result.failed == [(bad, "RuntimeError: dados inconsistentes")] and len(result.issued) == 4
    issued = dict(db.session.execute(select(Invoice.organization_id, Invoice.number)).all())
    assert issued == {ids[0]: 1, ids[1]: 2, ids[3]: 3, ids[4]: 4}  # gapless, in organization order

    monkeypatch.setattr(billing, "draft_invoice", real)
    with clock.frozen(at(date(2026, 4, 1), 10)):
        again = run_billing(on=date(2026, 4, 1), settings=settings, actor=SYSTEM, batch_size=50)
    assert (len(again.issued), again.existing, again.failed) == (1, 4, [])
    assert db.session.scalar(select(Invoice.number).where(Invoice.organization_id == bad)) == 5
    assert verify().ok


def test_a_failure_while_writing_a_batch_rolls_it_back_and_redoes_it_one_by_one(app_ctx, queued, monkeypatch):
    # The numbers, invoices and audit events the batch had written are rolled back with it; redone one by one
    # the others are issued with the same gapless numbers, and the organization at fault is reported.
    import portal.billing.run as billing

    settings = BillingSettings.from_config(app_ctx.config)
    ids = _organizations(4)
    bad = ids[1]
    real = billing.boleto_values

    def broken(invoice, *args, **kwargs):
        if invoice.organization_id == bad:
            raise ValueError("convênio inválido")
        return real(invoice, *args, **kwargs)

    monkeypatch.setattr(billing, "boleto_values", broken)
    with clock.frozen(at(date(2026, 4, 1))):
        result = run_billing(on=date(2026, 4, 1), settings=settings, actor=SYSTEM, batch_size=50)
    assert result.failed == [(bad, "ValueError: convênio inválido")] and len(result.issued) == 3
    assert sorted(db.session.scalars(select(Invoice.number))) == [1, 2, 3]
    assert db.session.scalar(select(func.count(Boleto.id))) == 3
    assert db.session.scalar(select(func.count(AuditEvent.seq)).where(AuditEvent.tag == AuditTag.INVOICE_ISSUED)) == 3
    assert [q[0] for q in queued] == ["one", "one", "one"]  # the batch's own message went with its rollback
    assert verify().ok


@pytest.mark.parametrize("sizes", [(4, 4, 4), (4, 1, 7)], ids=["batched", "mixed"])
def test_concurrent_runs_issue_each_invoice_once_with_gapless_numbers(make_app, engine_name, sizes, monkeypatch):
    import portal.billing.run as billing

    monkeypatch.setattr(billing, "_queue_documents", lambda invoice: None)
    app = make_app(engine_name)
    with app.app_context():
        ids = _organizations(20)
        settings = BillingSettings.from_config(app.config)
    results, errors = [], []
    start = threading.Barrier(len(sizes), timeout=30)

    def run(batch_size: int) -> None:
        try:
            with app.app_context():
                start.wait()
                results.append(run_billing(on=date(2026, 4, 1), settings=settings, actor=SYSTEM,
                                           batch_size=batch_size))
        except BaseException as exc:  # reported below
            errors.append(exc)

    with clock.frozen(at(date(2026, 4, 1))):
        threads = [threading.Thread(target=run, args=(size,)) for size in sizes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not errors and all(not r.failed for r in results)
    assert sum(len(r.issued) for r in results) == 20
    assert all(len(r.issued) + r.existing == 20 for r in results)
    with app.app_context():
        rows = db.session.execute(select(Invoice.organization_id, Invoice.number)).all()
        assert sorted(org for org, _number in rows) == ids  # each organization once
        assert sorted(number for _org, number in rows) == list(range(1, 21))
        assert db.session.scalar(select(func.count(InvoiceLine.id))) == 20
        events = db.session.scalar(select(func.count(AuditEvent.seq)).where(AuditEvent.tag == AuditTag.INVOICE_ISSUED))
        assert events == 20 and verify().ok
        assert db.session.scalar(select(func.count(Invoice.id)).where(Invoice.status != InvoiceStatus.OPEN)) == 0


def test_the_same_billing_day_twice_in_a_row_finds_everything_issued(app_ctx, queued):
    settings = BillingSettings.from_config(app_ctx.config)
    _organizations(6)
    with clock.frozen(at(date(2026, 4, 1))):
        first = run_billing(on=date(2026, 4, 1), settings=settings, actor=SYSTEM, batch_size=4)
    with clock.frozen(at(date(2026, 4, 1)) + timedelta(hours=1)):
        second = run_billing(on=date(2026, 4, 1), settings=settings, actor=SYSTEM, batch_size=4)
    assert (len(first.issued), first.existing, len(second.issued), second.existing) == (6, 0, 0, 6)
    assert len(queued) == 2  # two batches, each queued once; the second run queued nothing


def test_the_facts_sum_up_each_subscriptions_purchase_orders_and_draws(app_ctx):
    """`load_billing_facts` reads a subscription's purchase orders and a lot's draws summed up in SQL: waiting while
    any purchase order is not done; with a billing start, no earlier than the last purchase done (business day)."""
    organization = factories.OrganizationFactory()
    subscription = factories.subscription(organization, quantity=10, added_at=JANUARY)
    subscription.billing_starts_on = date(2026, 1, 10)
    lot = subscription.lots[0]
    db.session.add_all([LotDraw(lot_id=lot.id, change_id=lot.change_id, quantity=2),
                        LotDraw(lot_id=lot.id, change_id=lot.change_id, quantity=3)])

    def purchase(status, completed_at):
        db.session.add(Order(organization_id=organization.id, kind=OrderKind.PURCHASE, status=status,
                             subscription_id=subscription.id, quantity=10, correlation_id=str(uuid.uuid4()),
                             created_at=JANUARY, completed_at=completed_at))
        db.session.flush()

    def facts():
        [found] = load_billing_facts([organization.id], date(2026, 2, 1))[organization.id].subscriptions
        return found

    purchase(OrderStatus.DONE, datetime(2026, 1, 12, 2, tzinfo=UTC))  # 11/01 23:00 in São Paulo
    assert (facts().unconfirmed, facts().starts_on) == (False, date(2026, 1, 11))
    assert [(lot.quantity, lot.drawn, lot.remaining) for lot in facts().lots] == [(10, 5, 5)]
    purchase(OrderStatus.SENT, None)  # a second purchase still with the provider: billing waits
    assert facts().unconfirmed is True
    purchase(OrderStatus.DONE, None)  # "done" without a completion is not confirmed either
    db.session.execute(Order.__table__.update().where(Order.status != OrderStatus.DONE)
                       .values(status=OrderStatus.DONE, completed_at=datetime(2026, 1, 20, 15, tzinfo=UTC)))
    assert facts().unconfirmed is True  # the one done without a completion
    db.session.execute(Order.__table__.update().where(Order.completed_at.is_(None))
                       .values(completed_at=datetime(2026, 1, 15, 15, tzinfo=UTC)))
    assert (facts().unconfirmed, facts().starts_on) == (False, date(2026, 1, 20))  # the last one done
    subscription.billing_starts_on = date(2026, 1, 25)
    db.session.flush()
    assert facts().starts_on == date(2026, 1, 25)  # the first payment after every confirmation
