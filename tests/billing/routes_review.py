"""The backoffice's "Rascunhos para revisão" routes (BILLING_REVIEW), for tests/test_permissions.py, and the draft
these tests and tests/billing/test_review.py start from."""

from datetime import date, timedelta

from portal.billing.models import InvoiceDraft, InvoiceDraftLine, InvoiceDraftStatus, LineKind
from portal.extensions import db
from portal.shared import clock

PRODUCT = "Microsoft 365 Business Standard"


def make_draft(organization, *, billing_date: date | None = None, due_date: date | None = None,
               lines: list[tuple[int, int]] = ((10, 7890),), credit_cents: int = 0) -> InvoiceDraft:
    """A pending draft as the run leaves it (recurring lines of (quantity, unit price)), committed."""
    billing_date = billing_date or clock.today()
    end = billing_date + timedelta(days=30)
    made = InvoiceDraft(
        organization_id=organization.id, status=InvoiceDraftStatus.PENDING, billing_date=billing_date,
        period_start=billing_date, period_end=end, due_date=due_date or billing_date + timedelta(days=10),
        credit_available_cents=credit_cents,
        lines=[InvoiceDraftLine(position=position, kind=str(LineKind.RECURRING), description=PRODUCT,
                                quantity=quantity, unit_price_cents=price, amount_cents=quantity * price,
                                period_start=billing_date, period_end=end)
               for position, (quantity, price) in enumerate(lines, start=1)])
    db.session.add(made)
    db.session.commit()
    return made


def _draft(world) -> dict:
    return {"draft_id": make_draft(world.demo).id}


def _line(world) -> dict:
    made = make_draft(world.demo)
    return {"draft_id": made.id, "line_id": made.lines[0].id}


STAFF_ROUTES = {
    "backoffice.invoice_drafts": ("GET", {}),
    "backoffice.invoice_drafts_approve": ("POST", {}),
    "backoffice.invoice_draft": ("GET", _draft),
    "backoffice.invoice_draft_line": ("POST", _line),
    "backoffice.invoice_draft_discount": ("POST", _draft),
    "backoffice.invoice_draft_approve": ("POST", _draft),
}
