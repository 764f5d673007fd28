"""Cancellation requests: who asked, for what, why, and when (the record compliance audits)."""

from datetime import date, datetime
from enum import StrEnum

from flask_babel import lazy_gettext as _l
from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.cancellations.policy import MIN_REASON_LENGTH, ReasonCategory
from portal.extensions import db
from portal.shared import clock
from portal.shared.dbtypes import UTCDateTime

__all__ = ["MIN_REASON_LENGTH", "REASON_LABELS", "CancellationRequest", "CancellationStatus", "ReasonCategory"]


REASON_LABELS = {
    ReasonCategory.RESCISSION: _l("Rescisão de contrato"),
    ReasonCategory.COST: _l("Custo"),
    ReasonCategory.MIGRATION: _l("Migração para outro fornecedor"),
    ReasonCategory.NOT_USED: _l("Não utiliza mais"),
    ReasonCategory.OTHER: _l("Outro"),
}


class CancellationStatus(StrEnum):
    APPLIED = "applied"  # in force: licenses ended now and/or scheduled to end at their term end
    WITHDRAWN = "withdrawn"  # a rescission the Master withdrew before anything reached the provider


class CancellationRequest(db.Model):
    """A subscription reduced to zero, or a whole contract rescinded, with its mandatory reason: the record
    compliance audits. A rescission is one parent row (subscription_id None) and one child per subscription.

    Who, as what and from where is kept on the row itself (the audit event has it too, hash-chained)."""

    __tablename__ = "cancellation_requests"
    __table_args__ = (
        CheckConstraint(
            "category IN ('rescisao_contrato', 'custo', 'migracao_fornecedor', 'nao_utiliza', 'outro')",
            name="category_known",
        ),
        CheckConstraint("status IN ('applied', 'withdrawn')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    subscription_id: Mapped[int | None] = mapped_column(ForeignKey("subscriptions.id"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("cancellation_requests.id"), index=True)
    is_rescission: Mapped[bool] = mapped_column(Boolean, default=False)
    category: Mapped[str] = mapped_column(String(30))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default=CancellationStatus.APPLIED)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    requester_roles: Mapped[str] = mapped_column(String(60), default="")  # e.g. "adm" or "master,cobranca"
    ip: Mapped[str | None] = mapped_column(String(45))
    quote_id: Mapped[int | None] = mapped_column(ForeignKey("quotes.id"))
    # The subscription's licenses before, right after (licenses ended now), and the day the rest end.
    quantity_before: Mapped[int | None] = mapped_column(Integer)
    quantity_after: Mapped[int | None] = mapped_column(Integer)
    ends_on: Mapped[date | None] = mapped_column(Date)
    credit_cents: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, index=True)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    withdrawn_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    @property
    def category_label(self) -> str:
        return str(REASON_LABELS[ReasonCategory(self.category)])
