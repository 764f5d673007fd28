"""Opportunities of the onboarding pipeline, their items, and the append-only log of their steps."""

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.shared import clock
from portal.shared.dbtypes import UTCDateTime


class Stage(StrEnum):
    """In order; LOST can be reached from any open stage (with a reason)."""

    PRESENTATION = "apresentacao"
    SURVEY = "levantamento"
    REGISTERED = "oportunidade_registrada"
    PROPOSAL = "proposta"
    NEGOTIATION = "negociacao"
    CONTRACT_SENT = "contrato_enviado"
    CONTRACT_SIGNED = "contrato_assinado"
    WON = "ganha"
    REVIEW = "revisao"  # dados cadastrais
    APPROVAL = "aprovacao"  # financeiro
    HANDOVER = "card_de_passagem"
    IMPLANTATION = "implantacao"
    ACTIVE = "ativo"
    LOST = "perdida"


STAGE_ORDER = [s for s in Stage if s is not Stage.LOST]
STAGE_LABELS = {
    Stage.PRESENTATION: _l("Apresentação"),
    Stage.SURVEY: _l("Levantamento"),
    Stage.REGISTERED: _l("Oportunidade registrada"),
    Stage.PROPOSAL: _l("Proposta"),
    Stage.NEGOTIATION: _l("Negociação"),
    Stage.CONTRACT_SENT: _l("Contrato enviado"),
    Stage.CONTRACT_SIGNED: _l("Contrato assinado"),
    Stage.WON: _l("Ganha"),
    Stage.REVIEW: _l("Revisão (dados cadastrais)"),
    Stage.APPROVAL: _l("Aprovação (financeiro)"),
    Stage.HANDOVER: _l("Card de passagem"),
    Stage.IMPLANTATION: _l("Implantação"),
    Stage.ACTIVE: _l("Ativa"),
    Stage.LOST: _l("Perdida"),
}
_STAGES_SQL = ", ".join(f"'{s.value}'" for s in Stage)


class Opportunity(db.Model):
    __tablename__ = "opportunities"
    __table_args__ = (CheckConstraint(f"stage IN ({_STAGES_SQL})", name="stage_known"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    stage: Mapped[str] = mapped_column(String(30), default=Stage.PRESENTATION, index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # the comercial in charge
    crm_id: Mapped[str] = mapped_column(String(60), default="")  # the opportunity in Adapt CRM
    # The customer and its responsible person (the minimum checklist).
    company_name: Mapped[str] = mapped_column(String(200))
    contact_name: Mapped[str] = mapped_column(String(200), default="")
    phone: Mapped[str] = mapped_column(String(30), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    cnpj: Mapped[str] = mapped_column(String(14), default="")  # compact form
    # Registration data ("dados cadastrais"), checked in the review stage.
    legal_name: Mapped[str] = mapped_column(String(200), default="")
    trade_name: Mapped[str] = mapped_column(String(200), default="")
    street: Mapped[str] = mapped_column(String(200), default="")
    number: Mapped[str] = mapped_column(String(20), default="")
    complement: Mapped[str] = mapped_column(String(100), default="")
    district: Mapped[str] = mapped_column(String(100), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    state: Mapped[str] = mapped_column(String(2), default="")
    postal_code: Mapped[str] = mapped_column(String(8), default="")
    billing_day: Mapped[int | None] = mapped_column(Integer)
    first_payment_date: Mapped[date | None] = mapped_column(Date)  # data da 1ª mensalidade
    # Backup em Nuvem sizing (required when a Backup product is in the proposal).
    disk_space_gb: Mapped[int | None] = mapped_column(Integer)
    installation_sites: Mapped[int | None] = mapped_column(Integer)
    windows_server_licenses: Mapped[int | None] = mapped_column(Integer)
    windows_server_version: Mapped[str] = mapped_column(String(40), default="")
    notes: Mapped[str] = mapped_column(Text, default="")  # observações (go on the handover card)
    # The customer's Microsoft tenant, needed before any Microsoft product is ordered: "existing" (then
    # `tenant_reference` is its tenant id, a GUID, or one of its domains) or "new" (then `tenant_reference` is the
    # domain to create, <prefix>.onmicrosoft.com, through Partner Center's "create customer").
    tenant_mode: Mapped[str | None] = mapped_column(String(10))
    tenant_reference: Mapped[str] = mapped_column(String(253), default="")
    # The Partner Center customer (tenant) id once known: given, looked up by domain, or created at approval.
    microsoft_tenant_id: Mapped[str | None] = mapped_column(String(36))
    lost_reason: Mapped[str | None] = mapped_column(Text)
    # Documents and e-signature.
    proposal_pdf_sha256: Mapped[str | None] = mapped_column(String(64))
    contract_pdf_sha256: Mapped[str | None] = mapped_column(String(64))
    signature_provider: Mapped[str | None] = mapped_column(String(20))
    signature_document_id: Mapped[str | None] = mapped_column(String(80), index=True)
    signed_pdf_sha256: Mapped[str | None] = mapped_column(String(64))
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Approval, handover, implantação.
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    handover_status: Mapped[str | None] = mapped_column(String(20))  # "posted" | "failed" | None
    handover_error: Mapped[str | None] = mapped_column(Text)
    handover_posted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    implantation_done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    implantation_done_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    items: Mapped[list["OpportunityItem"]] = relationship(order_by="OpportunityItem.id")
    events: Mapped[list["OpportunityEvent"]] = relationship(order_by="OpportunityEvent.id")


class OpportunityItem(db.Model):
    """A catalog product and its quantity in the proposal (the price is the one quoted)."""

    __tablename__ = "opportunity_items"
    __organization_via__ = "opportunity_id"  # its organization is that row's (data_versions)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    opportunity_id: Mapped[int] = mapped_column(ForeignKey("opportunities.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_cents: Mapped[int] = mapped_column(Integer)


class OpportunityEvent(db.Model):
    """Each stage change and step (who, when, from, to, and what it carried)."""

    __tablename__ = "opportunity_events"
    __organization_via__ = "opportunity_id"  # its organization is that row's (data_versions)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    opportunity_id: Mapped[int] = mapped_column(ForeignKey("opportunities.id"), index=True)
    from_stage: Mapped[str | None] = mapped_column(String(30))
    to_stage: Mapped[str] = mapped_column(String(30))
    actor_label: Mapped[str] = mapped_column(String(254))
    note: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[Any] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
