"""Backoffice finance: "Faturas" (list, filters, overdue highlighted), an invoice's page, recording a payment by
hand (and every wrong input explained on its field), and "Faturamento" (run the billing for a date, confirmed).

The clock is 2026-03-25 12:00 in São Paulo; the invoice is R$ 1.000,00, due 2026-03-20 (overdue).
"""

import re
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select

from portal.billing import jobs as billing_jobs
from portal.billing import payments
from portal.billing.boletos import new_boleto
from portal.billing.models import (
    CreditEntry,
    FiscalDocument,
    GatewayPayment,
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentMethod,
    PaymentReversal,
)
from portal.billing.settings import BillingSettings
from portal.extensions import db
from portal.shared import clock
from portal.shared.audit import Actor, AuditEvent, AuditTag
from portal.shared.formatting import format_money
from tests import factories
from tests.conftest import sign_in
from tests.html import unescaped

MARCH_25 = datetime(2026, 3, 25, 15, 0, tzinfo=UTC)
VALID = {"paid_on": "24/03/2026", "amount": "400,00", "method": "pix", "note": "Pix recebido às 10h"}


@pytest.fixture(autouse=True)
def march(app_ctx):
    with clock.frozen(MARCH_25):
        yield


@pytest.fixture
def invoice(world) -> Invoice:
    return factories.invoice(world.demo, total_cents=100_000, billing_date=date(2026, 3, 10),
                             due_date=date(2026, 3, 20))


@pytest.fixture
def finance(client, world):
    return sign_in(client, world.staff_financeiro)


def squash(page: str) -> str:
    return " ".join(page.split())


def field_error(page: str, name: str) -> str:
    match = re.search(rf'id="{name}-error"[^>]*>([^<]*)<', page)
    return match.group(1).strip() if match else ""


def payments_of(invoice) -> list[Payment]:
    db.session.expire_all()
    return list(db.session.scalars(select(Payment).where(Payment.invoice_id == invoice.id).order_by(Payment.id)))


# ---------------------------------------------------------------- who may

@pytest.mark.parametrize("role", ["comercial", "suporte", "compliance"])
def test_only_finance_and_admin_record_payments(client, world, invoice, role):
    sign_in(client, getattr(world, f"staff_{role}"))
    assert client.post(f"/backoffice/faturas/{invoice.id}/pagamentos", data=VALID).status_code == 403
    assert client.post("/backoffice/faturamento", data={"day": "25/03/2026", "confirm": "1"}).status_code == 403
    assert payments_of(invoice) == []
    assert "/backoffice/faturas" not in client.get("/backoffice/").get_data(as_text=True)


@pytest.mark.parametrize("role", ["financeiro", "admin"])
def test_finance_and_admin_see_faturas_in_the_navigation(client, world, role):
    sign_in(client, getattr(world, f"staff_{role}"))
    page = client.get("/backoffice/").get_data(as_text=True)
    assert 'href="/backoffice/faturas"' in page and "Faturas" in page


def test_customers_never_reach_the_finance_pages(client, world, invoice):
    sign_in(client, world.master)
    assert client.get("/backoffice/faturas").status_code == 404
    assert client.post(f"/backoffice/faturas/{invoice.id}/pagamentos", data=VALID).status_code == 404


# ---------------------------------------------------------------- the list

def test_the_list_highlights_overdue_invoices_and_filters(finance, world, invoice):
    paid = factories.invoice(world.demo, billing_date=date(2026, 2, 10), status=InvoiceStatus.PAID, total_cents=100_000)
    upcoming = factories.invoice(world.other, billing_date=date(2026, 3, 24), due_date=date(2026, 4, 3),
                                 total_cents=100_000)
    last_year = factories.invoice(world.other, billing_date=date(2025, 12, 10), status=InvoiceStatus.CANCELLED,
                                  total_cents=100_000)
    page = unescaped(finance.get("/backoffice/faturas"))
    for found in (invoice, paid, upcoming, last_year):
        assert found.display_number in page
    overdue_row = re.search(rf'<tr class="table-danger" data-overdue="1" data-invoice="{invoice.id}">(.*?)</tr>',
                            page, re.S)
    assert overdue_row and "vencida" in overdue_row.group(1) and "há 5 dias" in overdue_row.group(1)
    assert f'data-overdue="1" data-invoice="{upcoming.id}"' not in page

    def numbers(query):
        found = unescaped(finance.get(f"/backoffice/faturas?{query}"))
        return {i.display_number for i in (invoice, paid, upcoming, last_year) if i.display_number in found}

    assert numbers("situacao=vencida") == {invoice.display_number}
    assert numbers("situacao=aberta") == {upcoming.display_number}
    assert numbers("situacao=paga") == {paid.display_number}
    assert numbers("situacao=cancelada") == {last_year.display_number}
    assert numbers("ano=2025") == {last_year.display_number}
    assert numbers("organizacao=outra") == {upcoming.display_number, last_year.display_number}
    assert numbers(f"organizacao={world.demo.cnpj[:8]}") == {invoice.display_number, paid.display_number}


def test_filters_that_cannot_be_read_are_explained(finance, invoice):
    response = finance.get("/backoffice/faturas?situacao=sumida&ano=dois+mil")
    page = unescaped(response)
    assert response.status_code == 422
    assert "Situação desconhecida: “sumida”" in page and "“dois mil” não é um ano: use quatro algarismos" in page
    assert invoice.display_number in page  # the other filters (none) still apply


# ---------------------------------------------------------------- an invoice's page

def test_the_invoice_page_tells_its_whole_story(finance, world, invoice):
    finance.post(f"/backoffice/faturas/{invoice.id}/pagamentos", data=VALID)
    db.session.add_all([
        GatewayPayment(invoice_id=invoice.id, gateway="stripe", external_id="pi_declined1", method="card",
                       amount_cents=60_000, status="failed", detail={"error": "Your card was declined."}),
        GatewayPayment(invoice_id=invoice.id, gateway="stripe", external_id="pi_boleto1", method="boleto",
                       amount_cents=60_000, status="requires_action",
                       detail={"hosted_voucher_url": "https://payments.stripe.com/boleto/voucher/test_1"}),
    ])
    db.session.commit()
    page = unescaped(finance.get(f"/backoffice/faturas/{invoice.id}"))
    assert "pi_declined1" in page and "Your card was declined." in page
    assert 'href="https://payments.stripe.com/boleto/voucher/test_1"' in page
    assert f"Fatura {invoice.display_number}" in page and world.demo.legal_name in page
    assert "Microsoft 365 Business Standard" in page  # its line
    assert invoice.boletos[0].digitable_line in page  # its boleto
    assert "Pix recebido às 10h" in page and "R$ 400,00" in page  # the payment
    assert re.search(r'data-testid="open-balance">R\$ 600,00<', page)
    assert "Pagamento registrado" in page  # the audit trail, by its label
    assert "ainda não emitida" in page and f"/backoffice/faturas/{invoice.id}/nota-fiscal" in page
    assert finance.get("/backoffice/faturas/999999").status_code == 404


# ---------------------------------------------------------------- recording a payment

def test_a_partial_payment_is_recorded_and_the_balance_confirmed(finance, world, invoice):
    response = finance.post(f"/backoffice/faturas/{invoice.id}/pagamentos", data=VALID)
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/backoffice/faturas/{invoice.id}")
    [payment] = payments_of(invoice)
    assert (payment.amount_cents, payment.method, payment.paid_on, payment.source) == (40_000, "pix",
                                                                                       date(2026, 3, 24), "manual")
    assert payment.recorded_by_id == world.staff_financeiro.id
    page = unescaped(finance.get(response.headers["Location"]))
    assert (f"Pagamento de R$ 400,00 registrado na fatura {invoice.display_number}. Saldo em aberto: R$ 600,00."
            in page)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.tag == AuditTag.PAYMENT_RECORDED))
    assert event.actor_id == world.staff_financeiro.id and event.ip == "127.0.0.1"


def test_an_over_payment_pays_the_invoice_and_says_where_the_rest_went(finance, world, invoice):
    data = {**VALID, "amount": "R$ 1.000,50", "method": "deposito", "paid_on": "2026-03-25"}
    response = finance.post(f"/backoffice/faturas/{invoice.id}/pagamentos", data=data, follow_redirects=True)
    page = unescaped(response)
    assert "Saldo em aberto: R$ 0,00. A fatura está paga. O excedente de R$ 0,50 virou crédito da organização." in page
    assert db.session.get(Invoice, invoice.id).status == InvoiceStatus.PAID
    assert db.session.scalar(select(func.sum(CreditEntry.amount_cents))
                             .where(CreditEntry.organization_id == world.demo.id)) == 50


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"paid_on": ""}, "paid_on", "Preencha este campo."),
    ({"paid_on": "31/02/2026"}, "paid_on", "Data inválida: use o formato dd/mm/aaaa."),
    ({"paid_on": "ontem"}, "paid_on", "Data inválida: use o formato dd/mm/aaaa."),
    ({"paid_on": "26/03/2026"}, "paid_on", "A data do pagamento não pode estar no futuro."),
    ({"paid_on": "01/01/1999"}, "paid_on", "Data inválida: use o formato dd/mm/aaaa."),
    ({"amount": ""}, "amount", "Preencha este campo."),
    ({"amount": "quatrocentos"}, "amount", "Valor não reconhecido: use o formato 1.234,56."),
    ({"amount": "10,555"}, "amount", "Valor não reconhecido: use o formato 1.234,56."),
    ({"amount": "0,00"}, "amount", "Informe um valor maior que zero."),
    ({"amount": "-10"}, "amount", "Informe um valor maior que zero."),
    ({"amount": "99.999.999,99"}, "amount", "Valor alto demais. Confira o que foi digitado."),
    ({"method": ""}, "method", "Preencha este campo."),
    ({"method": "cheque"}, "method", "Escolha inválida"),
    ({"method": "card"}, "method", "Escolha inválida"),
    ({"note": "x" * 301}, "note", "Use no máximo 300 caracteres."),
])
def test_wrong_input_is_explained_on_its_field_and_kept(finance, invoice, changes, field, message):
    response = finance.post(f"/backoffice/faturas/{invoice.id}/pagamentos", data={**VALID, **changes})
    page = unescaped(response)
    assert response.status_code == 422
    assert message in field_error(page, field)
    for name, value in {**VALID, **changes}.items():
        if name != "method" and len(value) < 100:
            assert f'value="{value}"' in page or f"{value}</textarea>" in page or value == ""
    assert payments_of(invoice) == []


def test_a_cancelled_invoice_has_no_payment_form_and_refuses_one(finance, world):
    cancelled = factories.invoice(world.demo, billing_date=date(2026, 2, 10), status=InvoiceStatus.CANCELLED,
                                  total_cents=100_000)
    assert 'data-testid="payment-form"' not in unescaped(finance.get(f"/backoffice/faturas/{cancelled.id}"))
    response = finance.post(f"/backoffice/faturas/{cancelled.id}/pagamentos", data=VALID)
    assert response.status_code == 422 and "foi cancelada" in unescaped(response)
    assert payments_of(cancelled) == []


def test_the_payment_address_leads_to_the_form(finance, invoice):
    response = finance.get(f"/backoffice/faturas/{invoice.id}/pagamentos")
    assert response.status_code == 302 and response.headers["Location"].endswith("#registrar-pagamento")


# ---------------------------------------------------------------- the billing run

@pytest.fixture
def no_invoice_jobs(monkeypatch):
    """Issuing queues the documents job (PDFs, nota fiscal, e-mail), tested in its own room."""
    monkeypatch.setattr(billing_jobs, "complete_invoice", lambda invoice_id: None)


def test_the_billing_run_asks_for_confirmation_then_reports(finance, world, no_invoice_jobs):
    world.demo.billing_day = 24
    world.other.billing_day = 24
    db.session.commit()
    factories.subscription(world.demo, quantity=10)  # Outra Empresa has nothing to bill
    page = unescaped(finance.get("/backoffice/faturamento"))
    assert 'value="25/03/2026"' in page  # today, by default

    confirm = finance.post("/backoffice/faturamento", data={"day": "24/03/2026"})
    page = squash(unescaped(confirm))
    assert confirm.status_code == 200 and 'data-testid="run-confirm"' in page
    assert "2 organizações têm dia de faturamento em 24/03/2026." in page
    assert world.demo.legal_name in page and world.other.legal_name in page
    assert db.session.scalar(select(func.count(Invoice.id))) == 0  # nothing yet

    done = squash(unescaped(finance.post("/backoffice/faturamento", data={"day": "24/03/2026", "confirm": "1"})))
    assert "1 fatura emitida · 0 já existiam · 1 sem nada a faturar · 0 falharam" in done
    invoice = db.session.scalar(select(Invoice))
    assert invoice.organization_id == world.demo.id and invoice.display_number in done
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.tag == AuditTag.INVOICE_ISSUED))
    assert event.actor_id == world.staff_financeiro.id

    again = squash(unescaped(finance.post("/backoffice/faturamento", data={"day": "24/03/2026", "confirm": "1"})))
    assert "0 faturas emitidas · 1 já existia · 1 sem nada a faturar" in again
    assert db.session.scalar(select(func.count(Invoice.id))) == 1
    assert f"já emitida: {invoice.display_number}" in unescaped(finance.post("/backoffice/faturamento",
                                                                       data={"day": "24/03/2026"}))


@pytest.mark.parametrize(("day", "message"), [
    ("", "Preencha este campo."),
    ("32/03/2026", "Data inválida: use o formato dd/mm/aaaa."),
    ("26/03/2026", "Não é possível faturar uma data futura."),
])
def test_the_billing_run_date_is_checked(finance, day, message):
    response = finance.post("/backoffice/faturamento", data={"day": day, "confirm": "1"})
    assert response.status_code == 422 and message in field_error(unescaped(response), "day")
    assert db.session.scalar(select(func.count(Invoice.id))) == 0


# ---------------------------------------------------------------- corrections

def test_finance_reissues_an_invoice_from_the_correction_page(app_ctx, world, login_as):
    factories.subscription(world.demo, quantity=2, added_at=datetime(2026, 1, 5, 12, tzinfo=UTC))
    world.demo.billing_day = 10
    db.session.commit()
    invoice = factories.invoice(world.demo, billing_date=date(2026, 3, 10), total_cents=100_000)
    client = login_as("staff_financeiro")
    page = client.get(f"/backoffice/faturas/{invoice.id}/corrigir").get_data(as_text=True)
    assert "Cancelar e reemitir" in page and "Nota de crédito" in page
    short = client.post(f"/backoffice/faturas/{invoice.id}/reemitir", data={"reissue-reason": "erro"})
    assert short.status_code == 422 and "pelo menos 10 caracteres" in short.get_data(as_text=True)
    done = client.post(f"/backoffice/faturas/{invoice.id}/reemitir",
                       data={"reissue-reason": "Quantidade lançada errada"})
    assert done.status_code == 302
    db.session.expire_all()
    assert db.session.get(Invoice, invoice.id).status == "cancelled"
    replacement = db.session.scalar(select(Invoice).where(Invoice.replaces_id == invoice.id))
    assert done.headers["Location"].endswith(f"/backoffice/faturas/{replacement.id}")


def test_cancelling_a_standing_note_refuses_bad_input_and_an_invoice_without_one(app_ctx, world, login_as):
    open_invoice = factories.invoice(world.demo, total_cents=100_000, billing_date=date(2026, 3, 10))
    client = login_as("staff_financeiro")
    good = {"note-reason_code": "9", "note-reason": "Fatura cancelada sem reemissão", "note-confirm": "y"}
    nothing = client.post(f"/backoffice/faturas/{open_invoice.id}/cancelar-nota-fiscal", data=good,
                          follow_redirects=True)
    assert "Só a nota fiscal de uma fatura cancelada" in nothing.get_data(as_text=True)
    invoice = factories.invoice(world.demo, total_cents=50_000, billing_date=date(2026, 2, 10))
    invoice.status, invoice.cancelled_at = "cancelled", datetime(2026, 2, 20, tzinfo=UTC)
    db.session.add(FiscalDocument(invoice_id=invoice.id, number="SIM-1", verification_code="X",
                                  issued_on=date(2026, 2, 10), amount_cents=50_000, xml="<x/>", simulated=True,
                                  source="simulator", status="issued"))
    db.session.commit()
    url = f"/backoffice/faturas/{invoice.id}/cancelar-nota-fiscal"
    for data, message in (({**good, "note-reason_code": "7"}, "Escolha inválida"),  # WTForms' pt catalog
                          ({**good, "note-reason_code": "abc"}, "Escolha inválida"),
                          ({**good, "note-reason": "curto"}, "pelo menos 10 caracteres"),
                          ({k: v for k, v in good.items() if k != "note-confirm"}, "Confirme para continuar.")):
        refused = client.post(url, data=data)
        assert refused.status_code == 422, data
        assert message in refused.get_data(as_text=True), data
    assert db.session.get(FiscalDocument, invoice.fiscal_document.id).status == "issued"
    assert client.post(url, data=good).status_code == 302
    db.session.expire_all()
    assert db.session.get(Invoice, invoice.id).fiscal_document.status == "cancelled"


def test_finance_issues_a_credit_note(app_ctx, world, login_as):
    invoice = factories.invoice(world.demo, total_cents=100_000, billing_date=date(2026, 3, 10))
    client = login_as("staff_financeiro")
    for amount, message in (("abc", "formato 1.234,56"), ("2.000,00", "passa do que ainda pode ser creditado")):
        refused = client.post(f"/backoffice/faturas/{invoice.id}/nota-de-credito",
                              data={"credit-amount": amount, "credit-reason": "Licença cobrada a mais"})
        assert refused.status_code == 422 and message in refused.get_data(as_text=True)
        assert "Licença cobrada a mais" in refused.get_data(as_text=True)  # the input is kept
    done = client.post(f"/backoffice/faturas/{invoice.id}/nota-de-credito",
                       data={"credit-amount": "250,00", "credit-reason": "Licença cobrada a mais"})
    assert done.status_code == 302
    db.session.expire_all()
    note = db.session.scalar(select(Invoice).where(Invoice.corrects_id == invoice.id))
    assert note.total_cents == -25000 and note.display_number.startswith("NC ")


# ---------------------------------------------------------------- the figures read in SQL match payments.balance

def test_the_list_and_the_page_show_what_payments_balance_computes(finance, world, invoice):
    """The list sums payments, reversals and the latest 2ª via's fine and interest in SQL, and the invoice page
    reads its balance from the loaded payments: both must agree with `payments.balance` (the rule's home)."""
    actor = Actor.for_user(world.staff_financeiro)
    settings = BillingSettings.from_config(finance.application.config)
    new_boleto(invoice, settings, due=date(2026, 3, 30), amount_cents=102_333, sequence=2, fine_cents=2_000,
               interest_cents=333)  # overdue: the 2ª via's R$ 23,33 is owed too
    payment = payments.record_payment(invoice, amount_cents=40_000, method=PaymentMethod.DEPOSIT,
                                      paid_on=date(2026, 3, 24), actor=actor)
    db.session.add(PaymentReversal(payment_id=payment.id, invoice_id=invoice.id, amount_cents=15_000,
                                   reversed_on=date(2026, 3, 24), source="pix", external_id="D1", reason="Estorno"))
    partly = factories.invoice(world.other, billing_date=date(2026, 3, 24), due_date=date(2026, 4, 3),
                               total_cents=50_000)
    payments.record_payment(partly, amount_cents=12_345, method=PaymentMethod.PIX, paid_on=date(2026, 3, 24),
                            actor=actor)
    paid = factories.invoice(world.demo, billing_date=date(2026, 2, 10), total_cents=30_000)
    payments.record_payment(paid, amount_cents=30_000, method=PaymentMethod.PIX, paid_on=date(2026, 2, 12),
                            actor=actor)
    db.session.commit()
    db.session.expire_all()
    page = squash(unescaped(finance.get("/backoffice/faturas")))
    today = clock.today()
    expected = {found.id: payments.balance(db.session.get(Invoice, found.id), today)
                for found in (invoice, partly, paid)}
    assert [balance.open_cents for balance in expected.values()] == [100_000 + 2_333 - 25_000, 50_000 - 12_345, 0]
    for invoice_id, balance in expected.items():
        row = re.search(rf'data-invoice="{invoice_id}">(.*?)</tr>', page).group(1)
        cells = re.findall(r'<td class="text-end text-nowrap">([^<]*)</td>', row)
        assert cells[1] == format_money(balance.open_cents), (invoice_id, cells)
        shown = squash(unescaped(finance.get(f"/backoffice/faturas/{invoice_id}")))
        assert f'data-testid="open-balance">{format_money(balance.open_cents)}<' in shown
        assert f'data-testid="paid">{format_money(balance.paid_cents)}<' in shown
    assert "Devido com multa e juros (2ª via)</dt><dd class=\"col-sm-6 text-end\">R$ 1.023,33" in squash(
        unescaped(finance.get(f"/backoffice/faturas/{invoice.id}")))
