"""Billing fixtures: invoices made directly (no billing run, no jobs), their stored documents and notas fiscais."""

from datetime import date, timedelta

import pytest

from portal.billing.boletos import new_boleto
from portal.billing.models import FiscalDocument, Invoice, InvoiceLine, InvoiceStatus, LineKind
from portal.billing.numbering import INVOICE_SERIES, take_number
from portal.billing.settings import BillingSettings
from portal.extensions import db
from portal.shared import clock, documents

PRODUCT = "Microsoft 365 Business Standard"
NFSE_XML = ('<?xml version="1.0" encoding="UTF-8"?>\n<CompNfse xmlns="http://www.abrasf.org.br/nfse.xsd"><Nfse>'
            '<InfNfse><Numero>{number}</Numero><OutrasInformacoes>SEM VALOR FISCAL — SIMULAÇÃO</OutrasInformacoes>'
            '</InfNfse></Nfse></CompNfse>\n')


def fake_pdf(label: str) -> bytes:
    """A small, valid-looking PDF whose bytes differ per label (stored documents are content-addressed)."""
    return f"%PDF-1.4\n% {label}\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n".encode()


@pytest.fixture
def billing_settings(app_ctx):
    return BillingSettings.from_config(app_ctx.config)


def make_invoice(organization, *, billing_date: date | None = None, due_date: date | None = None,
                 lines: list[tuple[str, int, int]] | None = None, status: str = InvoiceStatus.OPEN,
                 settings: BillingSettings | None = None) -> Invoice:
    """An issued invoice with its lines and first boleto, as the billing run leaves it (no jobs run).

    `lines`: (kind, quantity, unit price) each, amounts quantity × price; default 10 licenses × R$ 78,90.
    """
    from flask import current_app

    settings = settings or BillingSettings.from_config(current_app.config)
    billing_date = billing_date or clock.today()
    due_date = due_date or billing_date + timedelta(days=10)
    lines = lines or [(LineKind.RECURRING, 10, 7890)]
    total = sum(quantity * price for _kind, quantity, price in lines)
    invoice = Invoice(organization_id=organization.id, series=INVOICE_SERIES, year=billing_date.year,
                      number=take_number(INVOICE_SERIES, billing_date.year), status=status,
                      billing_date=billing_date, period_start=billing_date,
                      period_end=billing_date + timedelta(days=30), due_date=due_date, subtotal_cents=total,
                      credit_applied_cents=0, total_cents=total, issued_at=clock.now())
    db.session.add(invoice)
    db.session.flush()
    for position, (kind, quantity, price) in enumerate(lines, start=1):
        db.session.add(InvoiceLine(invoice_id=invoice.id, position=position, kind=kind, description=PRODUCT,
                                   quantity=quantity, unit_price_cents=price, amount_cents=quantity * price,
                                   period_start=billing_date, period_end=billing_date + timedelta(days=30)))
    if total > 0:
        new_boleto(invoice, settings, due=due_date, amount_cents=total, sequence=1)
    db.session.commit()
    return invoice


def store_pdfs(invoice: Invoice) -> Invoice:
    """Store a PDF for the invoice and each boleto still without one (what documents.ensure_invoice_documents
    does, without WeasyPrint)."""
    if invoice.pdf_sha256 is None:
        invoice.pdf_sha256 = documents.store(fake_pdf(f"fatura {invoice.display_number}"), "application/pdf")
    for boleto in invoice.boletos:
        if boleto.pdf_sha256 is None:
            boleto.pdf_sha256 = documents.store(fake_pdf(f"boleto {boleto.nosso_numero}"), "application/pdf")
    db.session.commit()
    return invoice


def add_fiscal_document(invoice: Invoice, *, simulated: bool = True) -> FiscalDocument:
    number = f"SIM-{invoice.year}{invoice.number:06d}"
    note = FiscalDocument(invoice_id=invoice.id, number=number, verification_code="ABCDE2345",
                          issued_on=invoice.billing_date, amount_cents=invoice.total_cents,
                          xml=NFSE_XML.format(number=number),
                          pdf_sha256=documents.store(fake_pdf(f"DANFSe {number}"), "application/pdf"),
                          simulated=simulated, source="simulator" if simulated else "upload", created_at=clock.now())
    db.session.add(note)
    db.session.commit()
    return note


def ready_invoice(organization, **kwargs) -> Invoice:
    """An invoice with every document: its PDF, its boleto's PDF and its nota fiscal."""
    invoice = store_pdfs(make_invoice(organization, **kwargs))
    add_fiscal_document(invoice)
    db.session.expire(invoice)
    return invoice
