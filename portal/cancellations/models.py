"""Cancellation requests: who asked, for what, why, and when (the record compliance audits)."""

from datetime import datetime
from enum import StrEnum

from flask_babel import lazy_gettext as _l
from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.shared import clock
from portal.shared.dbtypes import UTCDateTime


class ReasonCategory(StrEnum):
    RESCISSION = "rescisao_contrato"
    COST = "custo"
    MIGRATION = "migracao_fornecedor"
    NOT_USED = "nao_utiliza"
    OTHER = "outro"


REASON_LABELS = {
    ReasonCategory.RESCISSION: _l("Rescisão de contrato"),
    ReasonCategory.COST: _l("Custo"),
    ReasonCategory.MIGRATION: _l("Migração para outro fornecedor"),
    ReasonCategory.NOT_USED: _l("Não utiliza mais"),
    ReasonCategory.OTHER: _l("Outro"),
}

# The free text must say something: at least this many characters (after trimming).
MIN_REASON_LENGTH = 20


class CancellationRequest(db.Model):
    """A subscription reduced to zero (or a whole contract rescinded), with its mandatory reason."""

    __tablename__ = "cancellation_requests"
    __table_args__ = (
        CheckConstraint(
            "category IN ('rescisao_contrato', 'custo', 'migracao_fornecedor', 'nao_utiliza', 'outro')",
            name="category_known",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    subscription_id: Mapped[int | None] = mapped_column(ForeignKey("subscriptions.id"), index=True)
    category: Mapped[str] = mapped_column(String(30))
    reason: Mapped[str] = mapped_column(Text)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    quote_id: Mapped[int | None] = mapped_column(ForeignKey("quotes.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, index=True)

    @property
    def category_label(self) -> str:
        return str(REASON_LABELS[ReasonCategory(self.category)])
