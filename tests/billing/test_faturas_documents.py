"""Issue 13 point 13: each row of "Faturas" offers the invoice PDF, the boleto and the nota fiscal directly —
only those that exist (the boleto only while the invoice can be paid), with accessible names, for the roles
that may see invoices; the cached rows (portal/shared/fragments.py) change when a document appears."""

import html
import re
from datetime import UTC, date, datetime

import pytest

from portal.billing.models import InvoiceKind, InvoiceStatus
from portal.extensions import db
from portal.shared import clock
from tests import factories

MARCH_20 = datetime(2026, 3, 20, 18, 0, tzinfo=UTC)


@pytest.fixture
def march(app_ctx, world):
    with clock.frozen(MARCH_20):
        yield clock


def links(response, invoice) -> dict[str, str]:
    """The row's document links: accessible name → href."""
    body = response.get_data(as_text=True)
    row = re.search(rf'<tr data-testid="invoice-{invoice.id}">(.*?)</tr>', body, re.S).group(1)
    return {html.unescape(name): href for href, name in re.findall(r'<a [^>]*href="([^"]+)"[^>]*aria-label="([^"]+)"',
                                                                   row)}


@pytest.mark.parametrize("role", ["master", "cobranca"])
def test_an_open_invoice_offers_its_pdf_boleto_and_nota_fiscal(march, world, login_as, role):
    invoice = factories.invoice(world.demo, with_documents=True, billing_date=date(2026, 3, 1),
                                due_date=date(2026, 3, 30))
    number = invoice.display_number
    client = login_as(role)
    found = links(client.get("/faturas"), invoice)
    assert found == {
        f"PDF da fatura {number}": f"/faturas/{invoice.id}/fatura.pdf",
        f"Boleto da fatura {number}": f"/faturas/{invoice.id}/boleto.pdf",
        f"Nota fiscal da fatura {number}": f"/faturas/{invoice.id}/nota-fiscal.pdf",
    }
    for href in found.values():  # each one is the document itself
        response = client.get(href)
        assert response.status_code == 200 and response.mimetype == "application/pdf"
        assert response.get_data().startswith(b"%PDF-")


def test_only_the_documents_that_exist_and_the_boleto_only_while_it_can_be_paid(march, world, login_as):
    waiting = factories.invoice(world.demo, billing_date=date(2026, 3, 1),
                                due_date=date(2026, 3, 30))  # no document yet
    paid = factories.invoice(world.demo, with_documents=True, billing_date=date(2026, 2, 1), due_date=date(2026, 2, 11))
    cancelled = factories.invoice(world.demo, with_documents=True, billing_date=date(2026, 1, 1),
                                  due_date=date(2026, 1, 12))
    credit_note = factories.store_pdfs(factories.invoice(world.demo, billing_date=date(2025, 12, 1),
                                                         due_date=date(2025, 12, 11)))
    paid.status, paid.paid_at = InvoiceStatus.PAID, clock.now()
    cancelled.status, cancelled.cancelled_at = InvoiceStatus.CANCELLED, clock.now()
    credit_note.kind, credit_note.series, credit_note.status = InvoiceKind.CREDIT_NOTE, "NC", InvoiceStatus.PAID
    db.session.commit()
    listing = login_as("cobranca").get("/faturas")

    assert links(listing, waiting) == {}
    assert "em preparação" in re.search(rf'<tr data-testid="invoice-{waiting.id}">(.*?)</tr>',
                                        listing.get_data(as_text=True), re.S).group(1)
    assert set(links(listing, paid)) == {f"PDF da fatura {paid.display_number}",
                                         f"Nota fiscal da fatura {paid.display_number}"}
    assert set(links(listing, cancelled)) == {f"PDF da fatura {cancelled.display_number}"}
    assert set(links(listing, credit_note)) == {f"PDF da nota de crédito {credit_note.display_number}"}


def test_the_cached_rows_offer_a_document_once_it_exists(march, world, login_as):
    invoice = factories.invoice(world.demo, billing_date=date(2026, 3, 1), due_date=date(2026, 3, 30))
    client = login_as("cobranca")
    assert links(client.get("/faturas"), invoice) == {}
    factories.store_pdfs(invoice)
    assert set(links(client.get("/faturas"), invoice)) == {f"PDF da fatura {invoice.display_number}",
                                                          f"Boleto da fatura {invoice.display_number}"}


def test_in_english_the_links_are_named_in_english(march, world, login_as):
    invoice = factories.invoice(world.demo, with_documents=True, billing_date=date(2026, 3, 1),
                                due_date=date(2026, 3, 30))
    world.cobranca.language = "en"
    db.session.commit()
    assert set(links(login_as("cobranca").get("/faturas"), invoice)) == {
        f"PDF of invoice {invoice.display_number}", f"Boleto for invoice {invoice.display_number}",
        f"Nota fiscal for invoice {invoice.display_number}"}
