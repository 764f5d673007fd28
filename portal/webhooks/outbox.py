"""The webhook outbox: an event is a row written in the transaction of what it announces, so a change that rolls
back announces nothing, and a committed one is delivered by the job consumers even if none was up at the time.

Services call one function here where the thing happens (`invoices_issued`, `invoice_paid`, `order_finished`,
`subscription_changed`, `renewal_due`, `ticket_replied`; `invoice.overdue` comes from the daily check in
service.py). An event is written only for an organization with an enabled endpoint subscribing to it, so the
portal's other customers pay one indexed look-up. After the commit, `webhooks.deliver_event` fans it out; the
minutely sweep catches whatever a consumer that was down missed.

Payloads follow Standard Webhooks: `{"type", "timestamp", "data"}`; data carries ids, numbers, amounts in
centavos, dates in ISO 8601 and a link to the portal's page — never a secret, a message's text or an attachment.
"""

import secrets
from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy import insert, select

from portal import jobs
from portal.extensions import db
from portal.shared import clock
from portal.shared.links import absolute_url
from portal.webhooks.models import EVENT_TYPES, WebhookEndpoint, WebhookEvent


def new_message_id() -> str:
    """The `webhook-id` of an event: the same on every attempt, so a receiver can drop a repeat."""
    return f"msg_{secrets.token_hex(16)}"


def payload(event_type: str, data: dict[str, Any], at: datetime | None = None) -> dict[str, Any]:
    return {"type": event_type, "timestamp": (at or clock.now()).isoformat(), "data": data}


def _subscribed(organization_ids: Iterable[int], event_type: str) -> set[int]:
    """Which of these organizations have an enabled endpoint subscribing to `event_type`."""
    ids = sorted(set(organization_ids))
    if not ids:
        return set()
    rows = db.session.execute(select(WebhookEndpoint.organization_id, WebhookEndpoint.events)
                              .where(WebhookEndpoint.organization_id.in_(ids), WebhookEndpoint.enabled.is_(True)))
    return {organization_id for organization_id, events in rows if event_type in (events or [])}


def emit(event_type: str, *, organization_id: int, data: dict[str, Any], dedupe_key: str | None = None,
         endpoint_id: int | None = None) -> WebhookEvent | None:
    """Write the event in the current transaction (None when nobody subscribes to it) and queue its delivery
    once the transaction commits. `endpoint_id`: to that endpoint only (the test event)."""
    if endpoint_id is None:
        if event_type not in EVENT_TYPES:
            raise ValueError(f"unknown webhook event {event_type!r}")
        if organization_id not in _subscribed([organization_id], event_type):
            return None
    event = WebhookEvent(organization_id=organization_id, type=event_type, message_id=new_message_id(),
                         payload=payload(event_type, data), endpoint_id=endpoint_id, dedupe_key=dedupe_key,
                         created_at=clock.now())
    db.session.add(event)
    db.session.flush()
    jobs.enqueue("webhooks.deliver_event", event.id)
    return event


def emit_many(event_type: str, things: list[Any], data_of: Callable[[Any], dict[str, Any]]) -> int:
    """`emit` for a batch of objects with an `organization_id` (`data_of(thing)` is their data, built only for the
    subscribed ones): one look-up and one INSERT, then one sweep queued."""
    subscribed = _subscribed((thing.organization_id for thing in things), event_type)
    now = clock.now()
    rows = [{"organization_id": thing.organization_id, "type": event_type, "message_id": new_message_id(),
             "payload": payload(event_type, data_of(thing), now), "created_at": now}
            for thing in things if thing.organization_id in subscribed]
    if rows:
        db.session.execute(insert(WebhookEvent), rows)
        jobs.enqueue("webhooks.sweep")
    return len(rows)


def _day(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


# ---------------------------------------------------------------- one call from each service


def invoice_data(invoice: Any) -> dict[str, Any]:
    """An Invoice or the billing run's IssuedInvoice."""
    return {"invoice": {
        "id": invoice.id, "number": invoice.display_number, "due_date": _day(invoice.due_date),
        "total_cents": invoice.total_cents, "currency": "BRL",
        "url": absolute_url("billing.invoice", invoice_id=invoice.id),
    }}


def invoices_issued(invoices: Iterable[Any]) -> int:
    """The billing run's batch (portal/billing/run.py)."""
    return emit_many("invoice.issued", list(invoices), invoice_data)


def invoice_paid(invoice: Any, *, paid_cents: int) -> WebhookEvent | None:
    data = invoice_data(invoice)
    data["invoice"].update(paid_cents=paid_cents, paid_at=_day(invoice.paid_at))
    return emit("invoice.paid", organization_id=invoice.organization_id, data=data)


def invoice_overdue(invoice: Any) -> WebhookEvent | None:
    """Once per invoice (its dedupe key), from the daily check."""
    return emit("invoice.overdue", organization_id=invoice.organization_id, data=invoice_data(invoice),
                dedupe_key=f"invoice.overdue:{invoice.id}")


def order_finished(order: Any) -> WebhookEvent | None:
    """An order that reached "done" (order.completed) or "failed" (order.failed); other statuses announce nothing."""
    event_type = {"done": "order.completed", "failed": "order.failed"}.get(str(order.status))
    if event_type is None:
        return None
    data = {"order": {"id": order.id, "kind": str(order.kind), "status": str(order.status),
                      "subscription_id": order.subscription_id, "quantity": order.quantity,
                      "url": absolute_url("subscriptions.order", order_id=order.id)}}
    if event_type == "order.failed":
        data["order"]["error_code"] = order.error_code
    return emit(event_type, organization_id=order.organization_id, data=data)


def subscription_data(subscription: Any) -> dict[str, Any]:
    product = subscription.product
    return {"subscription": {
        "id": subscription.id, "product": {"id": product.id, "sku": product.sku, "name": product.name},
        "quantity": subscription.quantity, "renewal_quantity": subscription.renewal_quantity,
        "status": str(subscription.status), "term_end": _day(subscription.term_end),
        "url": absolute_url("subscriptions.detail", subscription_id=subscription.id),
    }}


def subscription_changed(subscription: Any, *, reason: str) -> WebhookEvent | None:
    """`reason`: quantity_change (a confirmed quote, cancellation included) or renewal."""
    data = subscription_data(subscription)
    data["reason"] = reason
    return emit("subscription.changed", organization_id=subscription.organization_id, data=data)


def renewal_due(subscription: Any, *, decide_by: datetime | None, kind: str) -> WebhookEvent | None:
    """The renewal reminder's moment (portal/subscriptions/reminders.py): `kind` d30 or d7."""
    data = subscription_data(subscription)
    data["renewal"] = {"renews_on": _day(subscription.term_end), "decide_by": _day(decide_by), "reminder": kind}
    return emit("subscription.renewal_due", organization_id=subscription.organization_id, data=data)


def ticket_replied(ticket: Any, message: Any) -> WebhookEvent | None:
    """Staff's reply the customer sees (never an internal note); the text itself stays in the portal."""
    data = {"ticket": {"id": ticket.id, "subject": ticket.subject, "status": str(ticket.status),
                       "message_id": message.id, "url": absolute_url("support.ticket", ticket_id=ticket.id)}}
    return emit("ticket.replied", organization_id=ticket.organization_id, data=data)
