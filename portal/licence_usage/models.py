"""Snapshots of a tenant's licence use (append-only, one per reading), the Master's rules per SKU, and the monthly
e-mail's one row per organization and month."""

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.shared import clock
from portal.shared.dbtypes import UTCDateTime


class UsageSnapshot(db.Model):
    """One reading of a tenant (daily job or "Atualizar agora"), kept as it was read; the newest one is shown."""

    __tablename__ = "licence_usage_snapshots"
    __table_args__ = (CheckConstraint("status IN ('ok', 'consent_missing', 'error')", name="status_known"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    status: Mapped[str] = mapped_column(String(20))  # integrations.graph.UsageStatus
    reports_available: Mapped[bool] = mapped_column(Boolean, default=False)  # inactive users were read
    concealed: Mapped[bool] = mapped_column(Boolean, default=False)  # user names hidden by the tenant: counts only
    message: Mapped[str] = mapped_column(String(500), default="")  # Graph's words, for staff; never shown to customers
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # None: the daily job

    skus: Mapped[list["UsageSku"]] = relationship(order_by="UsageSku.id", cascade="all, delete-orphan")


class UsageSku(db.Model):
    """One SKU of a snapshot: licences (seats, whole units) bought, assigned, and assigned to inactive users."""

    __tablename__ = "licence_usage_skus"
    __organization_via__ = "snapshot_id"  # its organization is that row's (data_versions)
    __table_args__ = (
        CheckConstraint("enabled >= 0 AND consumed >= 0", name="counts_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    snapshot_id: Mapped[int] = mapped_column(ForeignKey("licence_usage_snapshots.id"), index=True)
    sku_id: Mapped[str] = mapped_column(String(36))  # Graph skuId, lower case
    part_number: Mapped[str] = mapped_column(String(60))
    enabled: Mapped[int] = mapped_column(Integer)  # prepaidUnits.enabled: bought
    consumed: Mapped[int] = mapped_column(Integer)  # consumedUnits: assigned
    inactive: Mapped[int | None] = mapped_column(Integer)  # holders inactive 30+ days; None without the reports
    # [[user principal name, last activity ISO date or None], ...]; empty when the tenant conceals names.
    inactive_users: Mapped[Any] = mapped_column(JSON, default=list)


class SkuRule(db.Model):
    """A Master's choice for one SKU of the organization: leave it out of "Uso de licenças", or keep `buffer` spare
    licences (never suggested for reduction nor counted in the monthly e-mail)."""

    __tablename__ = "licence_usage_rules"
    __table_args__ = (
        UniqueConstraint("organization_id", "sku_id", name="uq_licence_usage_rules_organization_sku"),
        CheckConstraint("buffer >= 0", name="buffer_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    sku_id: Mapped[str] = mapped_column(String(36))
    excluded: Mapped[bool] = mapped_column(Boolean, default=False)
    buffer: Mapped[int] = mapped_column(Integer, default=0)  # licences
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class UnusedLicencesEmail(db.Model):
    """The monthly e-mail of unassigned licences: at most one per organization and month (the unique row is taken
    before anything is queued, so a re-run or a second consumer sends nothing twice)."""

    __tablename__ = "licence_usage_emails"
    __table_args__ = (UniqueConstraint("organization_id", "month", name="uq_licence_usage_emails_organization_month"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    month: Mapped[date] = mapped_column(Date)  # the first day of the business month
    unused: Mapped[int] = mapped_column(Integer, default=0)  # licences listed
    monthly_cents: Mapped[int] = mapped_column(Integer, default=0)  # their cost per month
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
