"""Browser: Cobrança opens "Faturas", opens an invoice, copies the linha digitável and downloads the boleto PDF."""

import re
from datetime import timedelta

import pytest
from flask import current_app
from playwright.sync_api import expect
from sqlalchemy import select

from portal.accounts.models import Membership, User
from portal.billing import documents
from portal.billing.lines import existing_invoice
from portal.billing.models import Invoice, InvoiceStatus
from portal.billing.run import invoice_organization
from portal.billing.settings import BillingSettings
from portal.extensions import db
from portal.shared import clock
from portal.shared import documents as stored_documents
from portal.shared.audit import Actor

pytestmark = pytest.mark.e2e

COBRANCA = "cobranca@demo.example.com"


def payable_invoice(app) -> dict:
    """An open invoice of Cobrança's organization with its boleto PDF: the demo's, or one issued now."""
    with app.app_context():
        organization_id = db.session.scalar(select(Membership.organization_id).join(User)
                                            .where(User.email == COBRANCA))
        settings = BillingSettings.from_config(current_app.config)
        found = db.session.scalars(
            select(Invoice).where(Invoice.organization_id == organization_id, Invoice.status == InvoiceStatus.OPEN)
            .order_by(Invoice.billing_date.desc())
        ).first()
        if found is None or found.current_boleto is None:
            day = clock.today()
            while existing_invoice(organization_id, day) is not None:
                day -= timedelta(days=1)
            found = invoice_organization(organization_id, on=day, settings=settings,
                                         actor=Actor.system("e2e")).invoice
        documents.ensure_invoice_documents(found, settings=settings, actor=Actor.system("e2e"))  # if still missing
        found = db.session.get(Invoice, found.id)
        boleto = found.current_boleto
        facts = {"id": found.id, "number": found.display_number, "line": boleto.digitable_line,
                 "pix": boleto.pix_payload, "pdf": stored_documents.load(boleto.pdf_sha256)[0],
                 "file": f"boleto-{found.year}-{found.number:06d}" + (f"-via-{boleto.sequence}" if boleto.sequence > 1
                                                                      else "") + ".pdf"}
        db.session.remove()
        return facts


def test_cobranca_opens_an_invoice_copies_the_line_and_downloads_the_boleto(page, context, log_in, live_server):
    invoice = payable_invoice(live_server.app)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)

    log_in(page, COBRANCA)
    page.get_by_role("navigation", name="Navegação principal").get_by_role("link", name="Faturas").click()
    expect(page).to_have_url(re.compile(r"/faturas$"))
    expect(page.get_by_role("heading", name="Faturas", level=1)).to_be_visible()
    page.get_by_test_id("invoices-table").get_by_role("link", name=invoice["number"], exact=True).click()

    expect(page).to_have_url(re.compile(rf"/faturas/{invoice['id']}$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(invoice["number"])
    expect(page.get_by_test_id("digitable-line")).to_have_text(invoice["line"])
    expect(page.get_by_test_id("pix-payload")).to_have_text(invoice["pix"])

    # The "Copiar" button appears with scripts on, and copies the line's digits.
    expect(page.get_by_role("button", name="Copiar a linha digitável")).to_be_visible()
    page.get_by_role("button", name="Copiar a linha digitável").click()
    expect(page.locator('[data-copy="digitable-line"]')).to_have_text("Copiado!")  # for two seconds
    assert page.evaluate("() => navigator.clipboard.readText()") == re.sub(r"\D", "", invoice["line"])

    with page.expect_download() as started:
        page.get_by_test_id("boleto-pdf").click()
    download = started.value
    assert download.suggested_filename == invoice["file"]
    with open(download.path(), "rb") as saved:
        assert saved.read() == invoice["pdf"]


def test_cobranca_downloads_the_boleto_straight_from_its_row_in_faturas(page, log_in, live_server, check_page):
    """Issue 13 point 13: the row offers the documents; its "Boleto" link gives the boleto PDF itself."""
    invoice = payable_invoice(live_server.app)

    log_in(page, COBRANCA)
    page.get_by_role("navigation", name="Navegação principal").get_by_role("link", name="Faturas").click()
    expect(page).to_have_url(re.compile(r"/faturas$"))
    row = page.get_by_test_id(f"invoice-{invoice['id']}")
    expect(row.get_by_role("link", name=f"PDF da fatura {invoice['number']}")).to_be_visible()
    boleto = row.get_by_role("link", name=f"Boleto da fatura {invoice['number']}")
    expect(boleto).to_be_visible()
    check_page(page)

    with page.expect_download() as started:
        boleto.click()
    download = started.value
    assert download.suggested_filename == invoice["file"]
    with open(download.path(), "rb") as saved:
        content = saved.read()
    assert content.startswith(b"%PDF-") and content == invoice["pdf"]
    expect(page).to_have_url(re.compile(r"/faturas$"))  # a download, not a page: the list stays
