"""Reconciliation (issue 15 point 9): payments by source over a period and their CSV (billing/reconciliation.py),
the exceptions for finance (billing/exceptions.py: under/over-payment, unknown Pix, paid after a baixa, resolved
once with a note), and the "pagamento recebido" e-mail (billing/receipts.py) through a real SMTP server.

The bank is Itaú (341); the clock is 2026-03-25 12:00 in São Paulo.
"""

import csv
import io
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select

from portal.billing import bank, exceptions, payments, pix_charges, reconciliation, second_copy
from portal.billing.models import BillingException, ExceptionKind, Invoice, Payment, PixReceipt
from portal.billing.settings import BillingSettings
from portal.extensions import db
from portal.integrations.mailer import SMTPMailer
from portal.integrations.pix import ReceivedPix
from portal.notifications.models import EmailDelivery
from portal.shared import clock
from portal.shared.audit import Actor, AuditEvent, AuditTag
from portal.shared.errors import ServiceError
from tests import factories
from tests.billing.test_bank import pair, retorno
from tests.fakes.concurrency import concurrently

MARCH_25 = datetime(2026, 3, 25, 15, 0, tzinfo=UTC)
DAY = date(2026, 3, 25)
ACTOR = Actor.system("tests")


@pytest.fixture
def settings(app_ctx):
    return BillingSettings.from_config(app_ctx.config)


@pytest.fixture
def march(app_ctx, world):
    with clock.frozen(MARCH_25):
        yield clock


@pytest.fixture
def smtp(app_ctx, smtp_sink):
    """Mail goes to a real SMTP server (aiosmtpd) on loopback."""
    original = app_ctx.extensions["mailer"]
    app_ctx.extensions["mailer"] = SMTPMailer("127.0.0.1", smtp_sink.port, starttls=False, timeout=10)
    yield smtp_sink
    app_ctx.extensions["mailer"] = original


def invoice_of(world, cents: int, day: int = 10) -> Invoice:
    return factories.invoice(world.demo, total_cents=cents, billing_date=date(2026, 3, day),
                             due_date=date(2026, 3, 30))


def pix_payment(invoice: Invoice, cents: int, e2e: str, via: str, paid_on: date) -> Payment:
    """A Pix payment as pix_charges.record_received leaves it: the payment and its receipt."""
    payment = payments.record_payment(invoice, amount_cents=cents, method="pix", paid_on=paid_on, actor=ACTOR,
                                      source="pix", external_id=e2e)
    db.session.add(PixReceipt(end_to_end_id=e2e, txid="t" * 26, amount_cents=cents, payment_id=payment.id,
                              paid_at=MARCH_25, raw={}, received_via=via))
    db.session.commit()
    return payment


def plain(message) -> str:
    return message.get_body(("plain",)).get_content()


# ---------------------------------------------------------------- sums by source


def test_payments_are_summed_by_source_over_the_period(march, world, settings):
    typed = invoice_of(world, 10_000, 1)
    payments.record_payment(typed, amount_cents=10_000, method="deposito", paid_on=date(2026, 3, 20), actor=ACTOR)
    by_bank = invoice_of(world, 20_000, 2)
    bank.import_retorno(retorno(pair(by_bank.current_boleto.nosso_numero, "06", paid=20_000, charges=150,
                                     on=date(2026, 3, 24))), "itau-0324.ret", ACTOR, settings)
    pix_payment(invoice_of(world, 30_000, 3), 30_000, "E1" + "0" * 30, "webhook", date(2026, 3, 21))
    pix_payment(invoice_of(world, 40_000, 4), 40_000, "E2" + "0" * 30, "polling", date(2026, 3, 22))
    pix_payment(invoice_of(world, 5_000, 5), 5_000, "E3" + "0" * 30, "polling", date(2026, 3, 23))
    outside = invoice_of(world, 7_000, 6)
    payments.record_payment(outside, amount_cents=7_000, method="pix", paid_on=date(2026, 2, 28), actor=ACTOR)

    totals = {t.key: (t.count, t.total_cents) for t in reconciliation.totals_by_source(date(2026, 3, 1),
                                                                                         date(2026, 3, 31))}
    assert totals == {"manual": (1, 10_000), "retorno": (1, 20_000), "pix_webhook": (1, 30_000),
                      "pix_polling": (2, 45_000), "stripe": (0, 0)}
    data = reconciliation.reconciliation(date(2026, 3, 1), date(2026, 3, 31))
    assert (data.count, data.total_cents) == (5, 105_000)
    assert [row.payment.paid_on.day for row in data.payments] == [20, 21, 22, 23, 24]
    retorno_row = next(row for row in data.payments if row.source == "retorno")
    assert retorno_row.file_name == "itau-0324.ret" and retorno_row.payment.interest_paid_cents == 150
    assert "itau-0324.ret, linha" in retorno_row.reference
    assert next(r for r in data.payments if r.source == "pix_webhook").reference == "E1" + "0" * 30
    # One day only: the bank's payment.
    assert [t.count for t in reconciliation.totals_by_source(date(2026, 3, 24), date(2026, 3, 24))] == [0, 1, 0, 0, 0]


def test_the_retorno_payments_audit_names_its_file_and_the_pix_its_end_to_end_id(march, world, settings):
    by_bank = invoice_of(world, 20_000)
    bank.import_retorno(retorno(pair(by_bank.current_boleto.nosso_numero, "06", paid=20_000)), "itau-9.ret", ACTOR,
                        settings)
    pix_payment(invoice_of(world, 30_000, 3), 30_000, "E9" + "0" * 30, "webhook", DAY)
    events = [e.after for e in db.session.scalars(select(AuditEvent).where(
        AuditEvent.tag == AuditTag.PAYMENT_RECORDED).order_by(AuditEvent.seq))]
    assert events[0]["source"] == "retorno" and "itau-9.ret" in events[0]["note"]
    assert events[1]["source"] == "pix" and events[1]["external_id"] == "E9" + "0" * 30


def test_the_csv_has_every_payment_of_the_period(march, world, settings):
    by_bank = invoice_of(world, 123_456)
    bank.import_retorno(retorno(pair(by_bank.current_boleto.nosso_numero, "06", paid=123_456, charges=789)),
                        "=cmd.ret", ACTOR, settings)
    pix_payment(invoice_of(world, 5_000, 3), 5_000, "E7" + "0" * 30, "polling", DAY)
    data = reconciliation.payments_csv(date(2026, 3, 1), date(2026, 3, 31))
    assert data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:7] == ["Data do pagamento", "Fatura", "Organização", "CNPJ", "Origem", "Forma", "Valor (R$)"]
    assert len(rows) == 3
    bank_row, pix_row = rows[1], rows[2]
    assert bank_row[0] == "24/03/2026" and bank_row[1] == by_bank.display_number
    assert bank_row[4] == "Retorno do banco" and bank_row[6] == "1234,56" and bank_row[7] == "7,89"
    assert bank_row[10].startswith("'=cmd.ret")  # a formula-looking file name stays text in a spreadsheet
    assert pix_row[4] == "Pix (consulta ao PSP)" and pix_row[6] == "50,00" and pix_row[10] == "E7" + "0" * 30
    assert reconciliation.csv_filename(date(2026, 3, 1), date(2026, 3, 31)) == \
        "conciliacao-2026-03-01-a-2026-03-31.csv"


# ---------------------------------------------------------------- exceptions


def kinds() -> list[str]:
    return [e.kind for e in db.session.scalars(select(BillingException).order_by(BillingException.id))]


def test_automatic_under_and_over_payments_are_exceptions_typed_ones_are_not(march, world, settings):
    under, over = invoice_of(world, 40_000, 1), invoice_of(world, 50_000, 2)
    bank.import_retorno(retorno(pair(under.current_boleto.nosso_numero, "06", paid=30_000),
                                pair(over.current_boleto.nosso_numero, "06", paid=50_500)), "r.ret", ACTOR, settings)
    assert kinds() == [ExceptionKind.UNDERPAID, ExceptionKind.OVERPAID]
    under_exception, over_exception = db.session.scalars(select(BillingException).order_by(BillingException.id))
    assert under_exception.invoice_id == under.id and "R$ 100,00" in under_exception.message
    assert over_exception.payment_id is not None and "R$ 5,00" in over_exception.message
    typed = invoice_of(world, 10_000, 3)
    payments.record_payment(typed, amount_cents=4_000, method="deposito", paid_on=DAY, actor=ACTOR)
    assert len(kinds()) == 2


def test_a_pix_of_no_charge_is_an_exception(march, world):
    pix = ReceivedPix(end_to_end_id="E" + "5" * 31, txid="x" * 30, amount_cents=9_900, paid_at=MARCH_25)
    outcome = pix_charges.record_received([pix], "webhook")
    assert outcome.unmatched == 1
    (row,) = exceptions.open_exceptions()
    assert row.exception.kind == ExceptionKind.UNKNOWN_PIX and "E" + "5" * 31 in row.exception.message
    assert row.exception.details["amount_cents"] == 9_900 and row.invoice_number is None
    pix_charges.record_received([pix], "polling")  # the same Pix again: nothing new
    assert len(exceptions.open_exceptions()) == 1


def test_a_boleto_paid_after_its_baixa_is_an_exception(march, world, settings):
    overdue = factories.invoice(world.demo, total_cents=100_000, billing_date=date(2026, 3, 1),
                                due_date=date(2026, 3, 10))
    bank.build_remessa(date(2026, 3, 11), settings, ACTOR)
    old = overdue.current_boleto.nosso_numero
    second_copy.issue(overdue, settings=settings, today=DAY, actor=ACTOR)
    bank.build_remessa(DAY, settings, ACTOR)  # the baixa of the old boleto goes to the bank
    bank.import_retorno(retorno(pair(old, "06", paid=100_000)), "r.ret", ACTOR, settings)
    assert ExceptionKind.PAID_AFTER_BAIXA in kinds()
    assert db.session.scalar(select(func.count(Payment.id))) == 1


def test_resolving_needs_a_note_and_happens_once(march, world):
    row = exceptions.open_exception(ExceptionKind.UNKNOWN, "Nosso número 1 desconhecido.", {})
    db.session.commit()
    finance = Actor.for_user(world.staff_financeiro)
    for bad in ("", "   ", "x" * 1001):
        with pytest.raises(ServiceError) as info:
            exceptions.resolve(row.id, bad, finance)
        assert info.value.field == "note"
    resolved = exceptions.resolve(row.id, "  Cliente pagou boleto antigo; estornado.  ", finance)
    assert resolved.resolution_note == "Cliente pagou boleto antigo; estornado."
    assert resolved.resolved_by_id == world.staff_financeiro.id and resolved.resolved_at == MARCH_25
    with pytest.raises(ServiceError):
        exceptions.resolve(row.id, "de novo", finance)
    (event,) = db.session.scalars(select(AuditEvent).where(AuditEvent.tag == AuditTag.BILLING_EXCEPTION_RESOLVED))
    assert event.subject == f"billing_exception:{row.id}" and event.after["note"].startswith("Cliente")
    assert exceptions.open_exceptions() == []
    (listed,) = exceptions.open_exceptions(exceptions.ExceptionFilters(status=exceptions.RESOLVED,
                                                                       date_from=DAY, date_to=DAY))
    assert listed.resolved_by == world.staff_financeiro.name


def test_two_resolutions_at_once_make_one_audit_event(make_app, engine_name):
    app = make_app(engine_name)
    with app.app_context():
        row = exceptions.open_exception(ExceptionKind.UNKNOWN, "Nosso número 2 desconhecido.", {})
        db.session.commit()
        exception_id = row.id

    def run(index):
        with app.app_context():
            return exceptions.resolve(exception_id, f"nota {index}", ACTOR).id

    results, errors = concurrently(2, run)
    assert len(results) == 1 and len(errors) == 1 and isinstance(errors[0], ServiceError)
    with app.app_context():
        assert db.session.scalar(select(func.count(AuditEvent.seq)).where(
            AuditEvent.tag == AuditTag.BILLING_EXCEPTION_RESOLVED,
            AuditEvent.subject == f"billing_exception:{exception_id}")) == 1


# ---------------------------------------------------------------- "pagamento recebido"


def test_each_recipient_gets_one_payment_received_email(march, world, smtp):
    world.cobranca.language = "en"
    db.session.commit()
    invoice = invoice_of(world, 100_000)
    payments.record_payment(invoice, amount_cents=60_000, method="pix", paid_on=DAY, actor=ACTOR)
    messages = smtp.wait_for(2)
    assert sorted(m["To"] for m in messages) == sorted([world.master.email, world.cobranca.email])
    portuguese = plain(next(m for m in messages if m["To"] == world.master.email))
    english = plain(next(m for m in messages if m["To"] == world.cobranca.email))
    assert f"Recebemos um pagamento de R$ 600,00 para a fatura {invoice.display_number}" in portuguese
    assert "Data do pagamento: 25/03/2026" in portuguese and "Forma de pagamento: Pix" in portuguese
    assert "Ainda em aberto nesta fatura: R$ 400,00." in portuguese
    assert f"http://portal.test/faturas/{invoice.id}" in portuguese  # from BASE_URL, as every e-mailed link
    assert english.startswith("Hello") and "Payment date" in english and "Still open on this invoice" in english
    assert next(m for m in messages if m["To"] == world.cobranca.email)["Subject"] == \
        f"Payment received: invoice {invoice.display_number}"


def test_the_email_says_paid_and_the_credit_and_is_sent_once_per_payment(march, world, smtp, settings):
    invoice = invoice_of(world, 50_000)
    data = retorno(pair(invoice.current_boleto.nosso_numero, "06", paid=50_500))
    bank.import_retorno(data, "r.ret", ACTOR, settings)
    messages = smtp.wait_for(2)
    text = plain(messages[0])
    assert "Situação: fatura paga." in text and "(R$ 5,00) virou crédito" in text
    bank.import_retorno(retorno(pair(invoice.current_boleto.nosso_numero, "06", paid=50_500), nsa=10), "o.ret",
                        ACTOR, settings)  # the same occurrence again: already recorded, nothing sent
    payments.record_payment(invoice, amount_cents=50_500, method="boleto", paid_on=DAY, actor=ACTOR,
                            source="retorno", external_id=db.session.scalar(select(Payment.external_id)))
    assert len(smtp.wait_for(3, timeout=0.5)) == 2
    assert db.session.scalar(select(func.count(EmailDelivery.id)).where(
        EmailDelivery.template == "payment_received")) == 2


def test_a_payment_rolled_back_sends_nothing(march, world, outbox):
    cancelled = invoice_of(world, 10_000)
    cancelled.status = "cancelled"
    db.session.commit()
    with pytest.raises(ServiceError):
        payments.record_payment(cancelled, amount_cents=10_000, method="pix", paid_on=DAY, actor=ACTOR)
    assert outbox == [] and db.session.scalar(select(func.count(EmailDelivery.id))) == 0
