"""Outgoing webhooks: a Master's endpoints, the outbox of events, and each event's delivery to each endpoint with
its attempts (the delivery log)."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.shared import clock
from portal.shared.dbtypes import UTCDateTime
from portal.shared.encryption import EncryptedText

# The events a Master may subscribe to (issue 18, point 5), with what the page calls them.
EVENT_TYPES = {
    "invoice.issued": _l("Fatura emitida"),
    "invoice.paid": _l("Fatura paga"),
    "invoice.overdue": _l("Fatura vencida"),
    "order.completed": _l("Pedido concluído"),
    "order.failed": _l("Pedido falhou"),
    "subscription.changed": _l("Licença alterada"),
    "subscription.renewal_due": _l("Renovação se aproximando"),
    "ticket.replied": _l("Chamado respondido pela equipe"),
}
TEST_EVENT = "webhook.test"  # sent by "Testar" to one endpoint, whatever it subscribes to
EVENT_LABELS = {**EVENT_TYPES, TEST_EVENT: _l("Teste")}


class DisabledReason(StrEnum):
    MASTER = "master"  # a Master turned it off
    FAILURES = "failures"  # every attempt of a delivery failed for about 3 days


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting for its next attempt (next_attempt_at)
    SENDING = "sending"  # claimed by one consumer until claimed_until (a crashed consumer's claim then lapses)
    SUCCEEDED = "succeeded"  # the receiver answered 2xx
    FAILED = "failed"  # no 2xx after the last retry (or the endpoint was deleted)


DELIVERY_STATUS_LABELS = {
    DeliveryStatus.PENDING: _l("aguardando nova tentativa"),
    DeliveryStatus.SENDING: _l("enviando"),
    DeliveryStatus.SUCCEEDED: _l("entregue"),
    DeliveryStatus.FAILED: _l("falhou"),
}


# Why an attempt got no HTTP answer (WebhookAttempt.error), as the delivery log says it.
ATTEMPT_ERRORS = {
    "address": _l("endereço recusado (não é público)"),
    "timeout": _l("sem resposta no prazo"),
    "connection": _l("conexão recusada ou interrompida"),
    "tls": _l("certificado HTTPS inválido"),
    "dns": _l("nome do servidor não encontrado"),
}


class WebhookEndpoint(db.Model):
    """An HTTPS address of the organization's own systems that receives the events it subscribes to, signed with
    its secret (Standard Webhooks: "whsec_" + base64 of 32 random bytes)."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(200), default="")
    events: Mapped[list[str]] = mapped_column(JSON)  # names from EVENT_TYPES, each once, in EVENT_TYPES' order
    # Signing needs the secret itself (HMAC), not a hash of it: kept encrypted with a key outside the database
    # (portal/shared/encryption.py). Never shown again after creation.
    secret: Mapped[str] = mapped_column(EncryptedText)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(12))  # DisabledReason while not enabled
    # Since when every attempt failed (None after a 2xx): a delivery whose retries run out in that streak disables it.
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    secret_rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def subscribes(self, event_type: str) -> bool:
        return event_type in (self.events or [])


class WebhookEvent(db.Model):
    """The outbox: one row per event, written in the transaction of what it announces, so a rolled-back change
    announces nothing and a committed one is delivered even if no consumer was up at the time. `fanned_out_at`
    is set, once, in the transaction that creates its deliveries."""

    __tablename__ = "webhook_events"
    __organization_data__ = False  # no read model of the organization reads the outbox (data_versions)
    __table_args__ = (
        Index("ix_webhook_events_pending", "fanned_out_at", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    type: Mapped[str] = mapped_column(String(40))
    message_id: Mapped[str] = mapped_column(String(40), unique=True)  # the `webhook-id` header, "msg_…"
    payload: Mapped[Any] = mapped_column(JSON)  # {"type", "timestamp", "data"}: the body sent, minus formatting
    # Only this endpoint (the "Testar" event); None: every enabled endpoint subscribing to `type`.
    endpoint_id: Mapped[int | None] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    # Makes an event once-only where the emitter cannot tell by itself ("invoice.overdue:<invoice id>").
    dedupe_key: Mapped[str | None] = mapped_column(String(80), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    fanned_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebhookDelivery(db.Model):
    """One event to one endpoint: pending until a 2xx, retried with backoff (`delivery.RETRY_DELAYS`). A consumer
    claims it by a conditional UPDATE (pending and due → sending), so two consumers never send the same attempt."""

    __tablename__ = "webhook_deliveries"
    __organization_data__ = False  # the delivery log: no read model of the organization reads it
    __table_args__ = (
        UniqueConstraint("event_id", "endpoint_id", name="uq_webhook_deliveries_event_endpoint"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("webhook_events.id", ondelete="CASCADE"), index=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(12), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # attempts made (claims taken)
    retry_base: Mapped[int] = mapped_column(Integer, default=0)  # `attempts` when "Reenviar" restarted the backoff
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    event: Mapped[WebhookEvent] = relationship()
    attempt_rows: Mapped[list["WebhookAttempt"]] = relationship(
        back_populates="delivery", order_by="WebhookAttempt.number", passive_deletes=True)


class WebhookAttempt(db.Model):
    """One try of a delivery: what the receiver answered (status and the first characters), or why nothing came."""

    __tablename__ = "webhook_attempts"
    __organization_data__ = False  # the delivery log
    __table_args__ = (
        UniqueConstraint("delivery_id", "number", name="uq_webhook_attempts_delivery_number"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)  # 1, 2, … within the delivery
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    status_code: Mapped[int | None] = mapped_column(Integer)  # None: no answer (refused, timeout, address refused)
    response_excerpt: Mapped[str] = mapped_column(Text, default="")  # at most RESPONSE_EXCERPT characters
    error: Mapped[str] = mapped_column(String(20), default="")  # why no answer came: a key of ATTEMPT_ERRORS
    detail: Mapped[str] = mapped_column(String(300), default="")  # the technical reason (staff, "Dados técnicos")

    delivery: Mapped[WebhookDelivery] = relationship(back_populates="attempt_rows")
