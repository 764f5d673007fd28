"""Agreement versions and their acceptances (by a Master in the portal) or attestations (by staff)."""

from datetime import date, datetime
from enum import StrEnum

from flask_babel import lazy_gettext as _l
from sqlalchemy import CheckConstraint, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.shared import clock
from portal.shared.dbtypes import UTCDateTime


class AgreementKind(StrEnum):
    MICROSOFT = "microsoft_mca"  # the Microsoft Customer Agreement (attested to Partner Center too)
    RESELLER = "reseller_terms"  # the reseller's own terms of service


AGREEMENT_KIND_LABELS = {
    AgreementKind.MICROSOFT: _l("Contrato de Cliente Microsoft (MCA)"),
    AgreementKind.RESELLER: _l("Termos de serviço do revendedor"),
}


class AgreementVersion(db.Model):
    """A version of an agreement; the current one of a kind is the latest effective on or before today."""

    __tablename__ = "agreement_versions"
    __organization_data__ = "global"  # read by every organization (data_versions.GLOBAL)
    __table_args__ = (
        CheckConstraint("kind IN ('microsoft_mca', 'reseller_terms')", name="kind_known"),
        UniqueConstraint("kind", "effective_from", name="uq_agreement_versions_kind_day"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")  # the text shown to the Master (or a summary)
    pdf_sha256: Mapped[str | None] = mapped_column(String(64))  # the full document (StoredDocument), if any
    link: Mapped[str | None] = mapped_column(String(300))  # e.g. https://aka.ms/customeragreement
    effective_from: Mapped[date] = mapped_column(Date)
    provider_template_id: Mapped[str | None] = mapped_column(String(60))  # Partner Center templateId (MCA)
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)


class AcceptanceMethod(StrEnum):
    ACCEPTED = "accepted"  # a Master accepted it in the portal
    ATTESTED = "attested"  # staff attested the customer's acceptance on its behalf


class AgreementAcceptance(db.Model):
    """Who accepted which version for an organization, when and from where (append-only)."""

    __tablename__ = "agreement_acceptances"
    __table_args__ = (
        CheckConstraint("method IN ('accepted', 'attested')", name="method_known"),
        CheckConstraint("provider_status IN ('not_needed', 'pending', 'done', 'failed')",
                        name="provider_status_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("agreement_versions.id"), index=True)
    method: Mapped[str] = mapped_column(String(10))
    # The person who accepted (the Master, or the customer contact named in an attestation).
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(254))
    phone: Mapped[str] = mapped_column(String(30), default="")
    accepted_on: Mapped[date] = mapped_column(Date)  # business date of the acceptance (never in the future)
    accepted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)  # when it was recorded
    ip: Mapped[str | None] = mapped_column(String(45))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # the Master or the staff user
    # Microsoft Customer Agreement attestations are also sent to Partner Center.
    provider_status: Mapped[str] = mapped_column(String(12), default="not_needed")
    provider_error: Mapped[str | None] = mapped_column(Text)
    contact_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # e-mail to the primary contact

    version: Mapped[AgreementVersion] = relationship()
