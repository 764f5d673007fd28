"""Onboarding verbs ("Contratação"): the opportunity's state machine, its data and items, the proposal and contract
PDFs, the e-signature, the financeiro approval that creates the customer, the Teams handover and the implantação.

Stages follow STAGE_ORDER one step at a time; LOST is reachable from any stage before the approval, with a reason.
Each step checks the data it needs and refuses with everything that is missing at once (`MissingData`). Some steps
are never taken by hand: "contrato enviado" (`send_contract`), "contrato assinado" (`complete_signature`, from the
webhook or the polling job), "card de passagem" (`approve`), "implantação" (`post_handover`, once the Teams card is
accepted) and "ativo" (`mark_implantation_done`). ACTIVE and LOST are terminal.

Every function takes its inputs explicitly (an `Actor`, the `OnboardingSettings`, the integration) and commits its
own unit of work with an `OpportunityEvent` and the audit events.
"""

import logging
import re
from dataclasses import dataclass, fields
from datetime import date
from typing import Any

from flask import render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from portal import jobs
from portal.accounts import service as accounts
from portal.accounts.models import Organization
from portal.accounts.roles import StaffPermission, staff_permissions_for
from portal.catalog.models import BILLING_LABELS, TERM_LABELS, BillingFrequency, Product, ProductFamily, Provider, Term
from portal.extensions import db
from portal.integrations.esign import SignatureError, SignatureProvider, SignatureRequest, Signer
from portal.integrations.partner_center import DOMAIN_TAKEN
from portal.integrations.provisioning import CustomerResult, LicenseProvisioner, NewCustomer, Outcome
from portal.integrations.teams import HandoverCard, TeamsError, TeamsNotifier
from portal.onboarding.models import (
    STAGE_LABELS,
    STAGE_ORDER,
    Opportunity,
    OpportunityEvent,
    OpportunityItem,
    Stage,
)
from portal.shared import clock, cnpj, periods
from portal.shared.audit import Actor, AuditTag, record
from portal.shared.documents import DOCUMENT_LOCALE, PDF, DocumentStoreError, render_pdf, store, store_sent
from portal.shared.errors import NotFound, PermissionDenied, ServiceError
from portal.shared.formatting import format_date, format_money
from portal.subscriptions import service as subscriptions
from portal.subscriptions.models import Order

log = logging.getLogger(__name__)

MIN_LOST_REASON = 10  # characters
MAX_INT = 1_000_000_000  # sizing numbers (GB, sites, licenses): far below the column's 2**31
UFS = frozenset({
    "AC", "AL", "AP", "AM", "BA", "CE", "DF", "ES", "GO", "MA", "MT", "MS", "MG", "PA",
    "PB", "PR", "PE", "PI", "RJ", "RN", "RS", "RO", "RR", "SC", "SP", "SE", "TO",
})
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# The customer's Microsoft tenant: an existing one by its id (a GUID) or one of its domains, or a new one whose
# initial domain is <prefix>.onmicrosoft.com (Microsoft allows letters and digits in the prefix).
TENANT_EXISTING, TENANT_NEW = "existing", "new"
TENANT_MODES = (TENANT_EXISTING, TENANT_NEW)
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_DOMAIN = re.compile(r"^(?=.{4,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_INITIAL_DOMAIN = re.compile(r"^[a-z0-9]{1,27}\.onmicrosoft\.com$")

TERMINAL = frozenset({Stage.ACTIVE, Stage.LOST})
# Stages an opportunity can be lost from: everything before the approval (afterwards the customer exists, and
# ending it is a rescission of its contract).
LOSABLE = frozenset(STAGE_ORDER[:STAGE_ORDER.index(Stage.APPROVAL) + 1])
# Stages staff moves to with "Avançar"; the others are reached only through their own action.
MANUAL = frozenset({Stage.SURVEY, Stage.REGISTERED, Stage.PROPOSAL, Stage.NEGOTIATION, Stage.WON, Stage.REVIEW,
                    Stage.APPROVAL})
# The data (and items) can be edited until the approval; items only until the contract is sent.
EDITABLE = frozenset(STAGE_ORDER[:STAGE_ORDER.index(Stage.HANDOVER)])
ITEMS_EDITABLE = frozenset(STAGE_ORDER[:STAGE_ORDER.index(Stage.CONTRACT_SENT)])


class MissingData(ServiceError):
    """A step refused for lack of data: `missing` lists each thing (in Portuguese), `message` all of them."""

    def __init__(self, stage: Stage, missing: list[str]) -> None:
        super().__init__(_("Para ir para “%(stage)s”, falta: %(missing)s.", stage=STAGE_LABELS[stage],
                           missing="; ".join(missing)))
        self.stage = stage
        self.missing = missing


@dataclass(frozen=True)
class OnboardingSettings:
    windows_server_versions: tuple[str, ...]  # what Backup em Nuvem supports, e.g. ("2016", "2019", …)
    reseller_legal_name: str
    reseller_cnpj: str
    reseller_address: str
    base_url: str  # the portal's public address, for links in the handover card

    @classmethod
    def from_config(cls, config) -> "OnboardingSettings":
        versions = config["BACKUP_WINDOWS_SERVER_VERSIONS"]
        if isinstance(versions, str):
            versions = versions.split(",")
        return cls(
            windows_server_versions=tuple(v.strip() for v in versions if v.strip()),
            reseller_legal_name=config["RESELLER_LEGAL_NAME"], reseller_cnpj=config["RESELLER_CNPJ"],
            reseller_address=config["RESELLER_ADDRESS"], base_url=config["BASE_URL"].rstrip("/"),
        )

    def supports(self, version: str) -> bool:
        return _version_key(version) in {_version_key(v) for v in self.windows_server_versions}


def _version_key(version: str) -> str:
    """"Windows Server 2019" and "2019" are the same version; "2012 R2" is not "2012"."""
    text = " ".join((version or "").lower().split())
    return text.removeprefix("microsoft ").removeprefix("windows server").strip()


# ---------------------------------------------------------------- reading

def stage_label(stage: str) -> str:
    return str(STAGE_LABELS[Stage(stage)])


def get_opportunity(opportunity_id: int) -> Opportunity:
    opportunity = db.session.scalar(
        select(Opportunity).where(Opportunity.id == opportunity_id)
        .options(selectinload(Opportunity.items), selectinload(Opportunity.events))
    )
    if opportunity is None:
        raise NotFound(_("Oportunidade não encontrada."))
    return opportunity


def abandon_changes() -> None:
    """Drop what a refused action left half-made: the page shows the opportunity as stored."""
    db.session.rollback()


def forget_loaded() -> None:
    """Forget what was loaded: a job that ran inline (or elsewhere) may have changed it since."""
    db.session.expire_all()


def search(*, text: str = "", stage: str | None = None, owner_id: int | None = None,
           limit: int = 500) -> list[Opportunity]:
    """Opportunities matching the filters, the most recently changed first."""
    statement = select(Opportunity).order_by(Opportunity.updated_at.desc(), Opportunity.id.desc())
    if stage:
        statement = statement.where(Opportunity.stage == stage)
    if owner_id:
        statement = statement.where(Opportunity.owner_id == owner_id)
    text = (text or "").strip()
    if text:
        lowered = text.lower()
        found = [func.lower(Opportunity.company_name).contains(lowered, autoescape=True),
                 func.lower(Opportunity.legal_name).contains(lowered, autoescape=True),
                 func.lower(Opportunity.contact_name).contains(lowered, autoescape=True)]
        number = cnpj.compact(text)
        if number and len(number) <= 14:
            found.append(Opportunity.cnpj.contains(number, autoescape=True))
        statement = statement.where(or_(*found))
    return list(db.session.scalars(statement.limit(limit)))


def implantation_queue() -> list[Opportunity]:
    """The handover cards (the implantação queue): approved customers waiting for their card or their implantação."""
    return list(db.session.scalars(
        select(Opportunity).where(Opportunity.stage.in_([Stage.HANDOVER, Stage.IMPLANTATION]))
        .options(selectinload(Opportunity.items)).order_by(Opportunity.approved_at, Opportunity.id)
    ))


def products_for_items() -> list[Product]:
    """What can go in a proposal: active products of active families that have a price today."""

    products = db.session.scalars(
        select(Product).join(ProductFamily).where(Product.active.is_(True), ProductFamily.active.is_(True))
        .options(selectinload(Product.prices)).order_by(ProductFamily.position, ProductFamily.name, Product.name)
    )
    today = clock.today()
    return [product for product in products if product.price_on(today) is not None]


def needs_backup_sizing(opportunity: Opportunity) -> bool:
    """Backup em Nuvem (the reseller's own service) needs disk space, sites and the Windows Server data."""
    return any(_product(item).provider == Provider.OWN_SERVICE for item in opportunity.items)


def _product(item: OpportunityItem) -> Product:
    return db.session.get(Product, item.product_id)


def needs_microsoft_tenant(opportunity: Opportunity) -> bool:
    """Microsoft products are ordered in the customer's tenant at Partner Center: the approval needs it."""
    return any(_product(item).provider != Provider.OWN_SERVICE for item in opportunity.items)


def normalize_tenant(mode: str | None, reference: str) -> str:
    """As stored: lower case, no spaces; a new tenant's bare prefix gets ".onmicrosoft.com"."""
    reference = "".join((reference or "").split()).lower()
    if mode == TENANT_NEW and reference and "." not in reference:
        reference += ".onmicrosoft.com"
    return reference


def tenant_problem(mode: str | None, reference: str) -> str | None:
    """Why (`mode`, `reference`) names no tenant (in Portuguese), or None when it does."""
    if mode == TENANT_EXISTING:
        if not reference:
            return _("informe o ID do tenant Microsoft do cliente ou um domínio dele")
        if not (_GUID.match(reference) or _DOMAIN.match(reference)):
            return _("“%(value)s” não é um ID de tenant (GUID, como 0f1e2d3c-…) nem um domínio (como "
                     "contoso.onmicrosoft.com)", value=reference)
    elif mode == TENANT_NEW:
        if not reference:
            return _("informe o domínio do novo tenant (como acme.onmicrosoft.com)")
        if not _INITIAL_DOMAIN.match(reference):
            return _("o domínio do novo tenant é <nome>.onmicrosoft.com, só com letras e números no nome (até 27), "
                     "não “%(value)s”", value=reference)
    return None


def _tenant_problems(o: Opportunity) -> list[str]:
    if not needs_microsoft_tenant(o) or o.microsoft_tenant_id:
        return []
    if o.tenant_mode not in TENANT_MODES:
        return [_("o tenant Microsoft do cliente (um existente ou a criação de um novo)")]
    problem = tenant_problem(o.tenant_mode, o.tenant_reference)
    return [_("um tenant Microsoft válido: %(problem)s", problem=problem)] if problem else []


# ---------------------------------------------------------------- what each stage needs

def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _contact_problems(o: Opportunity) -> list[str]:
    problems = []
    if _blank(o.company_name):
        problems.append(_("nome da empresa"))
    if _blank(o.contact_name):
        problems.append(_("nome do responsável"))
    if _blank(o.phone):
        problems.append(_("telefone"))
    if _blank(o.email):
        problems.append(_("e-mail"))
    elif not _EMAIL.match(o.email):
        problems.append(_("e-mail válido (“%(email)s” não é um e-mail)", email=o.email))
    if _blank(o.cnpj):
        problems.append(_("CNPJ"))
    elif not cnpj.is_valid(o.cnpj):
        problems.append(_("CNPJ válido (confira os dígitos verificadores)"))
    return problems


def _item_problems(o: Opportunity) -> list[str]:
    return [] if o.items else [_("pelo menos um produto na proposta")]


def _contract_problems(o: Opportunity, settings: OnboardingSettings, today: date) -> list[str]:
    """Registration data, billing day, first monthly payment and, for Backup em Nuvem, the sizing."""
    problems = []
    for attribute, label in (("legal_name", _("razão social")), ("street", _("logradouro")),
                             ("number", _("número do endereço")), ("district", _("bairro")),
                             ("city", _("cidade"))):
        if _blank(getattr(o, attribute)):
            problems.append(label)
    if _blank(o.state):
        problems.append(_("UF"))
    elif o.state.upper() not in UFS:
        problems.append(_("UF válida"))
    if _blank(o.postal_code):
        problems.append(_("CEP"))
    elif not re.fullmatch(r"\d{8}", o.postal_code):
        problems.append(_("CEP com 8 dígitos"))
    if o.billing_day is None:
        problems.append(_("dia de faturamento"))
    elif not 1 <= o.billing_day <= 31:
        problems.append(_("dia de faturamento entre 1 e 31"))
    if o.first_payment_date is None:
        problems.append(_("data da 1ª mensalidade"))
    elif o.first_payment_date < today:
        problems.append(_("data da 1ª mensalidade a partir de hoje (%(date)s já passou)",
                          date=format_date(o.first_payment_date)))
    if needs_backup_sizing(o):
        if not o.disk_space_gb:
            problems.append(_("espaço em disco (Backup em Nuvem)"))
        if not o.installation_sites:
            problems.append(_("quantidade de locais de instalação (Backup em Nuvem)"))
        if not o.windows_server_licenses:
            problems.append(_("quantidade de licenças do Windows Server (Backup em Nuvem)"))
        if _blank(o.windows_server_version):
            problems.append(_("versão do Windows Server (Backup em Nuvem)"))
        elif not settings.supports(o.windows_server_version):
            problems.append(_("versão do Windows Server suportada: versão não suportada “%(version)s” "
                              "(suportadas: %(supported)s)", version=o.windows_server_version,
                              supported=", ".join(settings.windows_server_versions)))
    return problems


def _signed_problems(o: Opportunity) -> list[str]:
    return [] if o.signed_pdf_sha256 else [_("contrato assinado")]


def _customer_problems(o: Opportunity) -> list[str]:
    if _blank(o.cnpj) or not cnpj.is_valid(o.cnpj):
        return []  # reported by the contact check
    existing = db.session.scalar(select(Organization).where(Organization.cnpj == cnpj.compact(o.cnpj)))
    if existing is None:
        return []
    return [_("um CNPJ que ainda não seja cliente (%(cnpj)s já é a organização “%(name)s”)",
              cnpj=cnpj.format(o.cnpj), name=existing.legal_name)]


def missing_for(opportunity: Opportunity, to: Stage, *, settings: OnboardingSettings,
                today: date | None = None) -> list[str]:
    """What `opportunity` lacks to enter stage `to` (empty: nothing). Names are in Portuguese, one per thing."""
    today = today or clock.today()
    o = opportunity
    if to in (Stage.REGISTERED,):
        return _contact_problems(o)
    if to in (Stage.PROPOSAL, Stage.NEGOTIATION):
        return _contact_problems(o) + _item_problems(o)
    if to == Stage.CONTRACT_SENT:
        return _contact_problems(o) + _item_problems(o) + _contract_problems(o, settings, today)
    if to in (Stage.WON, Stage.REVIEW):
        return _signed_problems(o)
    if to in (Stage.APPROVAL, Stage.HANDOVER):  # reviewed data again, and not a customer already
        problems = (_contact_problems(o) + _item_problems(o) + _contract_problems(o, settings, today)
                    + _signed_problems(o) + _customer_problems(o) + _tenant_problems(o))
        return problems + (_price_problems(o, today) if to == Stage.HANDOVER else [])
    return []


@dataclass(frozen=True)
class NextStep:
    """What comes after the current stage and how it is reached (shown before anyone tries)."""

    stage: Stage | None  # None: terminal
    how: str  # "advance" | "send_contract" | "signature" | "approve" | "handover" | "implantation" | ""
    missing: list[str]


def next_stage(stage: str) -> Stage | None:
    stage = Stage(stage)
    if stage in TERMINAL:
        return None
    return STAGE_ORDER[STAGE_ORDER.index(stage) + 1]


_HOW = {Stage.CONTRACT_SENT: "send_contract", Stage.CONTRACT_SIGNED: "signature", Stage.HANDOVER: "approve",
        Stage.IMPLANTATION: "handover", Stage.ACTIVE: "implantation"}


def next_step(opportunity: Opportunity, *, settings: OnboardingSettings) -> NextStep:
    following = next_stage(opportunity.stage)
    if following is None:
        return NextStep(None, "", [])
    return NextStep(following, _HOW.get(following, "advance"), missing_for(opportunity, following, settings=settings))


# ---------------------------------------------------------------- transitions

def _lock(opportunity: Opportunity) -> None:
    """Re-read the row under a lock: two staff clicks, a webhook and the polling job never both move it."""
    db.session.refresh(opportunity, with_for_update=True)


def _subject(opportunity: Opportunity) -> str:
    return f"opportunity:{opportunity.id}"


def _log(opportunity: Opportunity, *, from_stage: str | None, to: str, actor: Actor, note: str = "",
         detail: dict | None = None) -> None:
    db.session.add(OpportunityEvent(
        opportunity_id=opportunity.id, from_stage=from_stage, to_stage=to, actor_label=actor.label[:254], note=note,
        detail=detail, created_at=clock.now(),
    ))


def _note(opportunity: Opportunity, note: str, *, actor: Actor, detail: dict | None = None) -> None:
    """A step inside the current stage (a PDF made, a failed publication): logged, the stage unchanged."""
    _log(opportunity, from_stage=opportunity.stage, to=opportunity.stage, actor=actor, note=note, detail=detail)


def _move(opportunity: Opportunity, to: Stage, *, actor: Actor, note: str = "", detail: dict | None = None) -> None:
    """Change the stage, with its OpportunityEvent and audit event (the caller checked that it may)."""
    before = opportunity.stage
    _log(opportunity, to=to, actor=actor, note=note, detail=detail, from_stage=before)
    opportunity.stage = to
    opportunity.updated_at = clock.now()
    record(AuditTag.OPPORTUNITY_STAGE_CHANGED, actor=actor, organization_id=opportunity.organization_id,
           subject=_subject(opportunity), before={"stage": before},
           after={"stage": str(to), **({"note": note[:500]} if note else {})})


def _require_open(opportunity: Opportunity) -> None:
    if Stage(opportunity.stage) in TERMINAL:
        raise ServiceError(_("Esta oportunidade está encerrada (%(stage)s) e não muda mais.",
                             stage=stage_label(opportunity.stage)))


def _require_permission(actor: Actor, permission: StaffPermission) -> None:
    user = actor.user
    if user is None or not user.is_staff or permission not in staff_permissions_for(user.staff_roles):
        raise PermissionDenied(_("Você não tem permissão para esta ação."))


def advance(opportunity: Opportunity, *, to: Any, actor: Actor, note: str = "",
            settings: OnboardingSettings) -> None:
    """Move to the next stage (only that one, and only a stage taken by hand), or to LOST with a reason."""
    _require_permission(actor, StaffPermission.PIPELINE_MANAGE)
    try:
        target = Stage(to)
    except ValueError:
        raise ServiceError(_("Etapa desconhecida.")) from None
    _lock(opportunity)
    _require_open(opportunity)
    current = Stage(opportunity.stage)
    note = (note or "").strip()
    if target == Stage.LOST:
        if current not in LOSABLE:
            raise ServiceError(_("Depois da aprovação o cliente já existe: a oportunidade não pode mais ser perdida. "
                                 "Para encerrar, use a rescisão de contrato da organização."))
        if len(note) < MIN_LOST_REASON:
            raise ServiceError(_("Explique o motivo da perda com pelo menos %(n)d caracteres.", n=MIN_LOST_REASON),
                               field="reason")
        opportunity.lost_reason = note
        _move(opportunity, Stage.LOST, actor=actor, note=note)
        db.session.commit()
        return
    if target != next_stage(current):
        raise ServiceError(_("De “%(current)s” a oportunidade só pode ir para “%(next)s”.",
                             current=stage_label(current), next=stage_label(next_stage(current))))
    if target not in MANUAL:
        raise ServiceError({
            Stage.CONTRACT_SENT: _("Use “Enviar contrato para assinatura”: o contrato vai para assinatura eletrônica "
                                   "e a etapa muda sozinha."),
            Stage.CONTRACT_SIGNED: _("O contrato passa a “assinado” quando a assinatura eletrônica é concluída, "
                                     "nunca à mão."),
            Stage.HANDOVER: _("Só a aprovação do financeiro leva a oportunidade adiante."),
            Stage.IMPLANTATION: _("A implantação começa quando o card de passagem é publicado no Teams."),
            Stage.ACTIVE: _("A oportunidade fica ativa quando o suporte conclui a implantação."),
        }[target])
    missing = missing_for(opportunity, target, settings=settings)
    if missing:
        raise MissingData(target, missing)
    if target == Stage.NEGOTIATION:
        _ensure_proposal(opportunity, settings=settings, actor=actor)
    _move(opportunity, target, actor=actor, note=note)
    db.session.commit()


# ---------------------------------------------------------------- creating and editing

@dataclass(frozen=True)
class OpportunityData:
    company_name: str
    contact_name: str = ""
    phone: str = ""
    email: str = ""
    cnpj: str = ""
    crm_id: str = ""
    legal_name: str = ""
    trade_name: str = ""
    street: str = ""
    number: str = ""
    complement: str = ""
    district: str = ""
    city: str = ""
    state: str = ""
    postal_code: str = ""
    billing_day: int | None = None
    first_payment_date: date | None = None
    disk_space_gb: int | None = None
    installation_sites: int | None = None
    windows_server_licenses: int | None = None
    windows_server_version: str = ""
    notes: str = ""
    tenant_mode: str | None = None  # TENANT_EXISTING | TENANT_NEW | None (not said yet)
    tenant_reference: str = ""


_MAX_LENGTHS = {"company_name": 200, "contact_name": 200, "phone": 30, "email": 254, "cnpj": 14, "crm_id": 60,
                "legal_name": 200, "trade_name": 200, "street": 200, "number": 20, "complement": 100,
                "district": 100, "city": 100, "state": 2, "postal_code": 8, "windows_server_version": 40,
                "notes": 10_000, "tenant_reference": 253}
_NUMBERS = ("disk_space_gb", "installation_sites", "windows_server_licenses")


def _clean(data: OpportunityData) -> dict[str, Any]:
    """The values as stored (trimmed, CNPJ compact, CEP digits, UF upper case), or ServiceError on the field."""
    values: dict[str, Any] = {}
    for item in fields(OpportunityData):
        value = getattr(data, item.name)
        if isinstance(value, str) or (value is None and item.name in _MAX_LENGTHS):
            value = (value or "").strip()
        values[item.name] = value
    values["email"] = values["email"].lower()
    values["cnpj"] = cnpj.compact(values["cnpj"])
    values["state"] = values["state"].upper()
    values["postal_code"] = re.sub(r"[\s.-]", "", values["postal_code"])
    if not values["company_name"]:
        raise ServiceError(_("Informe o nome da empresa."), field="company_name")
    if values["cnpj"] and len(values["cnpj"]) > 14:
        raise ServiceError(_("CNPJ inválido: confira os dígitos verificadores."), field="cnpj")
    if values["postal_code"] and not values["postal_code"].isdigit():
        raise ServiceError(_("Informe o CEP com 8 dígitos."), field="postal_code")
    for name, limit in _MAX_LENGTHS.items():
        if len(values[name]) > limit:
            raise ServiceError(_("Use no máximo %(max)d caracteres.", max=limit), field=name)
    day = values["billing_day"]
    if day is not None and (not isinstance(day, int) or isinstance(day, bool) or not 1 <= day <= 31):
        raise ServiceError(_("O dia de faturamento vai de 1 a 31."), field="billing_day")
    for name in _NUMBERS:
        number = values[name]
        if number is not None and (not isinstance(number, int) or isinstance(number, bool)
                                   or not 1 <= number <= MAX_INT):
            raise ServiceError(_("Informe um número inteiro positivo."), field=name)
    if values["first_payment_date"] is not None and not isinstance(values["first_payment_date"], date):
        raise ServiceError(_("Informe a data no formato dd/mm/aaaa."), field="first_payment_date")
    values["tenant_mode"] = values["tenant_mode"] or None
    if values["tenant_mode"] not in (None, *TENANT_MODES):
        raise ServiceError(_("Escolha um tenant existente ou a criação de um novo."), field="tenant_mode")
    if values["tenant_reference"] and values["tenant_mode"] is None:
        raise ServiceError(_("Escolha se o cliente já tem um tenant ou se um novo será criado."), field="tenant_mode")
    values["tenant_reference"] = normalize_tenant(values["tenant_mode"], values["tenant_reference"])
    problem = tenant_problem(values["tenant_mode"], values["tenant_reference"]) if values["tenant_reference"] else None
    if problem:
        raise ServiceError(problem[:1].upper() + problem[1:] + ".", field="tenant_reference")
    return values


def _snapshot(opportunity: Opportunity) -> dict[str, Any]:
    return {item.name: getattr(opportunity, item.name) for item in fields(OpportunityData)}


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value.isoformat() if isinstance(value, date) else value for key, value in values.items()}


def create_opportunity(data: OpportunityData, *, actor: Actor) -> Opportunity:
    """A new opportunity in "apresentação", owned by the comercial who creates it."""
    _require_permission(actor, StaffPermission.PIPELINE_MANAGE)
    values = _clean(data)
    now = clock.now()
    opportunity = Opportunity(stage=Stage.PRESENTATION, owner_id=actor.user_id, created_at=now, updated_at=now,
                              **values)
    db.session.add(opportunity)
    db.session.flush()
    _log(opportunity, from_stage=None, to=Stage.PRESENTATION, actor=actor)
    record(AuditTag.OPPORTUNITY_CREATED, actor=actor, subject=_subject(opportunity),
           after={"company_name": opportunity.company_name, "cnpj": opportunity.cnpj,
                  "stage": str(Stage.PRESENTATION)})
    db.session.commit()
    return opportunity


def update_opportunity(opportunity: Opportunity, data: OpportunityData, *, actor: Actor) -> bool:
    """Save the data (until the approval); True when something changed. The proposal is re-rendered next time."""
    _require_permission(actor, StaffPermission.PIPELINE_MANAGE)
    _lock(opportunity)
    if Stage(opportunity.stage) not in EDITABLE:
        raise ServiceError(_("Depois da aprovação os dados da oportunidade não mudam mais."))
    values = _clean(data)
    before = _snapshot(opportunity)
    changed = {key: value for key, value in values.items() if before[key] != value}
    if not changed:
        return False
    for key, value in changed.items():
        setattr(opportunity, key, value)
    if {"tenant_mode", "tenant_reference"} & set(changed):
        opportunity.microsoft_tenant_id = None  # found or created for the former choice
    _touch_proposal(opportunity)
    opportunity.updated_at = clock.now()
    record(AuditTag.OPPORTUNITY_UPDATED, actor=actor, organization_id=opportunity.organization_id,
           subject=_subject(opportunity), before=_jsonable({key: before[key] for key in changed}),
           after=_jsonable(changed))
    db.session.commit()
    return True


def _touch_proposal(opportunity: Opportunity) -> None:
    """Before the contract goes out the proposal follows the data: the stored one is dropped, made again later."""
    if Stage(opportunity.stage) in ITEMS_EDITABLE:
        opportunity.proposal_pdf_sha256 = None


def _items_snapshot(opportunity: Opportunity) -> list[dict[str, int]]:
    return [{"product_id": i.product_id, "quantity": i.quantity, "unit_price_cents": i.unit_price_cents}
            for i in opportunity.items]


def set_item(opportunity: Opportunity, *, product_id: Any, quantity: Any, actor: Actor) -> OpportunityItem:
    """Put `quantity` of a catalog product in the proposal at today's price (again: replaces the quantity)."""
    _require_permission(actor, StaffPermission.PIPELINE_MANAGE)
    _lock(opportunity)
    if Stage(opportunity.stage) not in ITEMS_EDITABLE:
        raise ServiceError(_("Depois que o contrato é enviado os produtos da proposta não mudam mais."))
    product = db.session.get(Product, product_id) if isinstance(product_id, int) else None
    if product is None or not product.active or not product.family.active:
        raise ServiceError(_("Escolha um produto do catálogo."), field="product_id")
    if not isinstance(quantity, int) or isinstance(quantity, bool):
        raise ServiceError(_("Informe a quantidade em números inteiros."), field="quantity")
    if not product.min_quantity <= quantity <= product.max_quantity:
        raise ServiceError(_("A quantidade de %(product)s vai de %(min)d a %(max)d.", product=product.name,
                             min=product.min_quantity, max=product.max_quantity), field="quantity")
    price = product.price_on(clock.today())
    if price is None:
        raise ServiceError(_("Este produto ainda não tem preço."), field="product_id")
    before = _items_snapshot(opportunity)
    item = next((i for i in opportunity.items if i.product_id == product.id), None)
    if item is None:
        item = OpportunityItem(opportunity_id=opportunity.id, product_id=product.id, quantity=quantity,
                               unit_price_cents=price.unit_price_cents)
        db.session.add(item)
        opportunity.items.append(item)
    else:
        item.quantity, item.unit_price_cents = quantity, price.unit_price_cents
    db.session.flush()
    _items_changed(opportunity, before, actor)
    db.session.commit()
    return item


def remove_item(opportunity: Opportunity, *, item_id: Any, actor: Actor) -> None:
    _require_permission(actor, StaffPermission.PIPELINE_MANAGE)
    _lock(opportunity)
    if Stage(opportunity.stage) not in ITEMS_EDITABLE:
        raise ServiceError(_("Depois que o contrato é enviado os produtos da proposta não mudam mais."))
    item = next((i for i in opportunity.items if i.id == item_id), None)
    if item is None:
        raise NotFound(_("Item não encontrado."))
    before = _items_snapshot(opportunity)
    opportunity.items.remove(item)
    db.session.delete(item)
    db.session.flush()
    _items_changed(opportunity, before, actor)
    db.session.commit()


def _items_changed(opportunity: Opportunity, before: list[dict[str, int]], actor: Actor) -> None:
    _touch_proposal(opportunity)
    opportunity.updated_at = clock.now()
    record(AuditTag.OPPORTUNITY_UPDATED, actor=actor, organization_id=opportunity.organization_id,
           subject=_subject(opportunity), before={"items": before}, after={"items": _items_snapshot(opportunity)})


# ---------------------------------------------------------------- proposal and contract PDFs

def _address(o: Opportunity) -> str:
    street = ", ".join(part for part in (o.street, o.number, o.complement) if part)
    postal = f"{o.postal_code[:5]}-{o.postal_code[5:]}" if len(o.postal_code) == 8 else o.postal_code
    place = f"{o.city}/{o.state}" if o.state else o.city
    return " – ".join(part for part in (street, o.district, place, f"CEP {postal}" if postal else "") if part)


def proposal_lines(opportunity: Opportunity) -> list[dict[str, Any]]:
    """Each item as the proposal prints it: the total per billing period and its monthly equivalent."""
    lines = []
    for item in opportunity.items:
        product = _product(item)
        total = item.quantity * item.unit_price_cents
        lines.append({
            "product": product, "quantity": item.quantity, "unit_price_cents": item.unit_price_cents,
            "total_cents": total, "monthly_cents": subscriptions.monthly_equivalent(total, product),
            "billing": BILLING_LABELS[BillingFrequency(product.billing_frequency)],
            "term": TERM_LABELS[Term(product.term)], "item": item,
        })
    return lines


def _document_context(opportunity: Opportunity, settings: OnboardingSettings) -> dict[str, Any]:
    lines = proposal_lines(opportunity)
    return {
        "opportunity": opportunity, "settings": settings, "lines": lines,
        "monthly_total_cents": sum(line["monthly_cents"] for line in lines),
        "reseller_cnpj": cnpj.format(settings.reseller_cnpj),
        "customer_cnpj": cnpj.format(opportunity.cnpj) if opportunity.cnpj else "",
        "customer_address": _address(opportunity), "backup": needs_backup_sizing(opportunity),
        "issued_on": clock.today(), "format_money": format_money,
    }


def render_proposal_pdf(opportunity: Opportunity, *, settings: OnboardingSettings) -> bytes:
    with force_locale(DOCUMENT_LOCALE):
        return render_pdf(render_template("documents/proposal.html", **_document_context(opportunity, settings)))


def render_contract_html(opportunity: Opportunity, *, settings: OnboardingSettings, signatory) -> str:
    """The contract, with the approved proposal as its Annex I (a second section of the same document)."""
    with force_locale(DOCUMENT_LOCALE):
        return render_template("documents/contract.html", signatory=signatory,
                               **_document_context(opportunity, settings))



def _ensure_proposal(opportunity: Opportunity, *, settings: OnboardingSettings, actor: Actor) -> str:
    if opportunity.proposal_pdf_sha256 is None:
        opportunity.proposal_pdf_sha256 = store_sent(render_proposal_pdf(opportunity, settings=settings), PDF)
        _note(opportunity, _("Proposta em PDF gerada."), actor=actor,
              detail={"proposal_pdf_sha256": opportunity.proposal_pdf_sha256})
    return opportunity.proposal_pdf_sha256


def generate_proposal(opportunity: Opportunity, *, actor: Actor, settings: OnboardingSettings) -> str:
    """Render the proposal PDF from the items into the document store (kept until the items or data change)."""
    _require_permission(actor, StaffPermission.PIPELINE_MANAGE)
    _lock(opportunity)
    _require_open(opportunity)
    if Stage(opportunity.stage) not in ITEMS_EDITABLE and opportunity.proposal_pdf_sha256:
        return opportunity.proposal_pdf_sha256  # the proposal attached to the contract stays as it was
    if not opportunity.items:
        raise ServiceError(_("Inclua pelo menos um produto antes de gerar a proposta."))
    digest = _ensure_proposal(opportunity, settings=settings, actor=actor)
    db.session.commit()
    return digest


def send_contract(opportunity: Opportunity, *, actor: Actor, esign: SignatureProvider,
                  settings: OnboardingSettings) -> str:
    """"Enviar contrato para assinatura": the contract PDF (with the proposal) goes to the customer's responsible
    person and to the reseller's signatory (the staff user sending it); stage → contrato enviado."""
    _require_permission(actor, StaffPermission.PIPELINE_MANAGE)
    _lock(opportunity)
    _require_open(opportunity)
    if Stage(opportunity.stage) != Stage.NEGOTIATION:
        raise ServiceError(_("O contrato é enviado a partir da etapa “%(stage)s”.",
                             stage=stage_label(Stage.NEGOTIATION)))
    missing = missing_for(opportunity, Stage.CONTRACT_SENT, settings=settings)
    if missing:
        raise MissingData(Stage.CONTRACT_SENT, missing)
    signatory = actor.user
    proposal = _ensure_proposal(opportunity, settings=settings, actor=actor)
    contract_html = render_contract_html(opportunity, settings=settings, signatory=signatory)
    contract = render_pdf(contract_html)
    request = SignatureRequest(
        name=_("Contrato — %(company)s", company=opportunity.legal_name),
        pdf=contract, html=contract_html,
        signers=(Signer(name=opportunity.contact_name, email=opportunity.email),
                 Signer(name=signatory.name, email=signatory.email)),
        message=_("Contrato de prestação de serviços de %(reseller)s, com a proposta comercial aprovada em anexo.",
                  reseller=settings.reseller_legal_name),
    )
    contract_sha256 = store_sent(contract, PDF)  # kept before anyone is asked to sign it (the store down: nothing sent)
    try:
        document_id = esign.create_document(request)
    except SignatureError as error:
        db.session.rollback()
        if error.retryable:
            raise ServiceError(_("O serviço de assinatura eletrônica não respondeu. Tente de novo em alguns "
                                 "minutos. (%(error)s)", error=str(error))) from error
        raise ServiceError(_("O serviço de assinatura eletrônica recusou o contrato: %(error)s",
                             error=str(error))) from error
    opportunity.contract_pdf_sha256 = contract_sha256
    opportunity.signature_provider = esign.name
    opportunity.signature_document_id = document_id
    record(AuditTag.CONTRACT_SENT_FOR_SIGNATURE, actor=actor, subject=_subject(opportunity),
           after={"provider": esign.name, "document_id": document_id,
                  "contract_pdf_sha256": opportunity.contract_pdf_sha256, "proposal_pdf_sha256": proposal,
                  "signers": [signer.email for signer in request.signers]})
    _move(opportunity, Stage.CONTRACT_SENT, actor=actor,
          detail={"document_id": document_id, "provider": esign.name})
    db.session.commit()
    return document_id


# ---------------------------------------------------------------- signature completion (webhook, polling)

def opportunity_for_document(document_id: str) -> Opportunity | None:
    if not document_id:
        return None
    return db.session.scalar(select(Opportunity).where(Opportunity.signature_document_id == document_id))


def complete_signature(document_id: str, *, esign: SignatureProvider, actor: Actor) -> str:
    """Check the document at the provider and, when every signer signed, store the signed PDF and move the
    opportunity to "contrato assinado". Idempotent. Returns "signed", "already", "pending", "rejected" or
    "unknown" (no opportunity waits for this document)."""
    opportunity = opportunity_for_document(document_id)
    if opportunity is None:
        return "unknown"
    _lock(opportunity)
    if opportunity.stage != Stage.CONTRACT_SENT or opportunity.signed_pdf_sha256:
        db.session.rollback()
        return "already"
    try:
        status = esign.status(document_id)
        signed = esign.download_signed(document_id) if status.complete and not status.rejected else None
    except SignatureError:
        db.session.rollback()
        raise
    if status.rejected:
        db.session.rollback()
        return "rejected"
    if not status.complete:
        db.session.rollback()
        return "pending"
    try:
        opportunity.signed_pdf_sha256 = store(signed, PDF)
    except DocumentStoreError:  # the webhook is answered 503 (the provider sends it again), the poll asks again
        db.session.rollback()
        raise
    opportunity.signed_at = clock.now()
    record(AuditTag.CONTRACT_SIGNED, actor=actor, subject=_subject(opportunity),
           after={"provider": opportunity.signature_provider, "document_id": document_id,
                  "signed_pdf_sha256": opportunity.signed_pdf_sha256,
                  "signers": [{"email": s.email, "signed_at": s.signed_at} for s in status.signers]})
    _move(opportunity, Stage.CONTRACT_SIGNED, actor=actor,
          detail={"document_id": document_id, "signed_pdf_sha256": opportunity.signed_pdf_sha256})
    db.session.commit()
    return "signed"


def handle_signature_event(event, *, esign: SignatureProvider, actor: Actor) -> str:
    """A verified webhook event: "document.finished" (or a signer's acceptance, which may finish it) is checked
    against the provider's status before anything moves; other events are acknowledged and ignored."""
    if event.event_type not in {"document.finished", "signature.accepted"}:
        return "ignored"
    return complete_signature(event.document_id, esign=esign, actor=actor)


def simulate_signature(opportunity: Opportunity, *, esign: SignatureProvider, actor: Actor) -> str:
    """Development (ESIGN_BACKEND=simulator): every signer "signs" in the simulator, and the webhook call it
    returns is verified and handled exactly as the webhook route does."""
    _require_permission(actor, StaffPermission.PIPELINE_MANAGE)
    sign = getattr(esign, "sign", None)
    if sign is None or opportunity.signature_provider != esign.name or not opportunity.signature_document_id:
        raise ServiceError(_("Só um contrato enviado pelo simulador de assinatura pode ter a assinatura simulada."))
    try:
        body, headers = sign(opportunity.signature_document_id)
        event = esign.parse_webhook(body, headers)
        return handle_signature_event(event, esign=esign, actor=actor)
    except SignatureError as error:
        db.session.rollback()
        raise ServiceError(_("O simulador de assinatura recusou: %(error)s", error=str(error))) from error


def awaiting_signature() -> list[str]:
    """Document ids of opportunities whose contract is out for signature (the polling job's work list)."""
    return list(db.session.scalars(
        select(Opportunity.signature_document_id).where(Opportunity.stage == Stage.CONTRACT_SENT,
                                                        Opportunity.signature_document_id.is_not(None))
        .order_by(Opportunity.id)
    ))


# ---------------------------------------------------------------- approval (financeiro)

def _check_approvable(opportunity: Opportunity, settings: OnboardingSettings) -> None:
    _require_open(opportunity)
    if Stage(opportunity.stage) != Stage.APPROVAL:
        raise ServiceError(_("Só uma oportunidade em “%(stage)s” pode ser aprovada.",
                             stage=stage_label(Stage.APPROVAL)))
    missing = missing_for(opportunity, Stage.HANDOVER, settings=settings)
    if missing:
        raise MissingData(Stage.HANDOVER, missing)


def approve(opportunity: Opportunity, *, actor: Actor, settings: OnboardingSettings, url_for_token,
            provisioner: LicenseProvisioner) -> Organization:
    """The financeiro approval: the customer's Microsoft tenant (the existing one, looked up by domain when given
    so, or a new one created at Partner Center), then the organization (its first Master = the responsible person,
    invited by e-mail) and the subscriptions through the licenses service (quote, ledger, lots, orders →
    provisioning; billed from the contract's first monthly payment), in one transaction; stage → card de
    passagem. The caller queues the handover card."""
    _require_permission(actor, StaffPermission.PIPELINE_APPROVE)
    _lock(opportunity)
    _check_approvable(opportunity, settings)
    tenant_id = _resolve_tenant(opportunity, provisioner=provisioner, actor=actor)
    _check_approvable(opportunity, settings)  # again: creating a tenant commits, and re-reads the row
    if tenant_id and opportunity.microsoft_tenant_id is None:
        opportunity.microsoft_tenant_id = tenant_id
    try:
        organization, orders = _create_customer(opportunity, actor=actor, url_for_token=url_for_token)
    except ServiceError:
        db.session.rollback()  # nothing of the customer stays behind
        raise
    now = clock.now()
    opportunity.organization_id = organization.id
    opportunity.approved_by_id = actor.user_id
    opportunity.approved_at = now
    opportunity.handover_status = None
    opportunity.handover_error = None
    record(AuditTag.OPPORTUNITY_APPROVED, actor=actor, organization_id=organization.id,
           subject=_subject(opportunity),
           after={"organization_id": organization.id, "orders": [order.id for order in orders],
                  "billing_day": opportunity.billing_day,
                  "first_payment_date": opportunity.first_payment_date.isoformat()})
    _move(opportunity, Stage.HANDOVER, actor=actor,
          detail={"organization_id": organization.id, "orders": [order.id for order in orders]})
    _queue_handover(opportunity)
    db.session.commit()
    return organization


def _queue_handover(opportunity: Opportunity) -> None:
    """Post the handover card once this transaction commits (a job: Teams may be slow or down)."""

    jobs.enqueue("onboarding.post_handover_card", opportunity.id)


def _provider_refusal(result: CustomerResult, what: str) -> ServiceError:
    error = result.error
    if error is not None and error.retryable:
        return ServiceError(_("A Microsoft (Partner Center) não respondeu ao %(what)s. Nada foi criado; tente de "
                              "novo em alguns minutos.", what=what))
    if error is not None and error.code == "not_found":
        return ServiceError(_("O domínio “%(domain)s” não é de um cliente da revenda no Partner Center. Confira o "
                              "domínio, peça ao cliente que aceite o convite de revenda ou escolha criar um novo "
                              "tenant.", domain=result.domain or ""))
    if error is not None and error.code == DOMAIN_TAKEN:
        return ServiceError(_("O domínio “%(domain)s” já está em uso na Microsoft. Nada foi criado; escolha outro "
                              "domínio para o novo tenant nos dados da oportunidade.", domain=result.domain or ""))
    # The provider's own words are English and technical: kept in the log for staff who investigate, not shown.
    log.warning("Partner Center refused the %s: %s", what, error.code if error is not None else "-",
                extra={"provider_message": error.message if error is not None else None})
    return ServiceError(_("A Microsoft (Partner Center) recusou o %(what)s. Nada foi criado; confira o tenant nos "
                          "dados da oportunidade e, se estiver certo, fale com a equipe técnica.", what=what))


def _resolve_tenant(opportunity: Opportunity, *, provisioner: LicenseProvisioner, actor: Actor) -> str | None:
    """The Partner Center customer id to order Microsoft products in (None: the proposal has none).

    A new tenant is created once: its id is committed on the opportunity at once, so an approval that fails
    afterwards (and its retry) never creates a second one. Partner Center is asked with the opportunity locked."""
    if opportunity.microsoft_tenant_id:
        return opportunity.microsoft_tenant_id
    reference = opportunity.tenant_reference
    if not needs_microsoft_tenant(opportunity):  # own services only: Partner Center is not asked (nor a tenant made)
        return reference if opportunity.tenant_mode == TENANT_EXISTING and _GUID.match(reference or "") else None
    if opportunity.tenant_mode == TENANT_EXISTING and _GUID.match(reference):
        return reference
    if opportunity.tenant_mode == TENANT_EXISTING:
        found = provisioner.find_customer(reference)
        if found.outcome != Outcome.DONE:
            db.session.rollback()
            raise _provider_refusal(CustomerResult(found.outcome, domain=reference, error=found.error),
                                    _("pedido do tenant pelo domínio"))
        return found.tenant_id
    o = opportunity
    first_name, _space, last_name = o.contact_name.strip().partition(" ")
    created = provisioner.create_customer(NewCustomer(
        domain=reference, company_name=o.legal_name, first_name=first_name, last_name=last_name or first_name,
        email=o.email, phone=re.sub(r"\D", "", o.phone), address_line1=", ".join(p for p in (o.street, o.number) if p),
        city=o.city, state=o.state, postal_code=o.postal_code, correlation_id=f"opportunity-{o.id}-tenant"))
    if created.outcome != Outcome.DONE:
        db.session.rollback()
        raise _provider_refusal(created, _("pedido de criação do tenant"))
    opportunity.microsoft_tenant_id = created.tenant_id
    _note(opportunity, _("Novo tenant Microsoft criado no Partner Center: %(domain)s.", domain=reference),
          actor=actor, detail={"tenant_id": created.tenant_id, "domain": reference})
    record(AuditTag.OPPORTUNITY_UPDATED, actor=actor, subject=_subject(opportunity),
           after={"microsoft_tenant_id": created.tenant_id, "tenant_created": reference})
    db.session.commit()  # created at Microsoft: kept whatever happens to the approval
    _lock(opportunity)
    return created.tenant_id


def _create_customer(opportunity: Opportunity, *, actor: Actor, url_for_token) -> tuple[Organization, list]:
    data = accounts.OrganizationData(
        legal_name=opportunity.legal_name, trade_name=opportunity.trade_name or opportunity.company_name,
        cnpj=opportunity.cnpj, street=opportunity.street, number=opportunity.number,
        complement=opportunity.complement, district=opportunity.district, city=opportunity.city,
        state=opportunity.state, postal_code=opportunity.postal_code, billing_day=opportunity.billing_day,
    )
    organization = accounts.create_approved_customer(
        data, master_email=opportunity.email, master_name=opportunity.contact_name, actor=actor,
        url_for_token=url_for_token)
    organization.microsoft_tenant_id = opportunity.microsoft_tenant_id
    orders = subscriptions.purchase_for_new_customer(
        organization=organization, items=[(_product(item), item.quantity) for item in opportunity.items],
        actor=actor, billing_starts_on=opportunity.first_payment_date)
    return organization, orders


def customer_orders(organization: Organization) -> list:
    """The license orders of the customer the approval created, oldest first."""

    return list(db.session.scalars(select(Order).where(Order.organization_id == organization.id)
                                   .order_by(Order.id)))


def _price_problems(opportunity: Opportunity, today: date) -> list[str]:
    """The subscriptions are billed at the catalog price: it must still be the one in the signed proposal."""
    problems = []
    for item in opportunity.items:
        product = _product(item)
        price = product.price_on(today)
        if not product.active or not product.family.active or price is None:
            problems.append(_("%(product)s à venda no catálogo", product=product.name))
        elif price.unit_price_cents != item.unit_price_cents:
            problems.append(_("o preço de %(product)s na proposta (%(quoted)s) igual ao do catálogo hoje (%(now)s)",
                              product=product.name, quoted=format_money(item.unit_price_cents),
                              now=format_money(price.unit_price_cents)))
        elif not product.min_quantity <= item.quantity <= product.max_quantity:
            problems.append(_("uma quantidade de %(product)s entre %(min)d e %(max)d", product=product.name,
                              min=product.min_quantity, max=product.max_quantity))
    return problems


# ---------------------------------------------------------------- handover card (Teams) and implantação

def handover_card(opportunity: Opportunity, *, contract_url: str) -> HandoverCard:
    """The card of the seed's template: "Empresa - Responsável" and the minimum checklist."""
    o = opportunity
    backup = needs_backup_sizing(o)
    if backup:
        licenses = str(o.windows_server_licenses or "—")
    else:
        licenses = "; ".join(f"{_product(item).name}: {item.quantity}" for item in o.items) or "—"
    return HandoverCard(
        company=o.legal_name or o.company_name, responsible=o.contact_name, phone=o.phone, email=o.email,
        disk_space=f"{o.disk_space_gb} GB" if o.disk_space_gb else "—",
        installation_sites=str(o.installation_sites) if o.installation_sites else "—",
        licenses=licenses, windows_server_version=o.windows_server_version or "—",
        billing_date=_billing_date(o.billing_day),
        first_payment_date=o.first_payment_date.strftime("%d/%m/%Y") if o.first_payment_date else "—",
        notes=o.notes or "—", contract_url=contract_url,
    )


def _billing_date(billing_day: int | None) -> str:
    """"dia 10 de cada mês (próximo: 10/12/2026)": the billing day and the next date it falls on."""
    if not billing_day:
        return "—"
    today = clock.today()
    start, end = periods.monthly_period(billing_day, today)
    upcoming = start if start == today else end
    return _("dia %(day)d de cada mês (próximo: %(date)s)", day=billing_day, date=upcoming.strftime("%d/%m/%Y"))


def post_handover(opportunity_id: int, *, teams: TeamsNotifier, contract_url: str, actor: Actor) -> str:
    """Post the handover card. "posted" (stage → implantação), "failed" (kept with the error, to retry), "retry"
    (failed, worth trying again) or "skipped" (nothing to post: already posted, or not in that stage)."""
    opportunity = db.session.get(Opportunity, opportunity_id)
    if opportunity is None:
        return "skipped"
    _lock(opportunity)
    if opportunity.stage != Stage.HANDOVER or opportunity.handover_status == "posted":
        db.session.rollback()
        return "skipped"
    with force_locale(DOCUMENT_LOCALE):
        card = handover_card(opportunity, contract_url=contract_url)
    try:
        teams.post_card(card)
    except TeamsError as error:
        opportunity.handover_status = "failed"
        opportunity.handover_error = str(error)[:2000]
        opportunity.updated_at = clock.now()
        _note(opportunity, _("Falha ao publicar o card no Teams: %(error)s", error=str(error)[:500]), actor=actor,
              detail={"status": error.status, "retryable": error.retryable})
        db.session.commit()
        return "retry" if error.retryable else "failed"
    now = clock.now()
    opportunity.handover_status = "posted"
    opportunity.handover_error = None
    opportunity.handover_posted_at = now
    record(AuditTag.HANDOVER_POSTED, actor=actor, organization_id=opportunity.organization_id,
           subject=_subject(opportunity), after={"title": card.title, "notifier": teams.name})
    _move(opportunity, Stage.IMPLANTATION, actor=actor, detail={"title": card.title})
    db.session.commit()
    return "posted"


def request_handover_again(opportunity: Opportunity, *, actor: Actor) -> None:
    """"Publicar de novo": a card not posted yet (failed, or lost) is queued again."""
    _require_permission(actor, StaffPermission.PIPELINE_MANAGE)
    _lock(opportunity)
    if opportunity.stage != Stage.HANDOVER:
        raise ServiceError(_("O card de passagem só é publicado na etapa “%(stage)s”.",
                             stage=stage_label(Stage.HANDOVER)))
    if opportunity.handover_status == "posted":
        raise ServiceError(_("O card de passagem já foi publicado."))
    opportunity.handover_status = None
    _note(opportunity, _("Nova publicação do card pedida."), actor=actor)
    _queue_handover(opportunity)
    db.session.commit()


def mark_implantation_done(opportunity: Opportunity, *, actor: Actor, note: str = "") -> None:
    """Support concluded the implantação: the customer is active (terminal)."""
    _require_permission(actor, StaffPermission.IMPLANTATION_MANAGE)
    _lock(opportunity)
    _require_open(opportunity)
    if opportunity.stage != Stage.IMPLANTATION:
        raise ServiceError(_("A implantação só pode ser concluída depois que o card de passagem é publicado."))
    unfinished = subscriptions.unfinished_orders(opportunity.organization_id)
    if unfinished:
        raise ServiceError(_("A implantação não pode ser concluída enquanto houver pedido de licenças não concluído "
                             "(%(orders)s). Conclua ou refaça esses pedidos na fila de pedidos antes.",
                             orders="; ".join(_("nº %(id)d: %(status)s", id=o.id, status=o.status_label)
                                              for o in unfinished)))
    now = clock.now()
    opportunity.implantation_done_at = now
    opportunity.implantation_done_by_id = actor.user_id
    note = (note or "").strip()[:2000]
    record(AuditTag.IMPLANTATION_DONE, actor=actor, organization_id=opportunity.organization_id,
           subject=_subject(opportunity), after={"note": note} if note else None)
    _move(opportunity, Stage.ACTIVE, actor=actor, note=note)
    db.session.commit()
