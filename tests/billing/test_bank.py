"""billing/bank.py: the day's remessa (entradas, baixas, gapless NSA, the same file twice) and the retorno
import (registered, rejected and sent again, paid with over/under payment, cancelled invoices, unknown nosso
número, refusals, the same file twice, two sessions importing at once), and the CLI verbs.

The bank is Itaú (341, the default config); the clock is 2026-03-25 12:00 in São Paulo.
"""

import dataclasses
from datetime import UTC, date, datetime

import pytest
from flask import current_app
from sqlalchemy import func, select

from portal.billing import bank, cnab240, second_copy
from portal.billing.corrections import cancel_and_reissue
from portal.billing.models import (
    BankMovement,
    BankOccurrence,
    BillingException,
    Boleto,
    CreditEntry,
    Invoice,
    InvoiceStatus,
    Payment,
    Remessa,
    RetornoImport,
)
from portal.billing.settings import BillingSettings
from portal.extensions import db
from portal.shared import clock
from portal.shared.audit import Actor, AuditEvent, AuditTag
from tests import factories
from tests.fakes.concurrency import concurrently

MARCH_25 = datetime(2026, 3, 25, 15, 0, tzinfo=UTC)
DAY = date(2026, 3, 25)
ACTOR = Actor.system("tests")

def pair(nosso_numero: str, code: str, *, paid: int = 0, charges: int = 0, on: date = date(2026, 3, 24),
         reasons: str = "") -> cnab240.RetornoEvent:
    """One occurrence as the bank reports it (occurred and credited on `on`; reasons: concatenated codes)."""
    return cnab240.RetornoEvent(code=code, nosso_numero=nosso_numero, face_value_cents=111_370, paid_cents=paid,
                                net_credit_cents=paid, charges_cents=charges, occurred_on=on, credited_on=on,
                                reasons=tuple(reasons[i:i + 2] for i in range(0, len(reasons), 2)), channel="CK")


def retorno(*events: cnab240.RetornoEvent, bank_code: str = "341", nsa: int = 9, **account_changes) -> bytes:
    """The bank's retorno for the configured account (written by cnab240.retorno); another bank's account when
    `bank_code` is not the configured one; `account_changes` alter the account written in the headers."""
    account = bank.account_of(BillingSettings.from_config(current_app.config))
    if bank_code != account.bank:
        account = dataclasses.replace(account, bank=bank_code, carteira="09", convenio="1234567", dac="")
    account = dataclasses.replace(account, **account_changes)
    return cnab240.retorno(account, list(events), nsa=nsa, generated_at=datetime(2026, 3, 24, 12, 0, tzinfo=UTC))


@pytest.fixture
def settings(app_ctx):
    return BillingSettings.from_config(app_ctx.config)


@pytest.fixture
def march(app_ctx, world):
    with clock.frozen(MARCH_25):
        yield clock


@pytest.fixture
def invoice(march, world) -> Invoice:
    return factories.invoice(world.demo, total_cents=100_000, billing_date=date(2026, 3, 10),
                             due_date=date(2026, 3, 30))


def movements(kind=None) -> list[BankMovement]:
    statement = select(BankMovement).order_by(BankMovement.id)
    if kind:
        statement = statement.where(BankMovement.kind == kind)
    return list(db.session.scalars(statement))


def nn(invoice: Invoice) -> str:
    db.session.refresh(invoice)
    return invoice.current_boleto.nosso_numero


def fresh(invoice: Invoice) -> Invoice:
    db.session.expire_all()
    return db.session.get(Invoice, invoice.id)


# ---------------------------------------------------------------- remessa


def test_the_days_remessa_sends_each_issued_boleto_once(invoice, settings):
    result = bank.build_remessa(DAY, settings, ACTOR)
    assert result.created and result.remessa.nsa == 1
    assert (result.remessa.movement_count, result.remessa.entradas, result.remessa.total_cents) == (1, 1, 100_000)
    lines = result.data.split(b"\r\n")[:-1]
    assert all(len(line) == 240 for line in lines)
    assert lines[2][13:14] == b"P" and nn(invoice).encode() in lines[2]
    (movement,) = movements()
    assert movement.kind == "entrada" and movement.remessa_id == result.remessa.id
    assert db.session.scalar(select(func.count(AuditEvent.seq)).where(
        AuditEvent.tag == AuditTag.REMESSA_GENERATED)) == 1

    again = bank.build_remessa(DAY, settings, ACTOR)
    assert not again.created and again.remessa.id == result.remessa.id and again.data == result.data
    assert len(movements()) == 1

    next_day = bank.build_remessa(date(2026, 3, 26), settings, ACTOR)
    assert next_day.created and next_day.remessa.nsa == 2 and next_day.remessa.movement_count == 0


def test_nsa_is_gapless_per_account(invoice, settings):
    nsas = [bank.build_remessa(date(2026, 3, d), settings, ACTOR).remessa.nsa for d in (20, 21, 22)]
    assert nsas == [1, 2, 3]
    assert db.session.scalar(select(func.count(Remessa.id))) == 3


def test_a_cancelled_invoice_gets_a_baixa_and_its_replacement_an_entrada(invoice, settings, world):
    bank.build_remessa(date(2026, 3, 24), settings, ACTOR)
    old_boleto_id = invoice.current_boleto.id
    factories.subscription(world.demo)
    cancel_and_reissue(invoice, reason="endereço errado", settings=settings, actor=ACTOR)
    result = bank.build_remessa(DAY, settings, ACTOR)
    kinds = {(m.boleto_id, m.kind) for m in movements() if m.remessa_id == result.remessa.id}
    assert (old_boleto_id, "baixa") in kinds
    assert result.remessa.baixas == 1


def test_a_second_copy_is_baixa_of_the_old_boleto_and_entrada_of_the_new(march, world, settings):
    overdue = factories.invoice(world.demo, total_cents=100_000, billing_date=date(2026, 3, 1),
                                due_date=date(2026, 3, 10))
    bank.build_remessa(date(2026, 3, 11), settings, ACTOR)
    old = overdue.current_boleto.id
    copy = second_copy.issue(overdue, settings=settings, today=DAY, actor=ACTOR).boleto
    result = bank.build_remessa(DAY, settings, ACTOR)
    sent = {(m.boleto_id, m.kind) for m in movements() if m.remessa_id == result.remessa.id}
    assert sent == {(old, "baixa"), (copy.id, "entrada")}


def test_a_boleto_replaced_before_it_was_sent_is_never_sent(march, world, settings):
    overdue = factories.invoice(world.demo, total_cents=100_000, billing_date=date(2026, 3, 1),
                                due_date=date(2026, 3, 10))
    copy = second_copy.issue(overdue, settings=settings, today=DAY, actor=ACTOR).boleto
    bank.build_remessa(DAY, settings, ACTOR)
    assert [(m.boleto_id, m.kind) for m in movements()] == [(copy.id, "entrada")]


# ---------------------------------------------------------------- retorno


def test_entrada_confirmada_registers_the_boleto(invoice, settings):
    summary = bank.import_retorno(retorno(pair(nn(invoice), "02")), "r1.ret", ACTOR, settings)
    assert (summary.confirmed, summary.unknown, summary.already_imported) == (1, 0, 0)
    assert fresh(invoice).current_boleto.registered


def test_a_rejected_entrada_is_an_exception_and_goes_again_in_the_next_remessa(invoice, settings):
    bank.build_remessa(date(2026, 3, 24), settings, ACTOR)
    summary = bank.import_retorno(retorno(pair(nn(invoice), "03", reasons="4648")), "r.ret", ACTOR, settings)
    assert summary.rejected == 1
    (exception,) = db.session.scalars(select(BillingException))
    assert exception.kind == "entrada_rejeitada" and exception.invoice_id == invoice.id
    assert "46" in exception.message and "rejeitou" in exception.message
    result = bank.build_remessa(DAY, settings, ACTOR)
    assert result.remessa.entradas == 1


def test_liquidacao_records_the_payment_once(invoice, settings):
    data = retorno(pair(nn(invoice), "06", paid=100_000))
    summary = bank.import_retorno(data, "pago.ret", ACTOR, settings)
    assert (summary.paid, summary.paid_cents) == (1, 100_000)
    (payment,) = db.session.scalars(select(Payment))
    assert (payment.source, payment.method, payment.amount_cents, payment.paid_on) == (
        "retorno", "boleto", 100_000, date(2026, 3, 24))
    assert payment.credited_on == date(2026, 3, 24)
    assert fresh(invoice).status == InvoiceStatus.PAID

    again = bank.import_retorno(data, "pago.ret", ACTOR, settings)
    assert again.file_already_imported and again.paid == 0
    assert db.session.scalar(select(func.count(Payment.id))) == 1
    # The same occurrence in another file (another NSA): recorded once, by the bank's identity of it.
    other = bank.import_retorno(retorno(pair(nn(invoice), "06", paid=100_000), nsa=10), "outro.ret", ACTOR, settings)
    assert (other.already_imported, other.paid) == (1, 0)
    assert db.session.scalar(select(func.count(Payment.id))) == 1
    assert db.session.scalar(select(func.count(RetornoImport.id))) == 2


def test_over_and_under_payments(march, world, settings):
    over = factories.invoice(world.demo, total_cents=50_000, due_date=date(2026, 3, 30))
    under = factories.invoice(world.other if hasattr(world, "other") else world.demo, total_cents=40_000,
                              billing_date=date(2026, 3, 11), due_date=date(2026, 3, 30))
    bank.import_retorno(retorno(pair(nn(over), "06", paid=50_500), pair(nn(under), "06", paid=30_000)),
                        "r.ret", ACTOR, settings)
    assert fresh(over).status == InvoiceStatus.PAID
    assert db.session.scalar(select(CreditEntry.amount_cents).where(CreditEntry.amount_cents == 500)) == 500
    assert fresh(under).status == InvoiceStatus.OPEN


def test_paid_on_a_cancelled_invoice_becomes_credit_and_an_exception(march, world, settings):
    cancelled = factories.invoice(world.demo, total_cents=50_000, status=InvoiceStatus.CANCELLED)
    summary = bank.import_retorno(retorno(pair(nn(cancelled), "06", paid=50_000)), "r.ret", ACTOR, settings)
    assert summary.paid == 1
    assert db.session.scalar(select(func.count(Payment.id))) == 0
    assert db.session.scalar(select(func.sum(CreditEntry.amount_cents))) == 50_000
    (exception,) = db.session.scalars(select(BillingException))
    assert exception.kind == "pago_fatura_cancelada" and "cancelada" in exception.message


def test_unknown_nosso_numero_is_an_exception(invoice, settings):
    summary = bank.import_retorno(retorno(pair("99999999", "06", paid=1_000)), "r.ret", ACTOR, settings)
    assert summary.unknown == 1 and summary.paid == 0
    (exception,) = db.session.scalars(select(BillingException))
    assert "99999999" in exception.message and exception.invoice_id is None


def test_a_broken_file_records_nothing_and_says_the_line(invoice, settings):
    data = retorno(pair(nn(invoice), "06", paid=100_000))
    broken = data.replace(b"000001000006000000", b"000001000007000000")
    with pytest.raises(bank.BankFileRefused) as info:
        bank.import_retorno(broken, "r.ret", ACTOR, settings)
    assert "linha 6" in info.value.message
    assert db.session.scalar(select(func.count(RetornoImport.id))) == 0
    assert db.session.scalar(select(func.count(BankOccurrence.id))) == 0


def test_another_banks_file_is_refused(invoice, settings):
    with pytest.raises(bank.BankFileRefused) as info:
        bank.import_retorno(retorno(pair("0000000012", "06", paid=1), bank_code="237"), "r.ret", ACTOR, settings)
    assert "237" in info.value.message
    assert db.session.scalar(select(func.count(RetornoImport.id))) == 0


def test_two_sessions_importing_the_same_retorno_record_each_payment_once(make_app, engine_name):
    app = make_app(engine_name)
    with app.app_context(), clock.frozen(MARCH_25):
        organization = factories.OrganizationFactory(billing_day=10)
        invoices = [factories.invoice(organization, total_cents=10_000 * (n + 1), billing_date=date(2026, 3, 10 + n),
                                      due_date=date(2026, 3, 30)) for n in range(3)]
        data = retorno(*[pair(i.current_boleto.nosso_numero, "06", paid=i.total_cents) for i in invoices])
        settings = BillingSettings.from_config(app.config)

    def run(_index):  # the clock is frozen once, below: it is one global, and threads must not each set it back
        with app.app_context():
            return bank.import_retorno(data, "r.ret", ACTOR, settings).paid

    with clock.frozen(MARCH_25):
        results, errors = concurrently(2, run)
    assert not errors
    assert sorted(results) == [0, 3]
    with app.app_context():
        assert db.session.scalar(select(func.count(Payment.id))) == 3
        assert db.session.scalar(select(func.count(RetornoImport.id))) == 1


# ---------------------------------------------------------------- CLI


def test_cli_remessa_and_retorno(app, invoice, settings, tmp_path):
    output = tmp_path / "remessa.rem"
    runner = app.test_cli_runner()
    result = runner.invoke(args=["billing", "remessa", "--bank", "341", "--date", "2026-03-25",
                                 "--output", str(output)])
    assert result.exit_code == 0, result.output
    assert "NSA 1" in result.output and "1 entrada" in result.output
    assert output.read_bytes() == db.session.scalar(select(Remessa.content)).encode("ascii")

    path = tmp_path / "retorno.ret"
    path.write_bytes(retorno(pair(nn(invoice), "02"), pair(nn(invoice), "06", paid=100_000)))
    result = runner.invoke(args=["billing", "retorno", str(path)])
    assert result.exit_code == 0, result.output
    assert "confirmadas 1" in result.output and "pagas 1" in result.output

    path.write_bytes(b"lixo\r\n")
    result = runner.invoke(args=["billing", "retorno", str(path)])
    assert result.exit_code != 0 and "linha" in result.output


def test_cli_remessa_refuses_another_bank(app, invoice, tmp_path):
    result = app.test_cli_runner().invoke(args=["billing", "remessa", "--bank", "237", "--output",
                                                str(tmp_path / "x")])
    assert result.exit_code != 0 and "341" in result.output


def test_boleto_lookup_is_by_bank(invoice):
    assert db.session.scalar(select(Boleto.bank)) == "341"
    assert cnab240.ITAU == "341"


def test_a_boleto_paid_again_on_another_day_is_logged_not_booked(invoice, settings):
    """The spec: one payment per (bank, nosso número); a repeat is logged, not booked."""
    bank.import_retorno(retorno(pair(nn(invoice), "06", paid=100_000), nsa=9), "a.ret", ACTOR, settings)
    again = bank.import_retorno(retorno(pair(nn(invoice), "06", paid=100_000, on=date(2026, 3, 25)), nsa=10),
                                "b.ret", ACTOR, settings)
    assert again.paid == 0 and again.already_imported == 1
    assert db.session.scalar(select(func.count(Payment.id))) == 1
    assert db.session.scalar(select(func.count(CreditEntry.id))) == 0


def test_bradesco_liquidacao_apos_baixa_is_booked_and_flagged(make_app, engine_name):
    """C044 17 (BB, Bradesco): "liquidação após baixa ou título não registrado" — the spec books and flags it."""
    app = make_app(engine_name, BOLETO_BANK="237", BOLETO_CARTEIRA="09", BOLETO_ACCOUNT="0012345", BOLETO_AGENCY_DV="1",
                   BOLETO_ACCOUNT_DV="2")
    with app.app_context(), clock.frozen(MARCH_25):
        organization = factories.OrganizationFactory()
        invoice = factories.invoice(organization, total_cents=100_000, billing_date=date(2026, 3, 10),
                                    due_date=date(2026, 3, 30))
        settings = BillingSettings.from_config(app.config)
        summary = bank.import_retorno(retorno(pair(nn(invoice), "17", paid=100_000), bank_code="237"), "r.ret",
                                      ACTOR, settings)
        assert summary.paid == 1
        assert fresh(invoice).status == InvoiceStatus.PAID
        kinds = list(db.session.scalars(select(BillingException.kind)))
        assert kinds == ["pago_apos_baixa"], kinds


def test_a_payer_the_layout_cannot_carry_is_held_back_with_an_exception_and_the_rest_goes(invoice, settings, world):
    """An organization whose CNPJ is not valid (an old record) does not break the day's file: its boleto stays
    pending, finance is told once, and it goes in the remessa after the correction."""
    broken = factories.OrganizationFactory(cnpj="75698846533714")  # check digits wrong
    held = factories.invoice(broken, total_cents=20_000, billing_date=date(2026, 3, 11), due_date=date(2026, 3, 30))
    result = bank.build_remessa(DAY, settings, ACTOR)
    sent = {m.boleto_id for m in movements() if m.remessa_id == result.remessa.id}
    assert invoice.current_boleto.id in sent and held.current_boleto.id not in sent
    (exception,) = db.session.scalars(select(BillingException))
    assert exception.kind == "boleto_retido" and exception.boleto_id == held.current_boleto.id
    assert "75698846533714" in exception.message and "não é válido" in exception.message
    bank.build_remessa(date(2026, 3, 26), settings, ACTOR)  # still invalid: no second exception
    assert db.session.scalar(select(func.count(BillingException.id))) == 1
    broken.cnpj = "11444777000161"
    db.session.commit()
    later = bank.build_remessa(date(2026, 3, 27), settings, ACTOR)
    assert held.current_boleto.id in {m.boleto_id for m in movements() if m.remessa_id == later.remessa.id}
