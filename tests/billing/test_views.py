"""The "Faturas" pages as Cobrança and Master use them: the list and its filters, an invoice in words, the
downloads, the 2ª via (confirm → issue) and the extra billing e-mails.

Unless a test says otherwise the day is Friday 2026-03-20, 15:00 in São Paulo, and Demo Tecnologia has four
invoices of R$ 789,00 (10 licenses × R$ 78,90): December 2025 (cancelada), January (paga), February (due
11/02, so vencida) and March (due 30/03, aberta).
"""

import re
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select
from werkzeug.http import parse_options_header

from portal.billing.boletos import new_boleto
from portal.billing.models import (
    BillingContact,
    Boleto,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    LineKind,
    Payment,
)
from portal.billing.numbering import INVOICE_SERIES, take_number
from portal.extensions import db
from portal.shared import clock, documents
from portal.shared.audit import AuditEvent, AuditTag
from portal.subscriptions.models import QuantityChange
from tests import factories
from tests.conftest import sign_in
from tests.html import alerts, field_errors, section, text, words

MARCH_20 = datetime(2026, 3, 20, 18, 0, tzinfo=UTC)  # 15:00 in São Paulo, a Friday


@pytest.fixture
def march(app_ctx, world):
    with clock.frozen(MARCH_20):
        yield clock


@pytest.fixture
def invoices(march, world):
    """Demo Tecnologia's four invoices, oldest first, every document stored."""
    december = factories.invoice(world.demo, with_documents=True, billing_date=date(2025, 12, 1),
                                 due_date=date(2025, 12, 11))
    january = factories.invoice(world.demo, with_documents=True, billing_date=date(2026, 1, 1),
                                due_date=date(2026, 1, 12))
    february = factories.invoice(world.demo, with_documents=True, billing_date=date(2026, 2, 1),
                                 due_date=date(2026, 2, 11))
    march_invoice = factories.invoice(world.demo, with_documents=True, billing_date=date(2026, 3, 1),
                                      due_date=date(2026, 3, 30))
    december.status, december.cancelled_at, december.cancel_reason = (InvoiceStatus.CANCELLED, clock.now(),
                                                                      "Reemitida com o CNPJ corrigido")
    db.session.add(Payment(invoice_id=january.id, amount_cents=78900, method="pix", paid_on=date(2026, 1, 10),
                           source="manual", created_at=clock.now()))
    january.status, january.paid_at = InvoiceStatus.PAID, datetime(2026, 1, 10, 15, tzinfo=UTC)
    db.session.commit()
    return [december, january, february, march_invoice]


# ---------------------------------------------------------------- steps

def rows(response) -> list[str]:
    """The invoice list's rows as read: "2026/000003 01/02/2026 a 02/03/2026 R$ 789,00 11/02/2026 vencida"."""
    return [words(row) for row in re.findall(r'<tr data-testid="invoice-\d+">(.*?)</tr>', text(response), re.S)]


def numbers(response) -> list[str]:
    return [row.split()[0] for row in rows(response)]


def attachment_name(response) -> str:
    disposition, options = parse_options_header(response.headers["Content-Disposition"])
    assert disposition == "attachment"
    return options["filename"]


def events(tag: AuditTag) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.tag == tag).order_by(AuditEvent.seq)))


def boleto_count(invoice: Invoice) -> int:
    return db.session.scalar(select(func.count(Boleto.id)).where(Boleto.invoice_id == invoice.id))


def stem(invoice: Invoice) -> str:
    return f"{invoice.year}-{invoice.number:06d}"


# ---------------------------------------------------------------- who may see it

@pytest.mark.parametrize("role", ["master", "cobranca"])
def test_master_and_cobranca_open_faturas_from_the_navigation(invoices, login_as, role):
    client = login_as(role)
    home = text(client.get("/"))
    assert 'href="/faturas"' in home and "Ver faturas" in home
    assert client.get("/faturas").status_code == 200
    assert client.get(f"/faturas/{invoices[2].id}").status_code == 200


@pytest.mark.parametrize("role", ["adm", "suporte"])
def test_adm_and_suporte_get_403_and_no_link(invoices, login_as, role):
    client = login_as(role)
    assert 'href="/faturas"' not in text(client.get("/"))
    for path in ("/faturas", f"/faturas/{invoices[2].id}", f"/faturas/{invoices[2].id}/boleto.pdf",
                 f"/faturas/{invoices[2].id}/segunda-via"):
        assert client.get(path).status_code == 403, path


def test_another_organizations_invoice_and_documents_are_404(invoices, world, login_as):
    theirs = factories.invoice(world.other, with_documents=True)
    client = login_as("master")
    for path in ("", "/fatura.pdf", "/boleto.pdf", f"/boletos/{theirs.boletos[0].id}.pdf", "/nota-fiscal.pdf",
                 "/nota-fiscal.xml", "/segunda-via"):
        assert client.get(f"/faturas/{theirs.id}{path}").status_code == 404, path
    assert client.post(f"/faturas/{theirs.id}/segunda-via").status_code == 404
    assert theirs.display_number not in text(client.get("/faturas"))


def test_a_boleto_is_found_only_through_its_own_invoice(invoices, world, login_as):
    theirs = factories.invoice(world.other, with_documents=True)
    client = login_as("cobranca")
    february, march_invoice = invoices[2], invoices[3]
    assert client.get(f"/faturas/{february.id}/boletos/{march_invoice.boletos[0].id}.pdf").status_code == 404
    assert client.get(f"/faturas/{february.id}/boletos/{theirs.boletos[0].id}.pdf").status_code == 404


def test_staff_get_404(invoices, login_as):
    client = login_as("staff_financeiro")
    assert client.get("/faturas").status_code == 404
    assert client.get(f"/faturas/{invoices[2].id}/fatura.pdf").status_code == 404


# ---------------------------------------------------------------- the list

def test_the_list_newest_first_with_period_amount_due_date_and_status(invoices, login_as):
    december, january, february, march_invoice = invoices
    listing = login_as("cobranca").get("/faturas")
    assert rows(listing) == [
        f"{march_invoice.display_number} 01/03/2026 a 30/03/2026 R$ 789,00 30/03/2026 aberta PDF Boleto Nota fiscal",
        f"{february.display_number} 01/02/2026 a 02/03/2026 R$ 789,00 11/02/2026 vencida PDF Boleto Nota fiscal",
        f"{january.display_number} 01/01/2026 a 30/01/2026 R$ 789,00 12/01/2026 paga PDF Nota fiscal",
        f"{december.display_number} 01/12/2025 a 30/12/2025 R$ 789,00 11/12/2025 cancelada PDF",
    ]


def test_the_list_seen_again_shows_what_changed_in_between(invoices, world, login_as):
    """The rendered rows are reused while they show the same (portal/shared/fragments.py): a payment, a due date
    passing, or another language are new rows, never a stale list."""
    march_invoice = invoices[3]
    client = login_as("cobranca")
    assert rows(client.get("/faturas"))[0].endswith("30/03/2026 aberta PDF Boleto Nota fiscal")
    march_invoice.status = InvoiceStatus.PAID
    db.session.commit()
    assert rows(client.get("/faturas"))[0].endswith("30/03/2026 paga PDF Nota fiscal")  # nothing left to pay
    march_invoice.status, march_invoice.due_date = InvoiceStatus.OPEN, date(2026, 3, 19)  # yesterday
    db.session.commit()
    assert rows(client.get("/faturas"))[0].endswith("19/03/2026 vencida PDF Boleto Nota fiscal")
    world.cobranca.language = "en"
    db.session.commit()
    assert rows(client.get("/faturas"))[0].endswith("03/19/2026 overdue PDF Boleto Nota fiscal")


@pytest.mark.parametrize(("query", "expected"), [
    ("ano=2025", ["december"]),
    ("ano=2026", ["march", "february", "january"]),
    ("situacao=aberta", ["march"]),
    ("situacao=vencida", ["february"]),
    ("situacao=paga", ["january"]),
    ("situacao=cancelada", ["december"]),
    ("situacao=Vencida&ano=2026", ["february"]),
    ("situacao=vencida&ano=2025", []),
])
def test_filters_by_year_and_status(invoices, login_as, query, expected):
    names = dict(zip(["december", "january", "february", "march"], invoices, strict=True))
    response = login_as("master").get(f"/faturas?{query}")
    assert response.status_code == 200
    assert numbers(response) == [names[n].display_number for n in expected]
    if not expected:
        assert "Nenhuma fatura com esses filtros." in section(response, "empty")


@pytest.mark.parametrize(("query", "message", "expected"), [
    ("ano=dois-mil", "“dois-mil” não é um ano: use quatro algarismos, como 2026. Este filtro foi ignorado.",
     ["march", "february", "january", "december"]),
    ("ano=99999999999999999999&situacao=paga",
     "“99999999999999999999” não é um ano: use quatro algarismos, como 2026. Este filtro foi ignorado.",
     ["january"]),
    ("situacao=atrasada&ano=2025",
     "Situação desconhecida: “atrasada”. Mostrando faturas em todas as situações.", ["december"]),
])
def test_a_bad_filter_is_explained_and_the_other_one_kept(invoices, login_as, query, message, expected):
    names = dict(zip(["december", "january", "february", "march"], invoices, strict=True))
    response = login_as("cobranca").get(f"/faturas?{query}")
    assert response.status_code == 422
    assert message in field_errors(response)
    assert numbers(response) == [names[n].display_number for n in expected]


def test_the_list_is_paginated_and_the_pager_keeps_the_filters(march, world, login_as):
    made = [factories.invoice(world.demo, billing_date=date(2026, 1, 1 + n), due_date=date(2026, 4, 1))
            for n in range(23)]
    client = login_as("cobranca")
    first = client.get("/faturas?situacao=aberta")
    assert numbers(first) == [i.display_number for i in reversed(made)][:20]
    assert 'href="/faturas?pagina=2&amp;situacao=aberta"' in text(first)
    second = client.get("/faturas?situacao=aberta&pagina=2")
    assert numbers(second) == [i.display_number for i in reversed(made)][20:]
    assert client.get("/faturas?pagina=99999999999999").status_code == 200
    assert client.get("/faturas?pagina=abc").status_code == 200


def test_an_organization_without_invoices_is_told_so(march, login_as):
    assert "Sua organização ainda não tem faturas." in section(login_as("cobranca").get("/faturas"), "empty")


# ---------------------------------------------------------------- an invoice

@pytest.fixture
def e12(march, world):
    """The spec's E12 invoice (specs/prorata.md): 11 licenses for April, the +3 of March 11 pró-rata, a credit."""
    subscription = factories.subscription(world.demo, quantity=11)
    change = QuantityChange(subscription_id=subscription.id, organization_id=world.demo.id, kind="increase", delta=3,
                            quantity_after=13, effective_on=date(2026, 3, 11), charge_cents=16035,
                            period_start=date(2026, 3, 1), period_end=date(2026, 4, 1), created_at=clock.now())
    db.session.add(change)
    db.session.flush()
    invoice = Invoice(organization_id=world.demo.id, series=INVOICE_SERIES, year=2026,
                      number=take_number(INVOICE_SERIES, 2026), status=InvoiceStatus.OPEN,
                      billing_date=date(2026, 4, 1), period_start=date(2026, 4, 1), period_end=date(2026, 5, 1),
                      due_date=date(2026, 4, 13), subtotal_cents=102825, credit_applied_cents=8654,
                      total_cents=94171, issued_at=clock.now())
    db.session.add(invoice)
    db.session.flush()
    db.session.add_all([
        InvoiceLine(invoice_id=invoice.id, position=1, kind=LineKind.RECURRING, description=factories.PRODUCT,
                    quantity=11, unit_price_cents=7890, amount_cents=86790, period_start=date(2026, 4, 1),
                    period_end=date(2026, 5, 1), subscription_id=subscription.id),
        InvoiceLine(invoice_id=invoice.id, position=2, kind=LineKind.PRORATA, description=factories.PRODUCT, quantity=3,
                    unit_price_cents=7890, amount_cents=16035, period_start=date(2026, 3, 11),
                    period_end=date(2026, 4, 1), subscription_id=subscription.id, change_id=change.id),
        InvoiceLine(invoice_id=invoice.id, position=3, kind=LineKind.CREDIT, description="credit", quantity=1,
                    unit_price_cents=-8654, amount_cents=-8654),
    ])
    new_boleto(invoice, _settings(), due=invoice.due_date, amount_cents=94171, sequence=1)
    db.session.commit()
    return invoice


def _settings():
    from flask import current_app

    from portal.billing.settings import BillingSettings

    return BillingSettings.from_config(current_app.config)


def test_every_line_in_words_with_the_totals(e12, login_as):
    page = login_as("cobranca").get(f"/faturas/{e12.id}")
    table = section(page, "lines-table")
    assert (f"{factories.PRODUCT} Mensalidade: 11 licenças a R$ 78,90, de 01/04/2026 a 30/04/2026 R$ 867,90") in table
    assert (f"Pró-rata — {factories.PRODUCT} 3 licenças a mais a R$ 78,90 por período, de 11/03/2026 a 31/03/2026: "
            "21 dias de 31 R$ 160,35") in table
    assert "Crédito aplicado Do saldo de créditos da organização" in table and "-R$ 86,54" in table
    assert section(page, "totals") == "Subtotal R$ 1.028,25 Crédito aplicado -R$ 86,54 Total R$ 941,71"
    summary = section(page, "summary")
    assert "Período 01/04/2026 a 30/04/2026" in summary and "Vencimento 13/04/2026" in summary
    assert section(page, "invoice-status") == "aberta"


def test_how_to_pay_linha_digitavel_and_pix_as_text_with_copy_buttons(e12, login_as):
    page = login_as("cobranca").get(f"/faturas/{e12.id}")
    boleto = e12.boletos[0]
    assert section(page, "digitable-line") == boleto.digitable_line
    assert section(page, "pix-payload") == boleto.pix_payload
    body = text(page)
    # The buttons are in the page but hidden until static/js/portal.js shows them (no inline script: CSP).
    assert re.search(r'<button type="button"[^>]*hidden data-copy="digitable-line" data-copy-digits', body)
    assert re.search(r'<button type="button"[^>]*hidden data-copy="pix-payload"', body)
    assert "<script" not in body.split("</main>")[0]
    assert re.search(r'<div class="pix-qr" role="img"[^>]*><svg', body)  # the Pix QR
    assert "Boleto de R$ 941,71 com vencimento em 13/04/2026." in section(page, "payment")
    # No PDF yet: the link waits.
    assert section(page, "boleto-pdf-pending") == "Baixar o boleto (PDF) — em preparação"
    assert section(page, "invoice-pdf-pending") == "Fatura (PDF) — em preparação"
    assert section(page, "fiscal-pending") == "Nota fiscal — em preparação"


def test_documents_not_ready_are_404_with_a_clear_page(e12, login_as):
    client = login_as("cobranca")
    for path in ("fatura.pdf", "boleto.pdf", f"boletos/{e12.boletos[0].id}.pdf", "nota-fiscal.pdf",
                 "nota-fiscal.xml"):
        response = client.get(f"/faturas/{e12.id}/{path}")
        assert response.status_code == 404, path
        assert "Este documento ainda está sendo gerado" in text(response)


def test_downloads_are_attachments_with_good_names_and_the_stored_bytes(e12, login_as):
    factories.store_pdfs(e12)
    note = factories.add_fiscal_document(e12)
    client = login_as("cobranca")
    page = client.get(f"/faturas/{e12.id}")
    assert "Nota fiscal nº" in section(page, "documents") and note.number in section(page, "documents")
    assert section(page, "fiscal-simulated") == "simulação — sem valor fiscal"

    invoice_pdf = client.get(f"/faturas/{e12.id}/fatura.pdf")
    assert invoice_pdf.status_code == 200 and invoice_pdf.mimetype == "application/pdf"
    assert attachment_name(invoice_pdf) == f"fatura-{stem(e12)}.pdf"
    assert invoice_pdf.data == documents.load(e12.pdf_sha256)[0]

    boleto_pdf = client.get(f"/faturas/{e12.id}/boleto.pdf")
    assert attachment_name(boleto_pdf) == f"boleto-{stem(e12)}.pdf"
    assert boleto_pdf.data == documents.load(e12.boletos[0].pdf_sha256)[0]
    assert client.get(f"/faturas/{e12.id}/boletos/{e12.boletos[0].id}.pdf").data == boleto_pdf.data

    danfse = client.get(f"/faturas/{e12.id}/nota-fiscal.pdf")
    assert danfse.data == documents.load(note.pdf_sha256)[0] and danfse.mimetype == "application/pdf"
    assert attachment_name(danfse) == f"nfse-{note.number}.pdf"
    xml = client.get(f"/faturas/{e12.id}/nota-fiscal.xml")
    assert xml.mimetype == "application/xml" and xml.data.decode() == note.xml
    assert attachment_name(xml) == f"nfse-{note.number}.xml"


def test_a_real_fiscal_document_has_no_simulation_mark(e12, login_as):
    factories.store_pdfs(e12)
    factories.add_fiscal_document(e12, simulated=False)
    page = text(login_as("master").get(f"/faturas/{e12.id}"))
    assert "simulação — sem valor fiscal" not in page and 'data-testid="fiscal-pdf"' in page


def test_a_paid_invoice_shows_its_payments_and_nothing_to_pay(invoices, login_as):
    january = invoices[1]
    page = login_as("cobranca").get(f"/faturas/{january.id}")
    assert section(page, "payments-table") == "Data Forma Valor 10/01/2026 Pix R$ 789,00"
    assert 'data-testid="payment"' not in text(page)
    assert section(page, "invoice-status") == "paga"
    # Its boleto stays downloadable from the history.
    assert "Original" in section(page, "boletos-table")


def test_a_cancelled_invoice_says_so(invoices, login_as):
    page = login_as("cobranca").get(f"/faturas/{invoices[0].id}")
    assert "Reemitida com o CNPJ corrigido" in section(page, "summary")
    assert section(page, "invoice-status") == "cancelada" and 'data-testid="payment"' not in text(page)


# ---------------------------------------------------------------- 2ª via

def test_the_2a_via_shows_the_amounts_first_then_issues_a_new_boleto(invoices, login_as):
    february = invoices[2]  # R$ 789,00 due 11/02/2026
    client = login_as("cobranca")
    page = client.get(f"/faturas/{february.id}")
    assert "Esta fatura venceu em 11/02/2026." in section(page, "overdue-notice")

    confirm = client.get(f"/faturas/{february.id}/segunda-via")
    assert confirm.status_code == 200
    # New due date: 20/03 + 3 days = Monday 23/03/2026; late from 11/02 to 23/03 = 40 days.
    # multa = 78 900 × 2% = 1 578; juros = 78 900 × 1% × 40/30 = 1 052 (exact); total 81 530.
    assert section(confirm, "base") == "R$ 789,00"
    assert section(confirm, "fine") == "R$ 15,78"
    assert section(confirm, "interest") == "R$ 10,52"
    assert section(confirm, "second-copy-total") == "R$ 815,30"
    assert section(confirm, "new-due") == "23/03/2026"
    assert "Juros de mora de 1% ao mês por 40 dias" in text(confirm)
    assert boleto_count(february) == 1  # nothing issued by looking

    issued = client.post(f"/faturas/{february.id}/segunda-via",
                         data={"total_cents": "81530", "new_due": "2026-03-23"})
    assert issued.status_code == 302 and issued.headers["Location"] == f"/faturas/{february.id}"
    page = client.get(f"/faturas/{february.id}")
    assert "2ª via emitida: o novo boleto vence em 23/03/2026." in alerts(page)
    assert (section(page, "overdue-notice")
            == "Esta fatura venceu em 11/02/2026. Pague a 2ª via abaixo, válida até 23/03/2026.")
    assert ("2ª via: R$ 815,30 até 23/03/2026 (inclui multa de R$ 15,78 e juros de R$ 10,52)."
            in section(page, "payment"))
    db.session.expire_all()
    original, second = db.session.get(Invoice, february.id).boletos
    assert section(page, "digitable-line") == second.digitable_line != original.digitable_line
    assert second.pdf_sha256 is not None  # rendered right away
    assert "Original" in section(page, "boletos-table") and "R$ 789,00" in section(page, "boletos-table")
    assert client.get(f"/faturas/{february.id}/boleto.pdf").data == documents.load(second.pdf_sha256)[0]
    assert attachment_name(client.get(f"/faturas/{february.id}/boleto.pdf")) == f"boleto-{stem(february)}-via-2.pdf"

    again = client.post(f"/faturas/{february.id}/segunda-via", data={"total_cents": "81530", "new_due": "2026-03-23"})
    assert again.status_code == 302
    assert "A 2ª via de hoje já tinha sido emitida; é o boleto abaixo." in alerts(client.get(again.headers["Location"]))
    assert boleto_count(february) == 2


def test_a_2a_via_whose_amounts_changed_is_shown_again(invoices, login_as):
    february = invoices[2]
    client = login_as("master")
    response = client.post(f"/faturas/{february.id}/segunda-via",
                           data={"total_cents": "81000", "new_due": "2026-03-23"})
    assert response.status_code == 422
    assert ("Os valores da 2ª via mudaram desde que a página foi aberta. Confira os novos valores e confirme de novo."
            in alerts(response))
    assert section(response, "second-copy-total") == "R$ 815,30"
    assert boleto_count(february) == 1


@pytest.mark.parametrize(("which", "message"), [
    (3, "Esta fatura ainda não venceu: use o boleto atual, que vence em 30/03/2026."),
    (1, "Esta fatura já está paga: não há 2ª via a emitir."),
    (0, "Esta fatura foi cancelada: não há 2ª via a emitir."),
])
def test_no_2a_via_for_an_invoice_not_overdue_paid_or_cancelled(invoices, login_as, which, message):
    invoice = invoices[which]
    client = login_as("cobranca")
    for method in ("GET", "POST"):
        response = client.open(f"/faturas/{invoice.id}/segunda-via", method=method)
        assert response.status_code == 302 and response.headers["Location"] == f"/faturas/{invoice.id}"
        assert message in alerts(client.get(response.headers["Location"]))
    assert boleto_count(invoice) == 1


# ---------------------------------------------------------------- who receives the e-mails

def add_contact(client, email, name=""):
    return client.post("/faturas/contatos", data={"email": email, "name": name})


def test_master_adds_and_removes_a_billing_email(march, world, login_as):
    client = login_as("master")
    page = client.get("/faturas/contatos")
    assert page.status_code == 200 and section(page, "no-contacts") == "Nenhum e-mail adicional."
    recipients = section(page, "user-recipients")
    assert world.master.email in recipients and world.cobranca.email in recipients
    assert world.adm.email not in recipients and world.suporte.email not in recipients

    response = add_contact(client, "  Contas.Pagar@Cliente.example.com ", "Contas a pagar")
    assert response.status_code == 302 and response.headers["Location"] == "/faturas/contatos"
    page = client.get("/faturas/contatos")
    assert "contas.pagar@cliente.example.com vai receber as faturas." in alerts(page)
    assert "contas.pagar@cliente.example.com Contas a pagar" in section(page, "contacts-table")
    [added] = events(AuditTag.BILLING_CONTACT_ADDED)
    assert added.after == {"email": "contas.pagar@cliente.example.com", "name": "Contas a pagar"}
    assert added.organization_id == world.demo.id and added.actor_id == world.master.id

    contact = db.session.scalar(select(BillingContact))
    removed = client.post(f"/faturas/contatos/{contact.id}/remover")
    assert removed.status_code == 302
    assert "contas.pagar@cliente.example.com não recebe mais as faturas." in alerts(client.get("/faturas/contatos"))
    assert db.session.scalar(select(func.count(BillingContact.id))) == 0
    [gone] = events(AuditTag.BILLING_CONTACT_REMOVED)
    assert gone.before == {"email": "contas.pagar@cliente.example.com", "name": "Contas a pagar"}


@pytest.mark.parametrize(("email", "message"), [
    ("", "Preencha este campo."),
    ("contas-a-pagar", "Informe um e-mail válido."),
    ("contas@", "Informe um e-mail válido."),
    ("financeiro@cliente.example.com", "financeiro@cliente.example.com já recebe as faturas."),
    ("FINANCEIRO@cliente.example.com", "financeiro@cliente.example.com já recebe as faturas."),
])
def test_a_bad_or_duplicated_email_is_refused_and_the_input_kept(march, world, login_as, email, message):
    client = login_as("master")
    assert add_contact(client, "financeiro@cliente.example.com").status_code == 302
    response = add_contact(client, email, "Setor financeiro")
    assert response.status_code == 422
    assert field_errors(response) == [message]
    assert 'value="Setor financeiro"' in text(response)
    assert db.session.scalar(select(func.count(BillingContact.id))) == 1


def test_a_users_own_address_is_already_a_recipient(march, world, login_as):
    response = add_contact(login_as("master"), world.cobranca.email)
    assert response.status_code == 422
    assert field_errors(response) == [
        f"{world.cobranca.email} já recebe as faturas como usuário com papel Cobrança ou Master."]


@pytest.mark.parametrize("role", ["cobranca", "adm", "suporte"])
def test_only_the_master_manages_billing_emails(march, world, login_as, role):
    client = login_as(role)
    assert client.get("/faturas/contatos").status_code == 403
    assert add_contact(client, "contas@cliente.example.com").status_code == 403
    assert db.session.scalar(select(func.count(BillingContact.id))) == 0


def test_the_link_to_billing_emails_is_shown_to_the_master_only(invoices, world, client):
    assert 'href="/faturas/contatos"' in text(sign_in(client, world.master).get("/faturas"))
    assert 'href="/faturas/contatos"' not in text(sign_in(client, world.cobranca).get("/faturas"))


def test_another_organizations_contact_cannot_be_removed(march, world, login_as):
    theirs = BillingContact(organization_id=world.other.id, email="contas@outra.example.com", name="",
                            created_at=clock.now())
    db.session.add(theirs)
    db.session.commit()
    assert login_as("master").post(f"/faturas/contatos/{theirs.id}/remover").status_code == 404
    assert db.session.get(BillingContact, theirs.id) is not None
