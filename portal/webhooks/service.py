"""A Master's webhook endpoints (Integrações → Webhooks): register, rotate the secret, turn on and off, delete,
send a test event, send a delivery again; the delivery log; and the daily "invoice.overdue" check.

Every change is audited. An endpoint's secret is returned once, by `create_endpoint` and `rotate_secret`, for the
page to show; it is never shown again. Another organization's endpoint is NotFound.
"""

import base64
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import String, cast, func, select
from sqlalchemy.exc import IntegrityError

from portal import jobs
from portal.accounts.models import Organization
from portal.billing.models import Invoice, InvoiceKind, InvoiceStatus
from portal.extensions import db
from portal.shared import clock
from portal.shared.audit import Actor, AuditTag, record
from portal.shared.errors import NotFound, ServiceError
from portal.webhooks import addresses, outbox
from portal.webhooks.models import (
    EVENT_TYPES,
    TEST_EVENT,
    DeliveryStatus,
    DisabledReason,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)

MAX_ENDPOINTS = 10  # per organization
MAX_DESCRIPTION = 200
LOG_PAGE = 50
OVERDUE_CATCH_UP_DAYS = 3  # invoices that fell due in the last 3 days are announced (a missed day is caught up)


def _address_message(reason: str) -> str:
    return {
        "format": _("Informe um endereço completo, como https://erp.suaempresa.com.br/webhooks/portal."),
        "scheme": _("O endereço deve começar com https://."),
        "credentials": _("Não coloque usuário e senha no endereço: use o segredo do webhook para autenticar."),
        "dns": _("Não encontramos esse servidor. Confira o endereço."),
        "private": _("Esse endereço aponta para uma rede privada ou local. Use um endereço público na internet."),
    }.get(reason, _("Endereço inválido."))


def new_secret() -> str:
    """Standard Webhooks' form: "whsec_" and the base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def allow_loopback() -> bool:
    return bool(current_app.config["WEBHOOKS_ALLOW_LOOPBACK"])


# ---------------------------------------------------------------- reading


def endpoints_of(organization_id: int) -> list[WebhookEndpoint]:
    return list(db.session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.organization_id == organization_id)
                                   .order_by(WebhookEndpoint.id)))


def endpoint_for(organization_id: int, endpoint_id: int, *, lock: bool = False) -> WebhookEndpoint:
    query = select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id,
                                          WebhookEndpoint.organization_id == organization_id)
    endpoint = db.session.scalar(query.with_for_update() if lock else query)
    if endpoint is None:
        raise NotFound(_("Webhook não encontrado."))
    return endpoint


@dataclass(frozen=True)
class LogLine:
    """One attempt of the delivery log (or a delivery not tried yet: attempt None)."""

    delivery: WebhookDelivery
    event: WebhookEvent
    attempt: WebhookAttempt | None

    @property
    def latest(self) -> bool:
        """The delivery's last attempt (where "Reenviar" goes)."""
        return self.attempt is None or self.attempt.number == self.delivery.attempts


def delivery_log(endpoint: WebhookEndpoint, *, page: int = 1) -> tuple[list[LogLine], bool]:
    """The endpoint's attempts, newest first, LOG_PAGE a page; and whether there is a next page."""
    rows = db.session.execute(
        select(WebhookDelivery, WebhookEvent, WebhookAttempt)
        .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
        .outerjoin(WebhookAttempt, WebhookAttempt.delivery_id == WebhookDelivery.id)
        .where(WebhookDelivery.endpoint_id == endpoint.id)
        .order_by(func.coalesce(WebhookAttempt.started_at, WebhookDelivery.created_at).desc(),
                  WebhookDelivery.id.desc(), WebhookAttempt.number.desc())
        .limit(LOG_PAGE + 1).offset((max(page, 1) - 1) * LOG_PAGE)
    ).all()
    lines = [LogLine(delivery, event, attempt) for delivery, event, attempt in rows[:LOG_PAGE]]
    return lines, len(rows) > LOG_PAGE


# ---------------------------------------------------------------- changes


def _checked_events(events: list[str]) -> list[str]:
    chosen = [name for name in EVENT_TYPES if name in set(events or [])]
    if not chosen or len(chosen) != len(set(events)):
        raise ServiceError(_("Escolha pelo menos um evento."), field="events")
    return chosen


def _checked_url(url: str) -> str:
    url = (url or "").strip()
    try:
        addresses.check_url(url, allow_loopback=allow_loopback())
    except addresses.AddressRefused as exc:
        raise ServiceError(_address_message(exc.reason), field="url") from None
    return url


def create_endpoint(organization: Organization, *, url: str, description: str, events: list[str],
                    actor: Actor) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint (enabled); returns it and its secret, to be shown once. Commits."""
    description = (description or "").strip()
    if len(description) > MAX_DESCRIPTION:
        raise ServiceError(_("Use no máximo %(max)d caracteres.", max=MAX_DESCRIPTION), field="description")
    chosen = _checked_events(events)
    url = _checked_url(url)
    count = db.session.scalar(select(func.count(WebhookEndpoint.id))
                              .where(WebhookEndpoint.organization_id == organization.id))
    if count >= MAX_ENDPOINTS:
        raise ServiceError(_("A organização já tem %(max)d webhooks. Exclua um antes de cadastrar outro.",
                             max=MAX_ENDPOINTS))
    secret = new_secret()
    endpoint = WebhookEndpoint(organization_id=organization.id, url=url, description=description, events=chosen,
                               secret=secret, enabled=True, created_at=clock.now(), created_by_id=actor.user_id)
    db.session.add(endpoint)
    db.session.flush()
    record(AuditTag.WEBHOOK_ENDPOINT_CREATED, actor=actor, organization_id=organization.id,
           subject=f"webhook_endpoint:{endpoint.id}",
           after={"url": url, "description": description, "events": chosen})
    db.session.commit()
    return endpoint, secret


def rotate_secret(endpoint: WebhookEndpoint, *, actor: Actor) -> str:
    """A new secret at once (the old one no longer signs anything); returned to be shown once. Commits."""
    endpoint = endpoint_for(endpoint.organization_id, endpoint.id, lock=True)
    secret = new_secret()
    endpoint.secret = secret
    endpoint.secret_rotated_at = clock.now()
    record(AuditTag.WEBHOOK_SECRET_ROTATED, actor=actor, organization_id=endpoint.organization_id,
           subject=f"webhook_endpoint:{endpoint.id}", after={"url": endpoint.url})
    db.session.commit()
    return secret


def set_enabled(endpoint: WebhookEndpoint, enabled: bool, *, actor: Actor) -> WebhookEndpoint:
    """Turn it on (its pending deliveries are tried again now, its failure streak forgotten) or off. Commits."""
    endpoint = endpoint_for(endpoint.organization_id, endpoint.id, lock=True)
    if endpoint.enabled == enabled:
        db.session.rollback()
        return endpoint
    if enabled:
        _checked_url(endpoint.url)  # the name may resolve elsewhere now
    before = {"enabled": endpoint.enabled, "reason": endpoint.disabled_reason}
    endpoint.enabled = enabled
    endpoint.disabled_reason = None if enabled else DisabledReason.MASTER
    if enabled:
        endpoint.failing_since = None
        now = clock.now()
        for delivery in db.session.scalars(select(WebhookDelivery).where(
                WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.status == DeliveryStatus.PENDING)):
            delivery.next_attempt_at = now
        jobs.enqueue("webhooks.sweep")
    record(AuditTag.WEBHOOK_ENDPOINT_ENABLED if enabled else AuditTag.WEBHOOK_ENDPOINT_DISABLED, actor=actor,
           organization_id=endpoint.organization_id, subject=f"webhook_endpoint:{endpoint.id}", before=before,
           after={"url": endpoint.url, "enabled": enabled,
                  **({} if enabled else {"reason": str(DisabledReason.MASTER)})})
    db.session.commit()
    return endpoint


def delete_endpoint(endpoint: WebhookEndpoint, *, actor: Actor) -> None:
    """Delete it with its delivery log. Commits."""
    endpoint = endpoint_for(endpoint.organization_id, endpoint.id, lock=True)
    record(AuditTag.WEBHOOK_ENDPOINT_DELETED, actor=actor, organization_id=endpoint.organization_id,
           subject=f"webhook_endpoint:{endpoint.id}", before={"url": endpoint.url, "events": endpoint.events})
    for delivery in db.session.scalars(select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)):
        db.session.delete(delivery)
    for event in db.session.scalars(select(WebhookEvent).where(WebhookEvent.endpoint_id == endpoint.id)):
        db.session.delete(event)
    db.session.delete(endpoint)
    db.session.commit()


def send_test(endpoint: WebhookEndpoint, *, actor: Actor) -> WebhookEvent:
    """A `webhook.test` event to this endpoint only, sent right after the commit (tried once). Commits."""
    endpoint = endpoint_for(endpoint.organization_id, endpoint.id)
    if not endpoint.enabled:
        raise ServiceError(_("Ative o webhook antes de testá-lo."))
    event = outbox.emit(TEST_EVENT, organization_id=endpoint.organization_id, endpoint_id=endpoint.id,
                        data={"endpoint_id": endpoint.id, "message": "Teste de webhook do portal"})
    db.session.commit()
    return event


def resend(endpoint: WebhookEndpoint, delivery_id: int, *, actor: Actor) -> WebhookDelivery:
    """Send a delivery again now, the same message (same `webhook-id`), with a fresh round of retries. Commits."""
    endpoint = endpoint_for(endpoint.organization_id, endpoint.id)
    delivery = db.session.scalar(select(WebhookDelivery).where(WebhookDelivery.id == delivery_id,
                                                               WebhookDelivery.endpoint_id == endpoint.id)
                                 .with_for_update())
    if delivery is None:
        raise NotFound(_("Entrega não encontrada."))
    if not endpoint.enabled:
        raise ServiceError(_("Ative o webhook antes de reenviar."))
    if delivery.status == DeliveryStatus.SENDING:
        raise ServiceError(_("Esta entrega está sendo enviada agora. Aguarde o resultado."))
    delivery.status = DeliveryStatus.PENDING
    delivery.retry_base = delivery.attempts
    delivery.next_attempt_at = clock.now()
    jobs.enqueue("webhooks.deliver", delivery.id)
    db.session.commit()
    return delivery


# ---------------------------------------------------------------- invoice.overdue


def announce_overdue(*, today: date) -> int:
    """Write "invoice.overdue" for each open regular invoice that fell due in the last days and is not announced
    yet (once per invoice: the event's dedupe key), for organizations whose endpoints want it. Commits."""
    earliest = today - timedelta(days=OVERDUE_CATCH_UP_DAYS)
    endpoints = db.session.execute(select(WebhookEndpoint.organization_id, WebhookEndpoint.events)
                                   .where(WebhookEndpoint.enabled.is_(True))).all()
    organizations = sorted({org for org, events in endpoints if "invoice.overdue" in (events or [])})
    if not organizations:
        db.session.rollback()
        return 0
    announced = select(WebhookEvent.dedupe_key).where(WebhookEvent.dedupe_key.like("invoice.overdue:%"))
    invoices = list(db.session.scalars(
        select(Invoice).where(Invoice.organization_id.in_(organizations), Invoice.status == InvoiceStatus.OPEN,
                              Invoice.kind == InvoiceKind.REGULAR, Invoice.due_date < today,
                              Invoice.due_date >= earliest,
                              ("invoice.overdue:" + cast(Invoice.id, String)).not_in(announced))
        .order_by(Invoice.id)))
    count = 0
    for invoice in invoices:
        if outbox.invoice_overdue(invoice) is not None:
            count += 1
    try:
        db.session.commit()
    except IntegrityError:  # another consumer announced them at the same moment
        db.session.rollback()
        return 0
    return count


def last_attempt_at(endpoint: WebhookEndpoint) -> datetime | None:
    return db.session.scalar(select(func.max(WebhookAttempt.started_at)).join(WebhookDelivery)
                             .where(WebhookDelivery.endpoint_id == endpoint.id))
