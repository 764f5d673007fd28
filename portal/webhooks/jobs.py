"""Webhook jobs: an event's fan-out and first attempt right after its transaction commits, one delivery's attempt,
the minutely sweep (events a consumer missed, retries that came due, claims of consumers that died) and the daily
"invoice.overdue" check."""

from huey import crontab

from portal import jobs
from portal.jobs import periodic_task, task
from portal.shared import clock
from portal.webhooks import delivery, service


@task()
def deliver_event(event_id: int) -> int:
    """Fan the event out and queue an attempt per delivery; returns how many deliveries it made."""
    ids = delivery.fan_out(event_id)
    for delivery_id in ids:
        jobs.enqueue_now("webhooks.deliver", delivery_id)
    return len(ids)


@task()
def deliver(delivery_id: int) -> str:
    return delivery.send(delivery_id)


@periodic_task(crontab(minute="*"))
def sweep() -> dict[str, int]:
    """Every minute: events not fanned out yet, then every delivery whose attempt is due (each claimed once)."""
    events = delivery.pending_events()
    for event_id in events:
        jobs.enqueue_now("webhooks.deliver_event", event_id)
    due = delivery.due_deliveries(clock.now())
    for delivery_id in due:
        jobs.enqueue_now("webhooks.deliver", delivery_id)
    return {"events": len(events), "deliveries": len(due)}


@periodic_task(crontab(hour="9", minute="20"))
def announce_overdue() -> int:
    """Every day: "invoice.overdue" for invoices that fell due (once each)."""
    return service.announce_overdue(today=clock.today())
