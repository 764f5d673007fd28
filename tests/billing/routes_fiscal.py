"""The backoffice "Nota fiscal" routes, for tests/test_permissions.py, and a quick invoice with a note on file.

The page and the upload (one endpoint, GET and POST) need billing:manage; the downloads organizations:read.
The POST is checked role by role in tests/billing/test_fiscal.py (an empty upload answers 422, not 200).
"""

from datetime import date, timedelta

from portal.billing.models import FiscalDocument, Invoice, InvoiceStatus
from portal.billing.numbering import INVOICE_SERIES, take_number
from portal.extensions import db
from portal.shared import clock, documents

TINY_PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


def bare_invoice(organization, *, total_cents: int = 78900, status: str = InvoiceStatus.OPEN) -> Invoice:
    """An invoice row as the billing run leaves it, without lines or jobs (for pages that only show it)."""
    today = clock.today()
    invoice = Invoice(organization_id=organization.id, series=INVOICE_SERIES, year=today.year,
                      number=take_number(INVOICE_SERIES, today.year), status=status, billing_date=today,
                      period_start=today, period_end=today + timedelta(days=30), due_date=today + timedelta(days=10),
                      subtotal_cents=total_cents, credit_applied_cents=0, total_cents=total_cents)
    db.session.add(invoice)
    db.session.commit()
    return invoice


def invoice_with_note(organization) -> Invoice:
    invoice = bare_invoice(organization)
    db.session.add(FiscalDocument(invoice_id=invoice.id, number="SIM-1", verification_code="ABCDEFGHI",
                                  issued_on=date(2026, 4, 1), amount_cents=invoice.total_cents,
                                  xml='<?xml version="1.0" encoding="UTF-8"?>\n<CompNfse/>\n',
                                  pdf_sha256=documents.store(TINY_PDF, "application/pdf"), simulated=True,
                                  source="simulator"))
    db.session.commit()
    return invoice


def _with_note(world) -> dict:
    return {"invoice_id": invoice_with_note(world.demo).id}


STAFF_ROUTES = {
    "backoffice.fiscal_document": ("GET", _with_note),
    "backoffice.fiscal_document_xml": ("GET", _with_note),
    "backoffice.fiscal_document_pdf": ("GET", _with_note),
}
