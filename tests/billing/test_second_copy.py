"""The 2ª via: new due date, multa and juros de mora exact to the centavo, the new boleto, the history kept.

Settings as in config.py: multa 2% (200 bp), juros 1% a.m. (100 bp) pro rata die over a 30-day month, the
2ª via due 3 days after it is asked for (next business day). Juros run from the ORIGINAL due date to the NEW
due date. Every expected number below is worked out by hand in its comment.
"""

import threading
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select

from portal.billing import boleto as boleto_codes
from portal.billing import pix, second_copy
from portal.billing.models import Boleto, Invoice, InvoiceStatus, LineKind, Payment
from portal.billing.settings import BillingSettings
from portal.extensions import db
from portal.shared import clock
from portal.shared.audit import Actor, AuditEvent, AuditTag
from portal.shared.errors import ServiceError
from tests import factories


def on(day: date, hour: int = 15) -> datetime:
    """`day` at `hour` in São Paulo (UTC−3)."""
    return datetime(day.year, day.month, day.day, hour + 3, tzinfo=UTC)


@pytest.fixture
def actor(world):
    return Actor.for_user(world.cobranca, ip="127.0.0.1")


def invoice_of(world, cents: int, due: date) -> Invoice:
    """An open invoice of `cents` (one line) due on `due`, with its documents."""
    with clock.frozen(on(due.replace(day=1))):
        return factories.invoice(world.demo, with_documents=True, billing_date=due.replace(day=1), due_date=due,
                                 lines=[(LineKind.RECURRING, 1, cents)])


def boletos(invoice: Invoice) -> list[Boleto]:
    return list(db.session.scalars(select(Boleto).where(Boleto.invoice_id == invoice.id).order_by(Boleto.id)))


# ---------------------------------------------------------------- the amounts

@pytest.mark.parametrize(("cents", "due", "today", "new_due", "days", "fine", "interest", "total"), [
    # E12's R$ 941,71 due Tue 10/03, asked Fri 20/03: 20/03 + 3 = Mon 23/03 (business day) → 13 days late.
    # multa = 94 171 × 0,02 = 1 883,42 → 1 883; juros = 94 171 × 0,01 × 13/30 = 408,074… → 408.
    (94171, date(2026, 3, 10), date(2026, 3, 20), date(2026, 3, 23), 13, 1883, 408, 94171 + 1883 + 408),
    # Asked Thu 19/03: 19/03 + 3 = Sun 22/03 → Mon 23/03, again 13 days late.
    # multa = 12 345 × 0,02 = 246,9 → 247; juros = 12 345 × 0,01 × 13/30 = 53,495 exactly → 53 (below the half:
    # rounding the daily rate first, 4,115 → 4,12 × 13 = 53,56 → 54, would be wrong).
    (12345, date(2026, 3, 10), date(2026, 3, 19), date(2026, 3, 23), 13, 247, 53, 12345 + 247 + 53),
    # Exact halves round up: due Thu 05/03, asked Fri 06/03 → Mon 09/03, 4 days late.
    # multa = 1 125 × 0,02 = 22,5 → 23; juros = 1 125 × 0,01 × 4/30 = 1,5 → 2.
    (1125, date(2026, 3, 5), date(2026, 3, 6), date(2026, 3, 9), 4, 23, 2, 1150),
    # A large amount: R$ 1.234.567,89 due 10/03, asked Fri 10/04 (after Good Friday 03/04) → Mon 13/04, 34 days.
    # multa = 123 456 789 × 0,02 = 2 469 135,78 → 2 469 136;
    # juros = 123 456 789 × 34 / 3 000 = 4 197 530 826 / 3 000 = 1 399 176,942 → 1 399 177.
    (123456789, date(2026, 3, 10), date(2026, 4, 10), date(2026, 4, 13), 34, 2469136, 1399177, 127325102),
    # Asked on Saturday 18/04: 18/04 + 3 = Tue 21/04, Tiradentes (no bank) → Wed 22/04; due 10/04 → 12 days.
    # multa = 10 000 × 0,02 = 200; juros = 10 000 × 0,01 × 12/30 = 40.
    (10000, date(2026, 4, 10), date(2026, 4, 18), date(2026, 4, 22), 12, 200, 40, 10240),
])
def test_the_amounts_exact_to_the_centavo(app_ctx, world, billing_settings, cents, due, today, new_due, days, fine,
                                          interest, total):
    invoice = invoice_of(world, cents, due)
    quote = second_copy.quote(invoice, settings=billing_settings, today=today)
    assert (quote.base_cents, quote.original_due, quote.new_due, quote.days_late) == (cents, due, new_due, days)
    assert (quote.fine_cents, quote.interest_cents, quote.total_cents) == (fine, interest, total)


def test_multa_and_juros_are_charged_on_what_is_still_owed(app_ctx, world, billing_settings):
    invoice = invoice_of(world, 94171, date(2026, 3, 10))
    db.session.add(Payment(invoice_id=invoice.id, amount_cents=50000, method="deposito", paid_on=date(2026, 3, 12),
                           source="manual", created_at=clock.now()))
    db.session.commit()
    db.session.expire(invoice)
    quote = second_copy.quote(invoice, settings=billing_settings, today=date(2026, 3, 20))
    # Owed 94 171 − 50 000 = 44 171; multa 883,42 → 883; juros 44 171 × 13/3 000 = 191,407… → 191.
    assert (quote.base_cents, quote.fine_cents, quote.interest_cents, quote.total_cents) == (44171, 883, 191, 45245)


def test_other_rates_from_the_settings(app_ctx, world, billing_settings):
    invoice = invoice_of(world, 94171, date(2026, 3, 10))
    settings = replace(billing_settings, fine_bp=150, interest_monthly_bp=33, second_copy_days=5)
    quote = second_copy.quote(invoice, settings=settings, today=date(2026, 3, 20))
    # 20/03 + 5 = Wed 25/03 → 15 days late. multa = 94 171 × 0,015 = 1 412,565 → 1 413;
    # juros = 94 171 × 0,0033 × 15/30 = 94 171 × 33 × 15 / 300 000 = 155,382… → 155.
    assert (quote.new_due, quote.days_late, quote.fine_cents, quote.interest_cents) == (date(2026, 3, 25), 15, 1413,
                                                                                       155)


# ---------------------------------------------------------------- issuing

def test_issuing_adds_a_boleto_keeps_the_original_and_audits(app_ctx, world, billing_settings, actor):
    invoice = invoice_of(world, 94171, date(2026, 3, 10))
    [original] = boletos(invoice)
    with clock.frozen(on(date(2026, 3, 20))):
        issued = second_copy.issue(invoice, settings=billing_settings, today=clock.today(), actor=actor)
    assert issued.created
    db.session.expire_all()
    first, second = boletos(invoice)
    assert first.id == original.id and (first.sequence, first.amount_cents, first.due_date) == (
        1, 94171, date(2026, 3, 10))
    assert (second.sequence, second.due_date, second.amount_cents, second.fine_cents, second.interest_cents) == (
        2, date(2026, 3, 23), 96462, 1883, 408)
    # The barcode charges the new amount on the new due date; the Pix too.
    assert second.barcode[9:19] == "0000096462"
    assert boleto_codes.due_date(second.barcode[5:9], date(2026, 3, 20)) == date(2026, 3, 23)
    assert boleto_codes.barcode_from_digitable_line(second.digitable_line) == second.barcode
    assert pix.crc_ok(second.pix_payload) and pix.parse_payload(second.pix_payload)["54"] == "964.62"
    assert second.nosso_numero != first.nosso_numero
    assert second.pdf_sha256 is not None  # its PDF rendered right away
    invoice = db.session.get(Invoice, invoice.id)
    assert invoice.current_boleto.id == second.id and invoice.due_date == date(2026, 3, 10)  # the invoice is unchanged
    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.tag == AuditTag.SECOND_COPY_ISSUED)).all()
    assert event.actor_id == world.cobranca.id and event.organization_id == world.demo.id
    assert event.subject == f"invoice:{invoice.id}"
    assert event.before == {"boleto_sequence": 1, "due_date": "2026-03-10", "amount_cents": 94171}
    assert event.after == {"number": invoice.display_number, "boleto_sequence": 2, "nosso_numero": second.nosso_numero,
                           "due_date": "2026-03-23", "base_cents": 94171, "fine_cents": 1883, "interest_cents": 408,
                           "amount_cents": 96462, "days_late": 13}


def test_the_same_request_the_same_day_returns_the_same_2a_via(app_ctx, world, billing_settings, actor):
    invoice = invoice_of(world, 94171, date(2026, 3, 10))
    with clock.frozen(on(date(2026, 3, 20), 9)):
        first = second_copy.issue(invoice, settings=billing_settings, today=clock.today(), actor=actor)
    with clock.frozen(on(date(2026, 3, 20), 20)):
        again = second_copy.issue(invoice, settings=billing_settings, today=clock.today(), actor=actor,
                                  expected=(96462, date(2026, 3, 23)))
    assert first.created and not again.created and again.boleto.id == first.boleto.id
    assert len(boletos(invoice)) == 2
    assert db.session.scalar(select(func.count(AuditEvent.seq)).where(
        AuditEvent.tag == AuditTag.SECOND_COPY_ISSUED)) == 1


def test_a_later_2a_via_is_computed_from_the_original_due_date(app_ctx, world, billing_settings, actor):
    invoice = invoice_of(world, 94171, date(2026, 3, 10))
    with clock.frozen(on(date(2026, 3, 20))):
        second_copy.issue(invoice, settings=billing_settings, today=clock.today(), actor=actor)
    with clock.frozen(on(date(2026, 3, 24))):
        issued = second_copy.issue(invoice, settings=billing_settings, today=clock.today(), actor=actor)
    # Tue 24/03 + 3 = Fri 27/03 → 17 days after 10/03. multa 1 883 again (not multa on multa);
    # juros = 94 171 × 17/3 000 = 533,635… → 534.
    assert issued.created
    assert (issued.boleto.sequence, issued.boleto.due_date, issued.boleto.fine_cents, issued.boleto.interest_cents,
            issued.boleto.amount_cents) == (3, date(2026, 3, 27), 1883, 534, 94171 + 1883 + 534)
    assert len(boletos(invoice)) == 3


def test_changed_amounts_are_not_issued_unseen(app_ctx, world, billing_settings, actor):
    invoice = invoice_of(world, 94171, date(2026, 3, 10))
    with clock.frozen(on(date(2026, 3, 20))), pytest.raises(second_copy.ChangedSinceShown):
        # The page was opened on Tue 17/03 (17/03 + 3 = Fri 20/03, 10 days: juros 94 171 × 10/3 000 = 313,9 → 314,
        # R$ 963,68) and confirmed on Fri 20/03, when the 2ª via is due 23/03 for R$ 964,62.
        second_copy.issue(invoice, settings=billing_settings, today=clock.today(), actor=actor,
                          expected=(96368, date(2026, 3, 20)))
    assert len(boletos(invoice)) == 1


@pytest.mark.parametrize(("status", "due", "message"), [
    (InvoiceStatus.OPEN, date(2026, 3, 20),
     "Esta fatura ainda não venceu: use o boleto atual, que vence em 20/03/2026."),
    (InvoiceStatus.PAID, date(2026, 3, 10), "Esta fatura já está paga: não há 2ª via a emitir."),
    (InvoiceStatus.CANCELLED, date(2026, 3, 10), "Esta fatura foi cancelada: não há 2ª via a emitir."),
])
def test_refused_unless_open_and_overdue(app_ctx, world, billing_settings, actor, status, due, message):
    invoice = invoice_of(world, 94171, due)
    invoice.status = status
    db.session.commit()
    with app_ctx.test_request_context(), clock.frozen(on(date(2026, 3, 20))):
        with pytest.raises(ServiceError) as refused:
            second_copy.quote(invoice, settings=billing_settings, today=clock.today())
        assert refused.value.message == message
        with pytest.raises(ServiceError):
            second_copy.issue(invoice, settings=billing_settings, today=clock.today(), actor=actor)
    assert len(boletos(invoice)) == 1


def test_nothing_owed_means_no_2a_via(app_ctx, world, billing_settings, actor):
    invoice = invoice_of(world, 94171, date(2026, 3, 10))
    db.session.add(Payment(invoice_id=invoice.id, amount_cents=94171, method="pix", paid_on=date(2026, 3, 12),
                           source="manual", created_at=clock.now()))  # recorded, not yet marked paid
    db.session.commit()
    db.session.expire(invoice)
    with pytest.raises(ServiceError, match="Não há valor em aberto nesta fatura."):
        second_copy.quote(invoice, settings=billing_settings, today=date(2026, 3, 20))


def test_an_invoice_without_documents_still_gets_its_2a_via_pdf(app_ctx, world, billing_settings, actor):
    """The boleto PDF is rendered by documents.ensure_invoice_documents (the invoice PDF, missing too, with it)."""
    with clock.frozen(on(date(2026, 3, 1))):
        invoice = factories.invoice(world.demo, billing_date=date(2026, 3, 1), due_date=date(2026, 3, 10))
    with clock.frozen(on(date(2026, 3, 20))):
        issued = second_copy.issue(invoice, settings=billing_settings, today=clock.today(), actor=actor)
    db.session.expire_all()
    assert all(b.pdf_sha256 for b in boletos(invoice)) and issued.boleto.pdf_sha256


def test_requests_at_the_same_moment_issue_one_2a_via(make_app, engine_name):
    """Three people confirm at once (real commits, one connection each): one new boleto, the same for all."""
    app = make_app(engine_name)
    with app.app_context():
        organization = factories.OrganizationFactory()
        with clock.frozen(on(date(2026, 3, 1))):
            invoice_id = factories.invoice(organization, with_documents=True, billing_date=date(2026, 3, 1),
                                           due_date=date(2026, 3, 10)).id
        settings = BillingSettings.from_config(app.config)
    results, errors = [], []
    start = threading.Barrier(3, timeout=30)

    def confirm():
        try:
            with app.app_context():
                start.wait()  # before any query: on SQLite the first statement takes the write lock
                invoice = db.session.get(Invoice, invoice_id)
                issued = second_copy.issue(invoice, settings=settings, today=clock.today(),
                                           actor=Actor.system("tests"))
                results.append((issued.created, issued.boleto.id))
        except BaseException as exc:  # reported below
            errors.append(exc)

    with clock.frozen(on(date(2026, 3, 20))):
        threads = [threading.Thread(target=confirm) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not errors
    assert sorted(created for created, _boleto in results) == [False, False, True]
    assert len({boleto for _created, boleto in results}) == 1
    with app.app_context():
        assert db.session.scalar(select(func.count(Boleto.id)).where(Boleto.invoice_id == invoice_id)) == 2
        assert db.session.scalar(select(func.count(AuditEvent.seq)).where(
            AuditEvent.tag == AuditTag.SECOND_COPY_ISSUED)) == 1
