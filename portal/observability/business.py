"""The business counts a scrape reports: a few COUNT … GROUP BY queries, totals only (never per organization)."""

from sqlalchemy import exists, func, or_, select

from portal.billing.models import Boleto, Invoice, InvoiceKind, InvoiceStatus
from portal.extensions import db
from portal.notifications.models import EmailDelivery
from portal.subscriptions.models import Order
from portal.webhooks.models import WebhookDelivery


def _grouped(*columns) -> list[tuple]:
    return [tuple(row) for row in db.session.execute(select(*columns, func.count()).group_by(*columns))]


def counts() -> dict[str, list[tuple]]:
    """{"orders": [(status, n)], "invoices": [(kind, status, n)], "documents_pending": [(n,)],
    "emails": [(status, n)], "webhook_deliveries": [(status, n)]}; five statements, read only."""
    documents_missing = or_(
        Invoice.pdf_sha256.is_(None),
        exists().where(Boleto.invoice_id == Invoice.id, Boleto.pdf_sha256.is_(None)),
    )
    pending = db.session.scalar(
        select(func.count()).select_from(Invoice)
        .where(Invoice.kind == InvoiceKind.REGULAR, Invoice.status != InvoiceStatus.CANCELLED, documents_missing)
    )
    return {
        "orders": _grouped(Order.status),
        "invoices": _grouped(Invoice.kind, Invoice.status),
        "documents_pending": [(pending or 0,)],
        "emails": _grouped(EmailDelivery.status),
        "webhook_deliveries": _grouped(WebhookDelivery.status),
    }
