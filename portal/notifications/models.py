"""The delivery log: every e-mail the portal sends, with its rendered content and what became of it."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.shared import clock
from portal.shared.dbtypes import UTCDateTime


class DeliveryStatus(StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"  # the last attempt failed; the job retries until its retries run out


class EmailDelivery(db.Model):
    __tablename__ = "email_deliveries"
    __organization_data__ = False  # no organization's read model reads it (data_versions)
    __table_args__ = (CheckConstraint("status IN ('queued', 'sent', 'failed')", name="status_known"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, index=True)
    template: Mapped[str] = mapped_column(String(80))  # templates/emails/<template>.{txt,html}
    to_address: Mapped[str] = mapped_column(String(1000))  # comma-separated
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    organization_id: Mapped[int | None] = mapped_column(Integer, index=True)
    message_id: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(10), default=DeliveryStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(1000))
    # [[file name, SHA-256 of a StoredDocument, content type], …]: loaded when the message is sent.
    attachments: Mapped[Any] = mapped_column(JSON, nullable=True)
