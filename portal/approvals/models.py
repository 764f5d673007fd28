"""Approvals inside the customer: the Master's approval rules (one row per organization) and the purchases and
increases an Adm confirmed that wait for a Master's decision."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import User
from portal.extensions import db
from portal.shared import clock
from portal.shared.dbtypes import UTCDateTime
from portal.subscriptions.models import Quote


class ApprovalRule(db.Model):
    """What makes an Adm's purchase or increase wait for a Master: any of the thresholds exceeded (None: that
    threshold is off), or a product of a family the organization has no subscription of (`new_family`)."""

    __tablename__ = "approval_rules"
    __table_args__ = (
        CheckConstraint("monthly_threshold_cents IS NULL OR monthly_threshold_cents >= 0", name="monthly_positive"),
        CheckConstraint("one_off_threshold_cents IS NULL OR one_off_threshold_cents >= 0", name="one_off_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), unique=True)
    # centavos a month the quote adds (annual prices as twelfths); waits when the added value is above it
    monthly_threshold_cents: Mapped[int | None] = mapped_column(Integer)
    # centavos of the quote's one-off pró-rata charge (next invoice); waits when the charge is above it
    one_off_threshold_cents: Mapped[int | None] = mapped_column(Integer)
    new_family: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class ApprovalStatus(StrEnum):
    WAITING = "waiting"  # "aguardando aprovação": nothing ordered yet
    APPROVED = "approved"  # a Master approved it and the quote was confirmed (its orders exist)
    REFUSED = "refused"  # a Master refused it, with a comment
    WITHDRAWN = "withdrawn"  # the requester gave it up
    EXPIRED = "expired"  # nobody decided within APPROVAL_EXPIRY_DAYS


APPROVAL_STATUS_LABELS = {
    ApprovalStatus.WAITING: _l("aguardando aprovação"),
    ApprovalStatus.APPROVED: _l("aprovada"),
    ApprovalStatus.REFUSED: _l("recusada"),
    ApprovalStatus.WITHDRAWN: _l("retirada"),
    ApprovalStatus.EXPIRED: _l("expirada"),
}


class ApprovalRequest(db.Model):
    """An Adm's confirmed quote held for a Master. Decided once: the status leaves `waiting` by a conditional
    UPDATE, so of two Masters pressing at once one wins."""

    __tablename__ = "approval_requests"
    __table_args__ = (
        CheckConstraint("status IN ('waiting', 'approved', 'refused', 'withdrawn', 'expired')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    # The quote the decision confirms: the Adm's, or the one a stale quote was re-priced into (shown again).
    quote_id: Mapped[int] = mapped_column(ForeignKey("quotes.id"), unique=True)
    # The quote the Adm confirmed (== quote_id until a re-pricing): confirming it again finds this request.
    original_quote_id: Mapped[int] = mapped_column(ForeignKey("quotes.id"), unique=True)
    # Why it waits: [{"rule": "monthly" | "one_off" | "new_family", "limit_cents": int | None, "value_cents":
    # int | None, "families": [names]}], as checked when the Adm confirmed.
    reasons: Mapped[Any] = mapped_column(JSON)
    monthly_cents: Mapped[int] = mapped_column(Integer)  # centavos a month the quote adds
    status: Mapped[str] = mapped_column(String(10), default=ApprovalStatus.WAITING, index=True)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)  # created_at + APPROVAL_EXPIRY_DAYS
    repriced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # last time a stale quote was re-priced
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    comment: Mapped[str] = mapped_column(Text, default="")  # the Master's (required to refuse)

    quote: Mapped[Quote] = relationship(foreign_keys=[quote_id])
    requested_by: Mapped[User] = relationship(foreign_keys=[requested_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
