"""Tickets, their conversation (customer messages, staff replies, internal notes, status changes) and files."""

from datetime import datetime
from enum import StrEnum

from flask_babel import lazy_gettext as _l
from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.shared import clock
from portal.shared.dbtypes import UTCDateTime


class TicketStatus(StrEnum):
    OPEN = "open"  # "aberto": waiting for staff
    IN_PROGRESS = "in_progress"  # "em atendimento"
    WAITING_CUSTOMER = "waiting_customer"  # "aguardando cliente"
    RESOLVED = "resolved"  # "resolvido": staff considers it done; the customer may reopen
    CLOSED = "closed"  # "fechado"


TICKET_STATUS_LABELS = {
    TicketStatus.OPEN: _l("aberto"),
    TicketStatus.IN_PROGRESS: _l("em atendimento"),
    TicketStatus.WAITING_CUSTOMER: _l("aguardando cliente"),
    TicketStatus.RESOLVED: _l("resolvido"),
    TicketStatus.CLOSED: _l("fechado"),
}


class TicketPriority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


TICKET_PRIORITY_LABELS = {
    TicketPriority.LOW: _l("baixa"),
    TicketPriority.NORMAL: _l("normal"),
    TicketPriority.HIGH: _l("alta"),
    TicketPriority.URGENT: _l("urgente"),
}


class TicketCategory(StrEnum):
    TECHNICAL = "technical"
    LICENSES = "licenses"
    BILLING = "billing"
    BACKUP = "backup"
    OTHER = "other"


TICKET_CATEGORY_LABELS = {
    TicketCategory.TECHNICAL: _l("Suporte técnico"),
    TicketCategory.LICENSES: _l("Licenças e assinaturas"),
    TicketCategory.BILLING: _l("Faturas e pagamentos"),
    TicketCategory.BACKUP: _l("Backup em Nuvem"),
    TicketCategory.OTHER: _l("Outro assunto"),
}


class Ticket(db.Model):
    __tablename__ = "tickets"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'in_progress', 'waiting_customer', 'resolved', 'closed')",
                        name="status_known"),
        CheckConstraint("priority IN ('low', 'normal', 'high', 'urgent')", name="priority_known"),
        CheckConstraint("category IN ('technical', 'licenses', 'billing', 'backup', 'other')",
                        name="category_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # shown as "Chamado nº 123"
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    opened_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    category: Mapped[str] = mapped_column(String(20))
    priority: Mapped[str] = mapped_column(String(10))
    subject: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default=TicketStatus.OPEN, index=True)
    subscription_id: Mapped[int | None] = mapped_column(ForeignKey("subscriptions.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)  # a staff user
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the first staff reply
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    messages: Mapped[list["TicketMessage"]] = relationship(back_populates="ticket", order_by="TicketMessage.id")


class MessageKind(StrEnum):
    MESSAGE = "message"  # from the customer, or a staff reply: visible to the customer
    NOTE = "note"  # staff internal note: never shown to (nor e-mailed to) the customer
    STATUS = "status"  # a status change, with its old and new values in `body`


class TicketMessage(db.Model):
    __tablename__ = "ticket_messages"
    __organization_via__ = "ticket_id"  # its organization is that row's (data_versions)
    __table_args__ = (CheckConstraint("kind IN ('message', 'note', 'status')", name="kind_known"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(10))
    from_staff: Mapped[bool] = mapped_column(Boolean, default=False)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    ticket: Mapped[Ticket] = relationship(back_populates="messages")
    attachments: Mapped[list["TicketAttachment"]] = relationship(order_by="TicketAttachment.id")


class TicketAttachment(db.Model):
    """A file sent with a message; its bytes live in the document store (never under static/)."""

    __tablename__ = "ticket_attachments"
    __organization_via__ = "ticket_id"  # its organization is that row's (data_versions)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("ticket_messages.id"), index=True)
    filename: Mapped[str] = mapped_column(String(200))  # sanitised, as shown and downloaded
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)  # bytes
    sha256: Mapped[str] = mapped_column(String(64))  # StoredDocument
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
