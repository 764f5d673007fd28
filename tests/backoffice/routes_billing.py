"""The backoffice "Faturas" and "Faturamento" routes, for tests/test_permissions.py, and a helper that makes an
issued invoice without running the billing (nor its documents job)."""

from datetime import date, timedelta

from flask import current_app

from portal.billing.boletos import new_boleto
from portal.billing.models import Invoice, InvoiceKind, InvoiceLine, InvoiceStatus, LineKind
from portal.billing.numbering import INVOICE_SERIES, take_number
from portal.billing.settings import BillingSettings
from portal.extensions import db
from portal.shared import clock


def make_invoice(organization, *, total_cents: int = 100_000, billing_date: date = date(2026, 3, 10),
                 due_date: date | None = None, status: str = InvoiceStatus.OPEN) -> Invoice:
    """An issued invoice of one line with its first boleto, as the billing run leaves it (committed)."""
    settings = BillingSettings.from_config(current_app.config)
    due = due_date or billing_date + timedelta(days=10)
    invoice = Invoice(
        organization_id=organization.id, kind=InvoiceKind.REGULAR, series=INVOICE_SERIES, year=billing_date.year,
        number=take_number(INVOICE_SERIES, billing_date.year), status=status, billing_date=billing_date,
        period_start=billing_date, period_end=billing_date + timedelta(days=30), issued_at=clock.now(),
        due_date=due, subtotal_cents=total_cents, credit_applied_cents=0, total_cents=total_cents,
    )
    db.session.add(invoice)
    db.session.flush()
    db.session.add(InvoiceLine(invoice_id=invoice.id, position=1, kind=LineKind.RECURRING,
                               description="Microsoft 365 Business Standard", quantity=10,
                               unit_price_cents=total_cents // 10, amount_cents=total_cents,
                               period_start=invoice.period_start, period_end=invoice.period_end))
    new_boleto(invoice, settings, due=due, amount_cents=total_cents, sequence=1)
    db.session.commit()
    return invoice


def _invoice(world) -> dict:
    return {"invoice_id": make_invoice(world.demo).id}


STAFF_ROUTES = {
    "backoffice.invoices": ("GET", {}),
    "backoffice.invoice": ("GET", _invoice),
    # GET shows the form; the POST that records money is checked role by role in tests/backoffice/test_billing.py.
    "backoffice.invoice_payment": ("GET", _invoice),
    "backoffice.billing_run": ("GET", {}),
}

STAFF_ROUTES.update({
    "backoffice.correct_invoice": ("GET", _invoice),
    "backoffice.reissue_invoice": ("POST", _invoice),
    "backoffice.credit_note": ("POST", _invoice),
})
