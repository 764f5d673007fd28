"""Co-sell deals, modelled on Partner Center's referrals: type, direction, stages, team, solutions, favourites."""

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.shared import clock
from portal.shared.dbtypes import UTCDateTime


class DealType(StrEnum):
    IP_COSELL = "ip_cosell"  # co-sell de IP
    SERVICES_COSELL = "services_cosell"  # co-sell de serviços
    P2P = "p2p"  # parceiro a parceiro
    PARTNER_LED = "partner_led"  # liderado por parceiro
    PRIVATE = "private"  # privado
    SOLUTION_ASSESSMENT = "solution_assessment"  # avaliação de solução


DEAL_TYPE_LABELS = {
    DealType.IP_COSELL: _l("Co-sell de IP"),
    DealType.SERVICES_COSELL: _l("Co-sell de serviços"),
    DealType.P2P: _l("Parceiro a parceiro"),
    DealType.PARTNER_LED: _l("Liderado por parceiro"),
    DealType.PRIVATE: _l("Privado"),
    DealType.SOLUTION_ASSESSMENT: _l("Avaliação de solução"),
}


class Direction(StrEnum):
    INBOUND = "inbound"  # "Entrada": sent to us by Microsoft sellers
    OUTBOUND = "outbound"  # "Saída": created by us


class DealStage(StrEnum):
    """Open stages with their win probability, then the terminal outcomes (immutable once reached)."""

    RECEIVED = "received"  # inbound, not yet answered ("recebido")
    CREATED = "created"  # 10%
    ACCEPTED = "accepted"  # 10%
    QUALIFIED = "qualified"  # 20%
    DEVELOPED = "developed"  # 40%
    PROPOSED = "proposed"  # 60%
    NEGOTIATED = "negotiated"  # 80%
    WON = "won"  # 100%, terminal
    LOST = "lost"  # terminal
    DECLINED = "declined"  # terminal ("recusado"), inbound only, with a reason
    EXPIRED = "expired"  # terminal: an inbound deal unanswered for 14 days
    ERROR = "error"  # terminal: closed as an error, with a reason


DEAL_STAGE_LABELS = {
    DealStage.RECEIVED: _l("Recebido"),
    DealStage.CREATED: _l("Criado"),
    DealStage.ACCEPTED: _l("Aceito"),
    DealStage.QUALIFIED: _l("Qualificado"),
    DealStage.DEVELOPED: _l("Desenvolvido"),
    DealStage.PROPOSED: _l("Proposto"),
    DealStage.NEGOTIATED: _l("Negociado"),
    DealStage.WON: _l("Ganho"),
    DealStage.LOST: _l("Perdido"),
    DealStage.DECLINED: _l("Recusado"),
    DealStage.EXPIRED: _l("Expirado"),
    DealStage.ERROR: _l("Erro"),
}
_STAGES_SQL = ", ".join(f"'{s.value}'" for s in DealStage)
_TYPES_SQL = ", ".join(f"'{t.value}'" for t in DealType)


class Deal(db.Model):
    __tablename__ = "deals"
    __table_args__ = (
        CheckConstraint(f"stage IN ({_STAGES_SQL})", name="stage_known"),
        CheckConstraint(f"deal_type IN ({_TYPES_SQL})", name="type_known"),
        CheckConstraint("direction IN ('inbound', 'outbound')", name="direction_known"),
        CheckConstraint("marketplace_intent IN ('yes', 'no', 'undecided')", name="intent_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    direction: Mapped[str] = mapped_column(String(10), index=True)
    deal_type: Mapped[str] = mapped_column(String(25))
    stage: Mapped[str] = mapped_column(String(12), index=True)
    name: Mapped[str] = mapped_column(String(200))  # nome do negócio
    location: Mapped[str] = mapped_column(String(2))  # the partner program location scope (country)
    # The customer and its contact (optional unless Microsoft sellers are invited).
    customer_name: Mapped[str] = mapped_column(String(200))
    customer_location: Mapped[str] = mapped_column(String(100), default="")
    customer_contact_name: Mapped[str] = mapped_column(String(200), default="")
    customer_contact_phone: Mapped[str] = mapped_column(String(30), default="")
    customer_contact_email: Mapped[str] = mapped_column(String(254), default="")
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))  # when a customer already
    account_managed_by_microsoft: Mapped[bool] = mapped_column(Boolean, default=False)
    estimated_value_minor: Mapped[int] = mapped_column(BigInteger)  # cents of `currency`
    currency: Mapped[str] = mapped_column(String(3))  # ISO 4217: BRL, USD …
    estimated_close_date: Mapped[date] = mapped_column(Date)
    crm_id: Mapped[str] = mapped_column(String(60), default="")
    campaign_id: Mapped[str] = mapped_column(String(60), default="")
    partner_role: Mapped[str] = mapped_column(String(60), default="")  # required for services co-sell
    solution_area: Mapped[str] = mapped_column(String(80), default="")  # required for services co-sell
    solution_play: Mapped[str] = mapped_column(String(80), default="")  # required for services co-sell
    notes: Mapped[str] = mapped_column(Text)
    marketplace_intent: Mapped[str] = mapped_column(String(10), default="undecided")  # IP co-sell only
    microsoft_accepted: Mapped[bool] = mapped_column(Boolean, default=False)  # Microsoft sellers engaged
    close_reason: Mapped[str | None] = mapped_column(Text)  # recusado, perdido, erro
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, index=True)
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # inbound: when it arrived
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # any terminal stage
    won_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    team: Mapped[list["DealTeamMember"]] = relationship(order_by="DealTeamMember.id")
    solutions: Mapped[list["DealSolution"]] = relationship(order_by="DealSolution.id")
    marks: Mapped[list["DealStageMark"]] = relationship(order_by="DealStageMark.id")


class DealTeamMember(db.Model):
    __tablename__ = "deal_team_members"
    __organization_via__ = "deal_id"  # its organization is that row's (data_versions)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deal_id: Mapped[int] = mapped_column(ForeignKey("deals.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(30))
    email: Mapped[str] = mapped_column(String(254))


class DealSolution(db.Model):
    __tablename__ = "deal_solutions"
    __organization_via__ = "deal_id"  # its organization is that row's (data_versions)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deal_id: Mapped[int] = mapped_column(ForeignKey("deals.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    ip_cosell_ready: Mapped[bool] = mapped_column(Boolean, default=False)  # an IP co-sell qualified solution


class DealStageMark(db.Model):
    """A stage marked done (Ganho needs every earlier stage marked)."""

    __tablename__ = "deal_stage_marks"
    __organization_via__ = "deal_id"  # its organization is that row's (data_versions)
    __table_args__ = (UniqueConstraint("deal_id", "stage", name="uq_deal_stage_marks_deal_stage"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deal_id: Mapped[int] = mapped_column(ForeignKey("deals.id"), index=True)
    stage: Mapped[str] = mapped_column(String(12))
    marked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    marked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class DealFavorite(db.Model):
    """"Favoritos": a staff user's heart on a deal."""

    __tablename__ = "deal_favorites"
    __organization_via__ = "deal_id"  # its organization is that row's (data_versions)
    __table_args__ = (UniqueConstraint("deal_id", "user_id", name="uq_deal_favorites_deal_user"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deal_id: Mapped[int] = mapped_column(ForeignKey("deals.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)


class DealEvent(db.Model):
    """Every change of a deal (append-only)."""

    __tablename__ = "deal_events"
    __organization_via__ = "deal_id"  # its organization is that row's (data_versions)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deal_id: Mapped[int] = mapped_column(ForeignKey("deals.id"), index=True)
    from_stage: Mapped[str | None] = mapped_column(String(12))
    to_stage: Mapped[str] = mapped_column(String(12))
    actor_label: Mapped[str] = mapped_column(String(254))
    note: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[Any] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
