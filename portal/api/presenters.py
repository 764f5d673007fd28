"""The REST API's objects as JSON-ready dicts (the shapes of portal/api/schemas.py): money as centavos plus the
formatted text, dates and instants in ISO 8601."""

from datetime import date, datetime
from typing import Any

from portal.accounts.models import Membership, Organization
from portal.billing.models import Invoice, InvoiceLine
from portal.catalog.cart import Cart
from portal.catalog.models import Product, ProductPrice
from portal.catalog.service import CheckoutPreview
from portal.shared import clock
from portal.shared import cnpj as cnpj_module
from portal.shared.money import format_brl
from portal.subscriptions.models import Order, Quote, Subscription
from portal.support.models import Ticket, TicketMessage


def money(cents: int) -> dict[str, Any]:
    return {"cents": cents, "formatted": format_brl(cents, "pt_BR")}


def _day(value: date | str | None) -> date | None:
    """A business date (a quote's lines hold ISO text), for the schema to write as ISO 8601."""
    if value is None:
        return None
    return date.fromisoformat(value) if isinstance(value, str) else value


def _instant(value: datetime | None) -> datetime | None:
    return value


def organization(found: Organization, credit_cents: int) -> dict[str, Any]:
    return {"id": found.id, "legal_name": found.legal_name, "trade_name": found.trade_name,
            "cnpj": cnpj_module.format(found.cnpj), "status": found.status, "billing_day": found.billing_day,
            "city": found.city, "state": found.state, "credit_balance": money(credit_cents)}


def subscription(found: Subscription, etag: str) -> dict[str, Any]:
    product = found.product
    return {"id": found.id, "product": {"id": product.id, "sku": product.sku, "name": product.name},
            "quantity": found.quantity, "renewal_quantity": found.renewal_quantity, "status": found.status,
            "term_start": _day(found.term_start), "term_end": _day(found.term_end),
            "purchase_order": found.purchase_order, "cost_centre": found.cost_centre, "etag": etag}


def quote(found: Quote, subscription_etag: str) -> dict[str, Any]:
    lines = [{"kind": line["kind"], "quantity": line["quantity"], "unit_price": money(line["unit_price_cents"]),
              "amount": money(line["amount_cents"]), "period_start": _day(line.get("period_start")),
              "period_end": _day(line.get("period_end")), "effective_on": _day(line.get("effective_on"))}
             for line in found.lines or []]
    return {"token": found.token, "subscription_id": found.subscription_id, "new_quantity": found.new_quantity,
            "status": found.status, "lines": lines, "charge": money(found.charge_cents),
            "credit": money(found.credit_cents), "recurring": money(found.recurring_cents),
            "valid_until": _instant(found.expires_at), "subscription_etag": subscription_etag}


def order(found: Order, *, history: bool = False) -> dict[str, Any]:
    answer = {"id": found.id, "kind": found.kind, "status": found.status, "subscription_id": found.subscription_id,
              "product": found.subscription.product.name, "quantity": found.quantity,
              "created_at": _instant(found.created_at), "completed_at": _instant(found.completed_at)}
    if history:
        answer["history"] = [{"status": event.status, "message": event.message,
                              "created_at": _instant(event.created_at)} for event in found.events]
    return answer


def _price(found: ProductPrice) -> dict[str, Any]:
    return {"unit_price": money(found.unit_price_cents), "effective_from": _day(found.effective_from)}


def product(found: Product) -> dict[str, Any]:
    current = found.price_on(clock.today())
    return {"id": found.id, "sku": found.sku, "name": found.name, "description": found.description or "",
            "family_id": found.family_id, "term": found.term, "billing_frequency": found.billing_frequency,
            "min_quantity": found.min_quantity, "max_quantity": found.max_quantity,
            "current_price": _price(current) if current is not None else None,
            "prices": [_price(price) for price in found.prices]}


def _product_ref(found: Product) -> dict[str, Any]:
    return {"id": found.id, "sku": found.sku, "name": found.name}


def cart(found: Cart) -> dict[str, Any]:
    items = [{"product": _product_ref(line.product), "quantity": line.quantity,
              "billing_frequency": line.product.billing_frequency, "available": line.available,
              "unit_price": money(line.unit_price_cents) if line.available else None,
              "total": money(line.total_cents), "purchase_order": line.purchase_order,
              "cost_centre": line.cost_centre} for line in found.lines]
    return {"items": items, "monthly_total": money(found.monthly_cents), "annual_total": money(found.annual_cents),
            "has_unavailable": found.has_unavailable}


def checkout(found: CheckoutPreview) -> dict[str, Any]:
    lines = [{"product": _product_ref(line.product), "quantity": line.quantity,
              "unit_price": money(line.unit_price_cents), "prorata": money(line.amount_cents),
              "recurring": money(line.recurring_cents), "billing_frequency": line.product.billing_frequency,
              "period_start": line.period_start, "period_end": line.period_end, "effective_on": line.effective_on,
              "term_end": line.term_end, "purchase_order": line.purchase_order, "cost_centre": line.cost_centre}
             for line in found.lines]
    return {"token": found.quote.token, "status": found.quote.status, "lines": lines,
            "charge": money(found.charge_cents), "recurring": money(found.quote.recurring_cents),
            "monthly": money(found.monthly_cents),
            "next_invoice": {"billing_date": found.next_invoice_date, "total": money(found.next_invoice_cents),
                             "prorata": money(found.next_invoice_prorata_cents),
                             "recurring": money(found.next_invoice_recurring_cents)},
            "valid_until": _instant(found.quote.expires_at)}


def _line(found: InvoiceLine) -> dict[str, Any]:
    return {"kind": found.kind, "description": found.description, "quantity": found.quantity,
            "unit_price": money(found.unit_price_cents), "amount": money(found.amount_cents),
            "period_start": _day(found.period_start), "period_end": _day(found.period_end),
            "subscription_id": found.subscription_id, "purchase_order": found.purchase_order,
            "cost_centre": found.cost_centre}


def invoice(found: Invoice, *, lines: bool = False) -> dict[str, Any]:
    answer = {"id": found.id, "number": found.display_number, "kind": found.kind,
              "status": found.display_status(clock.today()), "billing_date": _day(found.billing_date),
              "due_date": _day(found.due_date), "period_start": _day(found.period_start),
              "period_end": _day(found.period_end), "subtotal": money(found.subtotal_cents),
              "credit_applied": money(found.credit_applied_cents), "total": money(found.total_cents),
              "paid": money(found.paid_cents), "paid_at": _instant(found.paid_at)}
    if lines:
        answer["lines"] = [_line(line) for line in found.lines]
    return answer


def ticket(found: Ticket) -> dict[str, Any]:
    return {"id": found.id, "subject": found.subject, "category": found.category, "priority": found.priority,
            "status": found.status, "subscription_id": found.subscription_id,
            "created_at": _instant(found.created_at), "updated_at": _instant(found.updated_at)}


def message(found: TicketMessage) -> dict[str, Any]:
    return {"id": found.id, "ticket_id": found.ticket_id, "body": found.body, "created_at": _instant(found.created_at),
            "attachments": [{"id": a.id, "filename": a.filename, "content_type": a.content_type, "size": a.size,
                             "url": f"/api/v1/tickets/{found.ticket_id}/attachments/{a.id}"}
                            for a in found.attachments]}


def member(found: Membership) -> dict[str, Any]:
    return {"id": found.id, "name": found.user.name, "email": found.user.email,
            "roles": sorted(str(role) for role in found.roles), "active": found.is_usable}
