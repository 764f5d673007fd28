"""Delivering the outbox: each event fanned out once to the endpoints that want it, each delivery claimed by one
consumer, signed (Standard Webhooks, with the `standardwebhooks` library), sent, and retried with backoff.

Claiming is a conditional UPDATE (pending and due, or a lapsed claim → sending, attempts + 1) committed before the
request goes out: on PostgreSQL the second consumer's UPDATE waits for the first one's commit and then matches
no row; on SQLite the write lock does the same. So two consumers never send the same attempt; a consumer that dies
while sending leaves a claim that lapses after `claim_seconds()` (5 minutes) and the sweep makes the attempt again.

Retries: 5 s, 5 min, 30 min, 2 h, 5 h, then 10 h six times — 12 attempts over about 2.8 days. When the last
one fails and the endpoint has answered nothing but failures for that long, it is disabled, audited and its
organization's Masters are e-mailed. The "Testar" event is tried once: its answer is shown at once.
"""

import json
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import and_, or_, select, update
from standardwebhooks import Webhook

from portal.accounts.models import Membership, MembershipRole, Organization, User
from portal.accounts.roles import Role
from portal.extensions import db
from portal.integrations import webhook_http
from portal.notifications.service import queue_email
from portal.shared import clock
from portal.shared.audit import Actor, AuditTag, record
from portal.shared.links import absolute_url
from portal.webhooks import addresses
from portal.webhooks.models import (
    TEST_EVENT,
    DeliveryStatus,
    DisabledReason,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)

SYSTEM = Actor.system("webhooks")
RETRY_DELAYS = (timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2),
                timedelta(hours=5), *(timedelta(hours=10),) * 6)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
RETRY_SPAN = sum(RETRY_DELAYS, timedelta())  # ≈ 67.6 h: failing this long, with a delivery exhausted, disables
RESPONSE_EXCERPT = 500  # characters of an answer's body kept in the log
SWEEP_BATCH = 500


def claim_seconds() -> float:
    """How long a claim holds: well past the longest a request can take (connect + read timeouts, and a server
    trickling its headers), so a live consumer's attempt is never taken over; a dead one's waits this long."""
    return max(300.0, 4 * current_app.config["WEBHOOKS_TIMEOUT"])


# ---------------------------------------------------------------- fan-out


def fan_out(event_id: int) -> list[int]:
    """Create the event's deliveries (once, whoever runs it) and return their ids. Commits."""
    now = clock.now()
    taken = db.session.execute(update(WebhookEvent).where(WebhookEvent.id == event_id,
                                                          WebhookEvent.fanned_out_at.is_(None))
                               .values(fanned_out_at=now)).rowcount
    if not taken:
        db.session.rollback()
        return []
    event = db.session.get(WebhookEvent, event_id)
    query = select(WebhookEndpoint).where(WebhookEndpoint.organization_id == event.organization_id)
    if event.endpoint_id is not None:
        endpoints = list(db.session.scalars(query.where(WebhookEndpoint.id == event.endpoint_id)))
    else:
        endpoints = [endpoint for endpoint in db.session.scalars(query.where(WebhookEndpoint.enabled.is_(True))
                                                                  .order_by(WebhookEndpoint.id))
                     if endpoint.subscribes(event.type)]
    deliveries = [WebhookDelivery(event_id=event.id, endpoint_id=endpoint.id, status=DeliveryStatus.PENDING,
                                  next_attempt_at=now, created_at=now) for endpoint in endpoints]
    db.session.add_all(deliveries)
    db.session.flush()
    ids = [delivery.id for delivery in deliveries]  # read before the commit: no transaction is left open after it
    db.session.commit()
    return ids


def pending_events(limit: int = SWEEP_BATCH) -> list[int]:
    """Events no fan-out took yet (its job was lost, or queued while no consumer ran). Ends its transaction."""
    ids = list(db.session.scalars(select(WebhookEvent.id).where(WebhookEvent.fanned_out_at.is_(None))
                                  .order_by(WebhookEvent.id).limit(limit)))
    db.session.rollback()
    return ids


def _claimable(now: datetime):
    enabled = select(WebhookEndpoint.id).where(WebhookEndpoint.enabled.is_(True))
    return and_(WebhookDelivery.endpoint_id.in_(enabled),
                or_(and_(WebhookDelivery.status == DeliveryStatus.PENDING, WebhookDelivery.next_attempt_at <= now),
                    and_(WebhookDelivery.status == DeliveryStatus.SENDING, WebhookDelivery.claimed_until < now)))


def due_deliveries(now: datetime, limit: int = SWEEP_BATCH) -> list[int]:
    """Deliveries whose next attempt is due, or whose consumer's claim lapsed. Ends its transaction."""
    ids = list(db.session.scalars(select(WebhookDelivery.id).where(_claimable(now))
                                  .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id).limit(limit)))
    db.session.rollback()
    return ids


# ---------------------------------------------------------------- one attempt


def claim(delivery_id: int, now: datetime) -> bool:
    """Take the delivery's next attempt for this consumer (True), or learn that it is not due or someone else has
    it (False). Commits."""
    taken = db.session.execute(
        update(WebhookDelivery).where(WebhookDelivery.id == delivery_id, _claimable(now))
        .values(status=DeliveryStatus.SENDING, attempts=WebhookDelivery.attempts + 1,
                claimed_until=now + timedelta(seconds=claim_seconds()))
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return bool(taken)


def signed_request(endpoint: WebhookEndpoint, event: WebhookEvent, at: datetime) -> tuple[bytes, dict[str, str]]:
    """The body and headers of an attempt: the same `webhook-id` every time, the attempt's own timestamp."""
    body = json.dumps(event.payload, separators=(",", ":"), ensure_ascii=False).encode()
    signature = Webhook(endpoint.secret).sign(event.message_id, at, body)
    return body, {
        "Content-Type": "application/json",
        "User-Agent": "Portal-Webhooks/1.0",
        "webhook-id": event.message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }


def send(delivery_id: int) -> str:
    """Claim and make the delivery's next attempt, then record it: succeeded, retry scheduled, failed. Commits."""
    if not claim(delivery_id, clock.now()):
        return "not claimed"
    delivery = db.session.get(WebhookDelivery, delivery_id, populate_existing=True)
    endpoint = db.session.get(WebhookEndpoint, delivery.endpoint_id) if delivery is not None else None
    if delivery is None or endpoint is None:  # deleted since the claim
        db.session.rollback()
        return "gone"
    event = delivery.event
    allow_loopback = current_app.config["WEBHOOKS_ALLOW_LOOPBACK"]
    started = clock.now()
    body, headers = signed_request(endpoint, event, started)
    url, number = endpoint.url, delivery.attempts
    db.session.rollback()  # nothing held open while waiting on the network
    status, excerpt, error, detail, elapsed = None, "", "", "", 0
    try:
        addresses.check_url(url, allow_loopback=allow_loopback)  # resolved again: DNS rebinding
        answer = webhook_http.post(url, body, headers, timeout=current_app.config["WEBHOOKS_TIMEOUT"],
                                   peer_allowed=lambda ip: addresses.ip_allowed(ip, allow_loopback=allow_loopback))
    except addresses.AddressRefused as exc:
        error, detail = ("dns" if exc.reason == "dns" else "address"), str(exc)
    except webhook_http.SendError as exc:
        error, detail = exc.kind, exc.detail
    else:
        status, elapsed = answer.status, answer.elapsed_ms
        # PostgreSQL text holds no NUL: a binary answer is kept without them
        excerpt = answer.body.decode("utf-8", errors="replace").replace("\x00", "")[:RESPONSE_EXCERPT]
    return _record(delivery_id, number=number, started=started, status=status, excerpt=excerpt, error=error,
                   detail=detail, elapsed=elapsed)


def _record(delivery_id: int, *, number: int, started: datetime, status: int | None, excerpt: str, error: str,
            detail: str, elapsed: int) -> str:
    now = clock.now()
    delivery = db.session.get(WebhookDelivery, delivery_id, populate_existing=True)
    endpoint = db.session.get(WebhookEndpoint, delivery.endpoint_id, populate_existing=True) if delivery else None
    if delivery is None or endpoint is None:  # deleted meanwhile
        db.session.rollback()
        return "gone"
    db.session.add(WebhookAttempt(delivery_id=delivery.id, number=number, started_at=started,
                                  duration_ms=elapsed or int((now - started).total_seconds() * 1000),
                                  status_code=status, response_excerpt=excerpt, error=error, detail=detail[:300]))
    delivery.claimed_until = None
    if status is not None and 200 <= status < 300:
        delivery.status = DeliveryStatus.SUCCEEDED
        delivery.delivered_at = now
        delivery.next_attempt_at = None
        endpoint.failing_since = None
        db.session.commit()
        return "succeeded"
    is_test = delivery.event.type == TEST_EVENT
    if not is_test and endpoint.failing_since is None:
        endpoint.failing_since = started
    retry = delivery.attempts - delivery.retry_base - 1  # the index of the delay before the next attempt
    if not is_test and retry < len(RETRY_DELAYS):
        delivery.status = DeliveryStatus.PENDING
        delivery.next_attempt_at = now + RETRY_DELAYS[retry]
        db.session.commit()
        return "retry"
    delivery.status = DeliveryStatus.FAILED
    delivery.next_attempt_at = None
    if not is_test and endpoint.failing_since is not None and now - endpoint.failing_since >= RETRY_SPAN:
        _disable_for_failures(endpoint, now)
    db.session.commit()
    return "failed"


def _masters(organization_id: int) -> list[User]:
    return list(db.session.scalars(
        select(User).join(Membership, Membership.user_id == User.id).join(MembershipRole)
        .where(Membership.organization_id == organization_id, Membership.active.is_(True),
               Membership.accepted_at.is_not(None), User.active.is_(True), MembershipRole.role == Role.MASTER)
        .distinct().order_by(User.id)))


def _disable_for_failures(endpoint: WebhookEndpoint, now: datetime) -> None:
    """Turn the endpoint off (once, whoever gets here), audit it and e-mail the organization's Masters."""
    turned_off = db.session.execute(
        update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint.id, WebhookEndpoint.enabled.is_(True))
        .values(enabled=False, disabled_reason=DisabledReason.FAILURES)
        .execution_options(organization_ids=[endpoint.organization_id], synchronize_session=False)
    ).rowcount
    if not turned_off:
        return
    record(AuditTag.WEBHOOK_ENDPOINT_DISABLED, actor=SYSTEM, organization_id=endpoint.organization_id,
           subject=f"webhook_endpoint:{endpoint.id}",
           after={"url": endpoint.url, "reason": str(DisabledReason.FAILURES),
                  "failing_since": endpoint.failing_since.isoformat()})
    organization = db.session.get(Organization, endpoint.organization_id)
    url = absolute_url("webhook_endpoints.endpoint", endpoint_id=endpoint.id)
    language = current_app.config["BABEL_DEFAULT_LOCALE"]
    for person in _masters(endpoint.organization_id):
        queue_email("webhook_disabled", to=[person.email],
                    subject_fn=lambda: _("Webhook desativado: %(url)s não responde", url=endpoint.url[:80]),
                    context={"person": person, "organization": organization, "endpoint": endpoint,
                             "failing_since": endpoint.failing_since, "url": url},
                    language=person.language or language, organization_id=endpoint.organization_id)
