"""An organization's monthly budgets (the whole organization, and optionally per product family) and the budget
e-mails already sent, one row per (organization, month, family or none, kind)."""

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.shared import clock
from portal.shared.dbtypes import UTCDateTime

_ORGANIZATION_WIDE = text("family_id IS NULL")


class Budget(db.Model):
    """A monthly budget, in centavos: the organization's (family_id NULL) or one product family's. The same amount
    every calendar month (America/Sao_Paulo) until the Master changes or removes it."""

    __tablename__ = "budgets"
    __table_args__ = (
        UniqueConstraint("organization_id", "family_id", name="uq_budgets_org_family"),
        # NULLs are distinct in a unique constraint: the organization-wide budget has its own unique index.
        Index("uq_budgets_org_wide", "organization_id", unique=True, sqlite_where=_ORGANIZATION_WIDE,
              postgresql_where=_ORGANIZATION_WIDE),
        CheckConstraint("amount_cents > 0", name="amount_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    family_id: Mapped[int | None] = mapped_column(ForeignKey("product_families.id"))
    amount_cents: Mapped[int] = mapped_column(Integer)  # per calendar month, > 0
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class AlertKind(StrEnum):
    FORECAST = "forecast"  # the month's forecast went over the budget
    ACTUAL_80 = "actual_80"  # spend to date reached 80 % of the budget
    ACTUAL_100 = "actual_100"  # spend to date reached the budget


class BudgetAlert(db.Model):
    """A budget e-mail sent (or superseded by a graver one sent at the same time): once per organization, month,
    family (NULL: the organization's budget) and kind, however often and on however many consumers the job runs."""

    __tablename__ = "budget_alerts"
    __table_args__ = (
        UniqueConstraint("organization_id", "month", "family_id", "kind", name="uq_budget_alerts_once"),
        Index("uq_budget_alerts_org_wide_once", "organization_id", "month", "kind", unique=True,
              sqlite_where=_ORGANIZATION_WIDE, postgresql_where=_ORGANIZATION_WIDE),
        CheckConstraint("kind IN ('forecast', 'actual_80', 'actual_100')", name="kind_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    month: Mapped[date] = mapped_column(Date)  # the month's first day
    family_id: Mapped[int | None] = mapped_column(ForeignKey("product_families.id"))
    kind: Mapped[str] = mapped_column(String(12))
    budget_cents: Mapped[int] = mapped_column(Integer)  # what the budget, spend and forecast were when it went
    spend_cents: Mapped[int] = mapped_column(Integer)
    forecast_cents: Mapped[int] = mapped_column(Integer)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
