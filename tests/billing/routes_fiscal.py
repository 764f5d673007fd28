"""The backoffice "Nota fiscal" routes, for tests/test_permissions.py, and a quick invoice with a note on file.

The page and the upload (one endpoint, GET and POST) need billing:manage; the downloads organizations:read.
The POST is checked role by role in tests/billing/test_fiscal.py (an empty upload answers 422, not 200).
"""

from datetime import date

from portal.billing.models import FiscalDocument, Invoice
from portal.extensions import db
from portal.shared import documents
from tests import factories

TINY_PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


def invoice_with_note(organization) -> Invoice:
    invoice = factories.invoice(organization, lines=(), boleto=False, total_cents=78_900)
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
