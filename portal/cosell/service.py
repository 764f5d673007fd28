"""Co-sell deals ("Venda conjunta"): registering and editing deals, the stage machine, favourites, the expiry of
unanswered inbound deals and the deal-registration eligibility of won deals.

Inbound deals ("Entrada") would arrive in production from Partner Center's referrals API (Microsoft sellers and
other partners send them). There is no client for that API here: staff register what they received
(`register_inbound`), and everything after that is the same as for a deal fetched from the API.

Every change writes a DealEvent (the deal's own history) and an audit event in the same transaction, and a deal in
a terminal stage (Ganho, Perdido, Recusado, Expirado, Erro) refuses any further change.
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError

from portal.accounts.roles import StaffPermission, staff_permissions_for
from portal.cosell.models import (
    DEAL_STAGE_LABELS,
    DEAL_TYPE_LABELS,
    Deal,
    DealEvent,
    DealFavorite,
    DealSolution,
    DealStage,
    DealStageMark,
    DealTeamMember,
    DealType,
    Direction,
)
from portal.extensions import db
from portal.notifications.service import queue_email
from portal.shared import clock
from portal.shared.audit import Actor, AuditTag, record
from portal.shared.errors import NotFound, PermissionDenied, ServiceError
from portal.shared.money import format_brl, round_half_up

# ---------------------------------------------------------------- the stage machine's shape

TERMINAL_STAGES = frozenset({DealStage.WON, DealStage.LOST, DealStage.DECLINED, DealStage.EXPIRED, DealStage.ERROR})
# Win probability of each stage as Partner Center reports it (percent).
STAGE_PERCENT = {
    DealStage.CREATED: 10,
    DealStage.ACCEPTED: 10,
    DealStage.QUALIFIED: 20,
    DealStage.DEVELOPED: 40,
    DealStage.PROPOSED: 60,
    DealStage.NEGOTIATED: 80,
    DealStage.WON: 100,
}
# The sales stages marked one after the other between the start (Criado or Aceito) and Ganho.
SALES_STAGES = (DealStage.QUALIFIED, DealStage.DEVELOPED, DealStage.PROPOSED, DealStage.NEGOTIATED)
INBOUND_EXPIRY_DAYS = 14  # an inbound deal nobody accepted or declined in this many days expires

COSELL_TYPES = frozenset({DealType.IP_COSELL, DealType.SERVICES_COSELL})
# Microsoft sellers send co-sell referrals; other partners send parceiro a parceiro ones.
INBOUND_TYPES = (DealType.IP_COSELL, DealType.SERVICES_COSELL, DealType.P2P)
OUTBOUND_TYPES = (DealType.IP_COSELL, DealType.SERVICES_COSELL, DealType.PARTNER_LED, DealType.PRIVATE,
                  DealType.P2P, DealType.SOLUTION_ASSESSMENT)
# A private deal may become a co-sell (or partner-led) deal before it reaches a terminal stage.
UPGRADE_TYPES = (DealType.IP_COSELL, DealType.SERVICES_COSELL, DealType.PARTNER_LED)

# Partner Center's picklists. Stored values are the keys; the labels are what staff read.
PARTNER_ROLES = {
    "presales_advisory": _l("Consultoria de pré-vendas"),
    "solution_design": _l("Design da solução"),
    "proof_of_concept": _l("Prova de conceito"),
    "business_strategy": _l("Estratégia de negócios"),
    "deployment": _l("Serviços de implantação"),
    "adoption_change": _l("Gerenciamento de adoção e mudanças"),
    "transaction": _l("Transação"),
    "managed_services": _l("Serviços gerenciados"),
}
SOLUTION_AREAS = {
    "data_ai": _l("Dados e IA (Azure)"),
    "infrastructure": _l("Infraestrutura (Azure)"),
    "app_innovation": _l("Inovação digital e de aplicativos (Azure)"),
    "modern_work": _l("Trabalho moderno"),
    "business_applications": _l("Aplicativos de negócios"),
    "security": _l("Segurança"),
}
MARKETPLACE_INTENTS = {"yes": _l("Sim"), "no": _l("Não"), "undecided": _l("Não decidido")}
# The partner program location scope of the deal (cannot change after creation).
LOCATIONS = {
    "BR": _l("Brasil"),
    "AR": _l("Argentina"),
    "CL": _l("Chile"),
    "CO": _l("Colômbia"),
    "MX": _l("México"),
    "PT": _l("Portugal"),
    "US": _l("Estados Unidos"),
}
CURRENCIES = ("BRL", "USD", "EUR")
CURRENCY_SYMBOLS = {"BRL": "R$", "USD": "US$", "EUR": "€"}

MAX_VALUE_MINOR = 10**15  # cents; 10 trillion is a typo, and the column (BIGINT) must never overflow
MAX_TEAM = 10
MAX_SOLUTIONS = 10
MAX_REASON = 2000

# Deal registration (Partner Center's "Registro de negociação").
REGISTRATION_MIN_USD_MINOR = 25_000_00  # US$ 25,000.00 in cents
REGISTRATION_MIN_GAP = timedelta(hours=72)  # between creating the deal and marking it won
DEFAULT_USD_RATES = "BRL=0.18,EUR=1.08"  # COSELL_USD_RATES: one unit of the currency in US dollars


# ---------------------------------------------------------------- input

@dataclass
class TeamMemberData:
    name: str = ""
    phone: str = ""
    email: str = ""


@dataclass
class SolutionData:
    name: str = ""
    ip_cosell_ready: bool = False


@dataclass
class DealData:
    """What the referral form holds. None for a value that is missing (or could not be read)."""

    deal_type: str = ""
    name: str = ""
    location: str = "BR"
    customer_name: str = ""
    customer_location: str = ""
    customer_contact_name: str = ""
    customer_contact_phone: str = ""
    customer_contact_email: str = ""
    account_managed_by_microsoft: bool = False  # the customer was picked from the "Microsoft Managed" accounts
    estimated_value_minor: int | None = None  # cents of `currency`
    currency: str = "BRL"
    estimated_close_date: date | None = None
    crm_id: str = ""
    campaign_id: str = ""
    partner_role: str = ""  # services co-sell: required; IP co-sell: not used
    solution_area: str = ""  # services co-sell: required
    solution_play: str = ""  # services co-sell: required
    notes: str = ""
    marketplace_intent: str = "undecided"  # IP co-sell only
    microsoft_accepted: bool = False  # co-sell only: Microsoft sellers accepted to work on the deal
    team: list[TeamMemberData] = field(default_factory=list)
    solutions: list[SolutionData] = field(default_factory=list)


class DealInputError(ServiceError):
    """The form's refusals at once: field name → translated message (`team-0-phone`, `solutions` …)."""

    def __init__(self, errors: dict[str, str]) -> None:
        first_field, first_message = next(iter(errors.items()))
        super().__init__(first_message, first_field)
        self.errors = errors


_COUNTRY = re.compile(r"^[A-Z]{2}$")


def _email_ok(value: str) -> bool:
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def _clean(data: DealData) -> DealData:
    """Strip the text, and drop what the type does not use (partner role on IP co-sell, intent outside IP co-sell…)."""
    stripped = {name: value.strip() if isinstance(value, str) else value for name, value in vars(data).items()}
    stripped["location"] = stripped["location"].upper()
    stripped["currency"] = stripped["currency"].upper()
    stripped["team"] = [TeamMemberData(m.name.strip(), m.phone.strip(), m.email.strip()) for m in data.team]
    stripped["solutions"] = [SolutionData(s.name.strip(), bool(s.ip_cosell_ready)) for s in data.solutions]
    cleaned = DealData(**stripped)
    if cleaned.deal_type == DealType.IP_COSELL:
        cleaned.partner_role = ""  # not shown for IP co-sell
    else:
        cleaned.marketplace_intent = "undecided"  # the intent is captured for IP co-sell only
    if cleaned.deal_type not in COSELL_TYPES:
        cleaned.microsoft_accepted = False
    return cleaned


def _text(errors: dict, name: str, value: str, *, limit: int, missing: str | None = None) -> None:
    if not value:
        if missing:
            errors[name] = missing
    elif len(value) > limit:
        errors[name] = _("Use no máximo %(max)d caracteres.", max=limit)


def validate(data: DealData, *, direction: str, today: date, check_close_date: bool = True) -> dict[str, str]:
    """Every refusal of `data` for a deal of `direction`, by field name (empty when the deal may be saved).

    `check_close_date`: an estimated close date in the past is refused when the date is typed (creating, or
    changing it), not when an older deal is edited for something else.
    """
    errors: dict[str, str] = {}
    allowed_types = INBOUND_TYPES if direction == Direction.INBOUND else OUTBOUND_TYPES
    if not data.deal_type:
        errors["deal_type"] = _("Escolha o tipo do negócio.")
    elif data.deal_type not in allowed_types:
        errors["deal_type"] = (
            _("Indicações recebidas são de co-sell de IP, co-sell de serviços ou parceiro a parceiro.")
            if direction == Direction.INBOUND else _("Escolha um tipo de negócio da lista."))
    _text(errors, "name", data.name, limit=200, missing=_("Informe o nome do negócio."))
    if not data.location:
        errors["location"] = _("Escolha a localização do negócio.")
    elif not _COUNTRY.match(data.location) or data.location not in LOCATIONS:
        errors["location"] = _("Escolha uma localização da lista.")
    _text(errors, "customer_name", data.customer_name, limit=200, missing=_("Informe o nome do cliente."))
    _text(errors, "customer_location", data.customer_location, limit=100,
          missing=_("Informe a localização do cliente (cidade e estado, ou país)."))
    _text(errors, "customer_contact_name", data.customer_contact_name, limit=200)
    _text(errors, "customer_contact_phone", data.customer_contact_phone, limit=30)
    _text(errors, "customer_contact_email", data.customer_contact_email, limit=254)
    if data.customer_contact_email and "customer_contact_email" not in errors and not _email_ok(
            data.customer_contact_email):
        errors["customer_contact_email"] = _("Informe um e-mail válido para o contato do cliente.")
    if data.estimated_value_minor is None:
        errors["estimated_value"] = _("Informe o valor estimado do negócio, como 1.234,56.")
    elif data.estimated_value_minor <= 0:
        errors["estimated_value"] = _("O valor estimado deve ser maior que zero.")
    elif data.estimated_value_minor > MAX_VALUE_MINOR:
        errors["estimated_value"] = _("O valor estimado é grande demais: confira o número.")
    if data.currency not in CURRENCIES:
        errors["currency"] = _("Escolha a moeda: BRL, USD ou EUR.")
    if data.estimated_close_date is None:
        errors["estimated_close_date"] = _("Informe a data prevista de fechamento.")
    elif check_close_date and data.estimated_close_date < today:
        errors["estimated_close_date"] = _("A data prevista de fechamento deve ser hoje ou uma data futura.")
    _text(errors, "crm_id", data.crm_id, limit=60)
    _text(errors, "campaign_id", data.campaign_id, limit=60)
    services = data.deal_type == DealType.SERVICES_COSELL
    if data.partner_role and data.partner_role not in PARTNER_ROLES:
        errors["partner_role"] = _("Escolha uma função do parceiro da lista.")
    elif services and not data.partner_role:
        errors["partner_role"] = _("Informe a função do parceiro: é obrigatória em co-sell de serviços.")
    if data.solution_area and data.solution_area not in SOLUTION_AREAS:
        errors["solution_area"] = _("Escolha uma área da solução da lista.")
    elif services and not data.solution_area:
        errors["solution_area"] = _("Informe a área da solução: é obrigatória em co-sell de serviços.")
    _text(errors, "solution_play", data.solution_play, limit=80,
          missing=_("Informe o solution play: é obrigatório em co-sell de serviços.") if services else None)
    _text(errors, "notes", data.notes, limit=5000,
          missing=_("Escreva as anotações: o problema do cliente e a ajuda que se espera da Microsoft."))
    if data.marketplace_intent not in MARKETPLACE_INTENTS:
        errors["marketplace_intent"] = _("Escolha se o cliente pretende comprar pelo marketplace: sim, não ou "
                                         "não decidido.")
    _validate_team(errors, data.team)
    _validate_solutions(errors, data)
    return errors


def _validate_team(errors: dict, team: Sequence[TeamMemberData]) -> None:
    if not team:
        errors["team"] = _("Adicione pelo menos um membro da equipe com nome, telefone e e-mail.")
    elif len(team) > MAX_TEAM:
        errors["team"] = _("No máximo %(max)d membros da equipe.", max=MAX_TEAM)
    for position, member in enumerate(team[:MAX_TEAM]):
        prefix = f"team-{position}-"
        _text(errors, prefix + "name", member.name, limit=200, missing=_("Informe o nome do membro da equipe."))
        _text(errors, prefix + "phone", member.phone, limit=30, missing=_("Informe o telefone do membro da equipe."))
        _text(errors, prefix + "email", member.email, limit=254, missing=_("Informe o e-mail do membro da equipe."))
        if member.email and prefix + "email" not in errors and not _email_ok(member.email):
            errors[prefix + "email"] = _("Informe um e-mail válido para o membro da equipe.")


def _validate_solutions(errors: dict, data: DealData) -> None:
    solutions = data.solutions
    if data.deal_type == DealType.SOLUTION_ASSESSMENT and len(solutions) != 1:
        errors["solutions"] = _("Uma avaliação de solução tem exatamente uma solução (informadas: %(n)d).",
                                n=len(solutions))
    elif data.deal_type == DealType.IP_COSELL and not solutions:
        errors["solutions"] = _("Co-sell de IP precisa de pelo menos uma solução.")
    elif len(solutions) > MAX_SOLUTIONS:
        errors["solutions"] = _("No máximo %(max)d soluções.", max=MAX_SOLUTIONS)
    for position, solution in enumerate(solutions[:MAX_SOLUTIONS]):
        _text(errors, f"solutions-{position}-name", solution.name, limit=200,
              missing=_("Informe o nome da solução."))


# ---------------------------------------------------------------- helpers

def format_amount(minor: int, currency: str, locale: str = "pt_BR") -> str:
    """`123456, "USD"` → `US$ 1.234,56` (pt_BR) or `US$1,234.56` (en)."""
    text = format_brl(minor, locale)
    return text.replace("R$", CURRENCY_SYMBOLS.get(currency, currency), 1)


def stage_percent(stage: str) -> int | None:
    return STAGE_PERCENT.get(stage)


def is_terminal(deal: Deal) -> bool:
    return deal.stage in TERMINAL_STAGES


def start_stage(deal: Deal) -> DealStage:
    """Outbound deals start at Criado; inbound ones at Aceito once accepted."""
    return DealStage.ACCEPTED if deal.direction == Direction.INBOUND else DealStage.CREATED


def stages_before_won(deal: Deal) -> tuple[DealStage, ...]:
    """Every stage that must be marked before Ganho."""
    return (start_stage(deal), *SALES_STAGES)


def marked_stages(deal: Deal) -> dict[str, DealStageMark]:
    return {mark.stage: mark for mark in deal.marks}


def next_sales_stage(deal: Deal) -> DealStage | None:
    """The one stage that may be marked now (they go in order), or None."""
    if is_terminal(deal) or deal.stage == DealStage.RECEIVED:
        return None
    marked = marked_stages(deal)
    return next((stage for stage in SALES_STAGES if stage not in marked), None)


def missing_before_won(deal: Deal) -> list[DealStage]:
    marked = marked_stages(deal)
    return [stage for stage in stages_before_won(deal) if stage not in marked]


def expires_at(deal: Deal) -> datetime | None:
    """When an unanswered inbound deal expires."""
    if deal.direction != Direction.INBOUND or deal.stage != DealStage.RECEIVED:
        return None
    return (deal.received_at or deal.created_at) + timedelta(days=INBOUND_EXPIRY_DAYS)


def _require(actor: Actor, permission: StaffPermission):
    user = actor.user
    if user is None or not user.is_staff or not user.active or permission not in staff_permissions_for(
            user.staff_roles):
        if permission == StaffPermission.COSELL_MANAGE:
            raise PermissionDenied(_("Apenas a equipe comercial cria e altera negócios de venda conjunta."))
        raise PermissionDenied(_("Apenas a equipe vê os negócios de venda conjunta."))
    return user


def _locked(deal: Deal) -> Deal:
    """The deal re-read under a row lock: two people acting at once change it one after the other."""
    return db.session.scalars(
        select(Deal).where(Deal.id == deal.id).with_for_update().execution_options(populate_existing=True)
    ).one()


def _require_open(deal: Deal) -> None:
    if is_terminal(deal):
        raise ServiceError(_("Este negócio está encerrado (%(stage)s) e não pode mais ser alterado.",
                             stage=DEAL_STAGE_LABELS[DealStage(deal.stage)]))


def _snapshot(deal: Deal, team=None, solutions=None) -> dict[str, Any]:
    team = deal.team if team is None else team
    solutions = deal.solutions if solutions is None else solutions
    return {
        "deal_type": deal.deal_type, "name": deal.name, "location": deal.location,
        "customer_name": deal.customer_name, "customer_location": deal.customer_location,
        "customer_contact_name": deal.customer_contact_name, "customer_contact_phone": deal.customer_contact_phone,
        "customer_contact_email": deal.customer_contact_email,
        "account_managed_by_microsoft": deal.account_managed_by_microsoft,
        "estimated_value_minor": deal.estimated_value_minor, "currency": deal.currency,
        "estimated_close_date": deal.estimated_close_date.isoformat() if deal.estimated_close_date else None,
        "crm_id": deal.crm_id, "campaign_id": deal.campaign_id, "partner_role": deal.partner_role,
        "solution_area": deal.solution_area, "solution_play": deal.solution_play, "notes": deal.notes,
        "marketplace_intent": deal.marketplace_intent, "microsoft_accepted": deal.microsoft_accepted,
        "team": [[m.name, m.phone, m.email] for m in team],
        "solutions": [[s.name, bool(s.ip_cosell_ready)] for s in solutions],
    }


def _assign(deal: Deal, data: DealData) -> None:
    for name in ("deal_type", "name", "location", "customer_name", "customer_location", "customer_contact_name",
                 "customer_contact_phone", "customer_contact_email", "account_managed_by_microsoft",
                 "estimated_value_minor", "currency", "estimated_close_date", "crm_id", "campaign_id",
                 "partner_role", "solution_area", "solution_play", "notes", "marketplace_intent",
                 "microsoft_accepted"):
        setattr(deal, name, getattr(data, name))


def _replace_team_and_solutions(deal: Deal, data: DealData) -> None:
    """New rows for the team and the solutions; the old ones are deleted (the deal's event keeps what they were)."""
    for row in [*deal.team, *deal.solutions]:
        db.session.delete(row)
    for member in data.team:
        db.session.add(DealTeamMember(deal_id=deal.id, name=member.name, phone=member.phone, email=member.email))
    for solution in data.solutions:
        db.session.add(DealSolution(deal_id=deal.id, name=solution.name, ip_cosell_ready=solution.ip_cosell_ready))
    db.session.flush()
    db.session.expire(deal, ["team", "solutions"])


def _event(deal: Deal, *, actor: Actor, from_stage: str | None, to_stage: str, note: str = "",
           detail: Any = None) -> DealEvent:
    event = DealEvent(deal_id=deal.id, from_stage=from_stage, to_stage=to_stage, actor_label=actor.label[:254],
                      note=note, detail=detail, created_at=clock.now())
    db.session.add(event)
    return event


def _mark(deal: Deal, stage: DealStage, actor: Actor) -> None:
    db.session.add(DealStageMark(deal_id=deal.id, stage=stage, marked_at=clock.now(), marked_by_id=actor.user_id))


def _move(deal: Deal, to_stage: DealStage, *, actor: Actor, reason: str = "", action: str) -> None:
    """Move `deal` to `to_stage`: the DealEvent and the audit event; terminal stages close it."""
    from_stage = deal.stage
    now = clock.now()
    deal.stage = to_stage
    if to_stage in TERMINAL_STAGES:
        deal.closed_at = now
        if reason:
            deal.close_reason = reason
    if to_stage == DealStage.WON:
        deal.won_at = now
    _event(deal, actor=actor, from_stage=from_stage, to_stage=to_stage, note=reason, detail={"action": action})
    after: dict[str, Any] = {"stage": to_stage, "action": action}
    if reason:
        after["reason"] = reason
    record(AuditTag.DEAL_STAGE_CHANGED, actor=actor, organization_id=deal.organization_id, subject=f"deal:{deal.id}",
           before={"stage": from_stage}, after=after)


def _reason(reason: str, missing: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError(missing, "reason")
    if len(reason) > MAX_REASON:
        raise ServiceError(_("Use no máximo %(max)d caracteres.", max=MAX_REASON), "reason")
    return reason


# ---------------------------------------------------------------- creating and editing

def _create(data: DealData, *, direction: Direction, actor: Actor) -> Deal:
    _require(actor, StaffPermission.COSELL_MANAGE)
    data = _clean(data)
    errors = validate(data, direction=direction, today=clock.today())
    if errors:
        raise DealInputError(errors)
    now = clock.now()
    inbound = direction == Direction.INBOUND
    stage = DealStage.RECEIVED if inbound else DealStage.CREATED
    deal = Deal(direction=direction, stage=stage, created_by_id=actor.user_id, created_at=now,
                received_at=now if inbound else None)
    _assign(deal, data)
    db.session.add(deal)
    db.session.flush()
    _replace_team_and_solutions(deal, data)
    if not inbound:
        _mark(deal, DealStage.CREATED, actor)
    _event(deal, actor=actor, from_stage=None, to_stage=stage,
           detail={"action": "received" if inbound else "created"})
    record(AuditTag.DEAL_CREATED, actor=actor, organization_id=deal.organization_id, subject=f"deal:{deal.id}",
           after={**_snapshot(deal, data.team, data.solutions), "direction": direction, "stage": stage})
    db.session.commit()
    return deal


def create_outbound(data: DealData, *, actor: Actor) -> Deal:
    """A deal we create ("Saída"): it starts at Criado (10%), with that stage marked."""
    return _create(data, direction=Direction.OUTBOUND, actor=actor)


def register_inbound(data: DealData, *, actor: Actor) -> Deal:
    """A referral Microsoft (or a partner) sent us ("Entrada"), as received: it waits at Recebido to be accepted or
    declined, and expires after 14 days without an answer. In production these come from Partner Center's
    referrals API; staff register them by hand here."""
    return _create(data, direction=Direction.INBOUND, actor=actor)


def update_deal(deal: Deal, data: DealData, *, actor: Actor) -> dict[str, Any]:
    """Change the fields, team and solutions of an open deal; returns what changed (empty: nothing did).

    The type changes only through `upgrade` (private deals), and the location never changes after creation.
    """
    _require(actor, StaffPermission.COSELL_MANAGE)
    deal = _guarded(deal, _require_open)
    data = _clean(data)
    errors = validate(data, direction=deal.direction, today=clock.today(),
                      check_close_date=data.estimated_close_date != deal.estimated_close_date)
    if data.deal_type != deal.deal_type:
        errors["deal_type"] = _("O tipo não muda na edição: um negócio privado é convertido em co-sell pela ação "
                                "“Converter em co-sell”.")
    if data.location != deal.location:
        errors["location"] = _("A localização não pode ser alterada depois que o negócio é criado.")
    if errors:
        db.session.rollback()
        raise DealInputError(errors)
    before = _snapshot(deal)
    after = _snapshot(_Preview(data), data.team, data.solutions)
    changes = {name: [before[name], after[name]] for name in before if before[name] != after[name]}
    if not changes:
        db.session.rollback()
        return {}
    _assign(deal, data)
    if "team" in changes or "solutions" in changes:
        _replace_team_and_solutions(deal, data)
    _event(deal, actor=actor, from_stage=deal.stage, to_stage=deal.stage,
           detail={"action": "updated", "fields": sorted(changes)})
    record(AuditTag.DEAL_UPDATED, actor=actor, organization_id=deal.organization_id, subject=f"deal:{deal.id}",
           before={name: old for name, (old, _new) in changes.items()},
           after={name: new for name, (_old, new) in changes.items()})
    db.session.commit()
    return changes


class _Preview:
    """`DealData` read like a Deal, for `_snapshot`."""

    def __init__(self, data: DealData) -> None:
        self.__dict__.update(vars(data))


def upgrade(deal: Deal, *, deal_type: str, actor: Actor, partner_role: str = "", solution_area: str = "",
            solution_play: str = "", marketplace_intent: str = "undecided") -> Deal:
    """A private deal becomes co-sell (IP or services) or partner-led before a terminal stage; the new type's
    required fields must then be present (services: partner role, area and play; IP: a solution)."""
    _require(actor, StaffPermission.COSELL_MANAGE)

    def check(locked: Deal) -> None:
        _require_open(locked)
        if locked.deal_type != DealType.PRIVATE:
            raise ServiceError(_("Só negócios privados são convertidos (este é %(type)s).",
                                 type=DEAL_TYPE_LABELS[DealType(locked.deal_type)]), "deal_type")

    deal = _guarded(deal, check)
    if deal_type not in UPGRADE_TYPES:
        db.session.rollback()
        raise DealInputError({"deal_type": _("Escolha co-sell de IP, co-sell de serviços ou liderado por "
                                             "parceiro.")})
    current = DealData(**{name: value for name, value in _snapshot(deal).items()
                          if name not in {"team", "solutions", "estimated_close_date"}},
                       estimated_close_date=deal.estimated_close_date,
                       team=[TeamMemberData(m.name, m.phone, m.email) for m in deal.team],
                       solutions=[SolutionData(s.name, s.ip_cosell_ready) for s in deal.solutions])
    data = _clean(replace(current, deal_type=deal_type, partner_role=partner_role or current.partner_role,
                          solution_area=solution_area or current.solution_area,
                          solution_play=solution_play or current.solution_play,
                          marketplace_intent=marketplace_intent or "undecided"))
    errors = validate(data, direction=deal.direction, today=clock.today(), check_close_date=False)
    if errors:
        db.session.rollback()
        if "solutions" in errors:
            errors["solutions"] = _("Co-sell de IP precisa de pelo menos uma solução: edite o negócio e adicione a "
                                    "solução antes de converter.")
        raise DealInputError(errors)
    before = {"deal_type": deal.deal_type, "partner_role": deal.partner_role, "solution_area": deal.solution_area,
              "solution_play": deal.solution_play, "marketplace_intent": deal.marketplace_intent}
    _assign(deal, data)
    after = {"deal_type": deal.deal_type, "partner_role": deal.partner_role, "solution_area": deal.solution_area,
             "solution_play": deal.solution_play, "marketplace_intent": deal.marketplace_intent}
    _event(deal, actor=actor, from_stage=deal.stage, to_stage=deal.stage,
           detail={"action": "upgraded", "from_type": before["deal_type"], "to_type": deal_type})
    record(AuditTag.DEAL_UPDATED, actor=actor, organization_id=deal.organization_id, subject=f"deal:{deal.id}",
           before=before, after={**after, "action": "upgraded"})
    db.session.commit()
    return deal


# ---------------------------------------------------------------- the stage machine

def _require_received(deal: Deal) -> None:
    _require_open(deal)
    if deal.direction != Direction.INBOUND:
        raise ServiceError(_("Só indicações recebidas (Entrada) são aceitas ou recusadas."))
    if deal.stage != DealStage.RECEIVED:
        raise ServiceError(_("Esta indicação já foi aceita."))


def _require_working(deal: Deal) -> None:
    _require_open(deal)
    if deal.stage == DealStage.RECEIVED:
        raise ServiceError(_("Aceite a indicação antes de marcar etapas, ganhar ou perder o negócio."))


def _guarded(deal: Deal, check) -> Deal:
    deal = _locked(deal)
    try:
        check(deal)
    except ServiceError:
        db.session.rollback()
        raise
    return deal


def accept(deal: Deal, *, actor: Actor) -> Deal:
    """Recebido → Aceito (10%): we will work on the inbound deal."""
    _require(actor, StaffPermission.COSELL_MANAGE)
    deal = _guarded(deal, _require_received)
    _mark(deal, DealStage.ACCEPTED, actor)
    _move(deal, DealStage.ACCEPTED, actor=actor, action="accepted")
    db.session.commit()
    return deal


def decline(deal: Deal, *, reason: str, actor: Actor) -> Deal:
    """Recebido → Recusado (terminal), with the reason."""
    _require(actor, StaffPermission.COSELL_MANAGE)
    deal = _guarded(deal, _require_received)
    try:
        reason = _reason(reason, _("Informe o motivo da recusa."))
    except ServiceError:
        db.session.rollback()
        raise
    _move(deal, DealStage.DECLINED, actor=actor, reason=reason, action="declined")
    db.session.commit()
    return deal


def mark_stage(deal: Deal, stage: str, *, actor: Actor) -> Deal:
    """Mark the next sales stage (Qualificado 20%, Desenvolvido 40%, Proposto 60%, Negociado 80%), in order."""
    _require(actor, StaffPermission.COSELL_MANAGE)

    def check(locked: Deal) -> None:
        _require_working(locked)
        if stage not in SALES_STAGES:
            raise ServiceError(_("Escolha uma etapa de vendas: Qualificado, Desenvolvido, Proposto ou Negociado."),
                               "stage")
        label = DEAL_STAGE_LABELS[DealStage(stage)]
        if stage in marked_stages(locked):
            raise ServiceError(_("A etapa %(stage)s já foi marcada.", stage=label), "stage")
        expected = next_sales_stage(locked)
        if stage != expected:
            raise ServiceError(_("Marque as etapas em ordem: a próxima é %(next)s.",
                                 next=DEAL_STAGE_LABELS[expected]), "stage")

    deal = _guarded(deal, check)
    _mark(deal, DealStage(stage), actor)
    _move(deal, DealStage(stage), actor=actor, action="marked")
    db.session.commit()
    return deal


def win(deal: Deal, *, actor: Actor) -> Deal:
    """→ Ganho (100%, terminal), only once every earlier stage is marked."""
    _require(actor, StaffPermission.COSELL_MANAGE)

    def check(locked: Deal) -> None:
        _require_working(locked)
        missing = missing_before_won(locked)
        if missing:
            raise ServiceError(_("Ganho só depois de marcar todas as etapas anteriores. Falta marcar: %(stages)s.",
                                 stages=", ".join(str(DEAL_STAGE_LABELS[s]) for s in missing)), "stage")

    deal = _guarded(deal, check)
    _mark(deal, DealStage.WON, actor)
    _move(deal, DealStage.WON, actor=actor, action="won")
    db.session.commit()
    return deal


def lose(deal: Deal, *, reason: str, actor: Actor) -> Deal:
    """→ Perdido (terminal), with the reason. An inbound deal not yet accepted is declined instead."""
    _require(actor, StaffPermission.COSELL_MANAGE)

    def check(locked: Deal) -> None:
        _require_open(locked)
        if locked.stage == DealStage.RECEIVED:
            raise ServiceError(_("Uma indicação ainda não aceita é recusada, não perdida."))

    deal = _guarded(deal, check)
    try:
        reason = _reason(reason, _("Informe o motivo da perda."))
    except ServiceError:
        db.session.rollback()
        raise
    _move(deal, DealStage.LOST, actor=actor, reason=reason, action="lost")
    db.session.commit()
    return deal


def close_as_error(deal: Deal, *, reason: str, actor: Actor) -> Deal:
    """→ Erro (terminal) from any open stage: a duplicate, the wrong customer, a wrong value…"""
    _require(actor, StaffPermission.COSELL_MANAGE)
    deal = _guarded(deal, _require_open)
    try:
        reason = _reason(reason, _("Informe o motivo do erro (por exemplo: negócio duplicado, cliente errado)."))
    except ServiceError:
        db.session.rollback()
        raise
    _move(deal, DealStage.ERROR, actor=actor, reason=reason, action="error")
    db.session.commit()
    return deal


def expire_unanswered(*, now: datetime, actor: Actor, notify_to: str, base_url: str, language: str) -> list[int]:
    """Inbound deals still at Recebido 14 days after they arrived → Expirado; one e-mail to `notify_to` lists
    them. Returns their ids (none: no e-mail)."""

    cutoff = now - timedelta(days=INBOUND_EXPIRY_DAYS)
    due = db.session.scalars(
        select(Deal)
        .where(Deal.direction == Direction.INBOUND, Deal.stage == DealStage.RECEIVED,
               or_(Deal.received_at <= cutoff, and_(Deal.received_at.is_(None), Deal.created_at <= cutoff)))
        .order_by(Deal.id).with_for_update().execution_options(populate_existing=True)
    ).all()
    if not due:
        db.session.rollback()
        return []
    reason = _("Sem resposta em %(days)d dias.", days=INBOUND_EXPIRY_DAYS)
    for deal in due:
        _move(deal, DealStage.EXPIRED, actor=actor, reason=reason, action="expired")
    rows = [{"id": deal.id, "name": deal.name, "customer": deal.customer_name,
             "type": DEAL_TYPE_LABELS[DealType(deal.deal_type)], "received_at": deal.received_at or deal.created_at,
             "value": format_amount(deal.estimated_value_minor, deal.currency),
             "url": f"{base_url.rstrip('/')}/backoffice/venda-conjunta/{deal.id}"} for deal in due]
    queue_email(
        "deal_expired", to=[notify_to],
        subject_fn=lambda: ngettext("%(num)d indicação de venda conjunta expirou sem resposta",
                                    "%(num)d indicações de venda conjunta expiraram sem resposta", len(rows)),
        context={"deals": rows, "days": INBOUND_EXPIRY_DAYS,
                 "list_url": f"{base_url.rstrip('/')}/backoffice/venda-conjunta?aba=entrada"},
        language=language,
    )
    db.session.commit()
    return [row["id"] for row in rows]


# ---------------------------------------------------------------- favourites and reading

def toggle_favorite(deal: Deal, *, actor: Actor) -> bool:
    """Heart or un-heart `deal` for the staff user acting; True when it is a favourite now.

    A personal bookmark, not a change of the deal: any staff role that sees deals may use it, and nothing is audited.
    """
    user = _require(actor, StaffPermission.PIPELINE_READ)
    existing = db.session.scalar(select(DealFavorite).where(DealFavorite.deal_id == deal.id,
                                                            DealFavorite.user_id == user.id))
    if existing is not None:
        db.session.delete(existing)
        db.session.commit()
        return False
    try:
        with db.session.begin_nested():
            db.session.add(DealFavorite(deal_id=deal.id, user_id=user.id))
    except IntegrityError:  # hearted twice at once (two tabs): it is a favourite either way
        pass
    db.session.commit()
    return True


def favorite_ids(user_id: int, deal_ids: Sequence[int]) -> set[int]:
    if not deal_ids:
        return set()
    return set(db.session.scalars(select(DealFavorite.deal_id).where(DealFavorite.user_id == user_id,
                                                                      DealFavorite.deal_id.in_(deal_ids))))


TABS = ("entrada", "saida", "favoritos")


def _tab_filter(statement, tab: str, user_id: int):
    if tab == "favoritos":
        return statement.join(DealFavorite, and_(DealFavorite.deal_id == Deal.id, DealFavorite.user_id == user_id))
    return statement.where(Deal.direction == (Direction.INBOUND if tab == "entrada" else Direction.OUTBOUND))


def search_deals(*, tab: str, user_id: int, deal_type: str | None = None, stage: str | None = None,
                 query: str = "", page: int = 1, per_page: int = 50) -> list[Deal]:
    """Deals of `tab` (entrada, saida, favoritos of `user_id`) matching the filters, newest first: up to
    `per_page + 1` rows (one more tells there is a next page). `query` is part of the deal's or customer's name."""
    statement = _tab_filter(select(Deal), tab, user_id).order_by(Deal.created_at.desc(), Deal.id.desc())
    if deal_type:
        statement = statement.where(Deal.deal_type == deal_type)
    if stage:
        statement = statement.where(Deal.stage == stage)
    if query:
        text = query.lower()
        statement = statement.where(or_(func.lower(Deal.name).contains(text, autoescape=True),
                                        func.lower(Deal.customer_name).contains(text, autoescape=True)))
    return list(db.session.scalars(statement.limit(per_page + 1).offset((page - 1) * per_page)))


def tab_counts(user_id: int) -> dict[str, int]:
    """How many deals each tab holds, and how many inbound ones wait for an answer."""
    counts = {tab: db.session.scalar(_tab_filter(select(func.count(Deal.id)), tab, user_id)) or 0 for tab in TABS}
    counts["waiting"] = db.session.scalar(select(func.count(Deal.id)).where(
        Deal.direction == Direction.INBOUND, Deal.stage == DealStage.RECEIVED)) or 0
    return counts


def get_deal(deal_id: int) -> Deal:
    deal = db.session.get(Deal, deal_id)
    if deal is None:
        raise NotFound(_("Negócio não encontrado."))
    return deal


def deal_events(deal: Deal) -> list[DealEvent]:
    return list(db.session.scalars(select(DealEvent).where(DealEvent.deal_id == deal.id)
                                   .order_by(DealEvent.created_at.desc(), DealEvent.id.desc())))


# ---------------------------------------------------------------- deal registration eligibility

def parse_usd_rates(text: str) -> dict[str, Decimal]:
    """`"BRL=0.18,EUR=1.08"` → {"BRL": 0.18, "EUR": 1.08, "USD": 1}: US dollars per unit; ValueError if unreadable."""
    rates = {"USD": Decimal(1)}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        currency, sep, value = item.partition("=")
        currency = currency.strip().upper()
        try:
            rate = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"not a rate: {item!r}") from None
        if not sep or not re.fullmatch(r"[A-Z]{3}", currency) or not rate.is_finite() or rate <= 0:
            raise ValueError(f"expected CUR=rate, got {item!r}")
        rates[currency] = rate
    return rates


@dataclass(frozen=True)
class Criterion:
    key: str  # ip_solution, deal_type, microsoft_accepted, value, managed_account, gap
    met: bool
    facts: dict[str, Any]  # what the page shows beside it


CRITERIA_LABELS = {
    "ip_solution": _l("Solução pronta para co-sell de IP no negócio"),
    "deal_type": _l("Tipo liderado por parceiro ou co-sell (IP ou serviços)"),
    "microsoft_accepted": _l("Microsoft aceitou (co-sell)"),
    "value": _l("Valor estimado de pelo menos US$ 25.000,00"),
    "managed_account": _l("Conta do cliente gerenciada pela Microsoft"),
    "gap": _l("Pelo menos 72 horas entre a criação e o ganho"),
}


@dataclass(frozen=True)
class Eligibility:
    criteria: list[Criterion]

    @property
    def eligible(self) -> bool:
        return all(c.met for c in self.criteria)

    def __getitem__(self, key: str) -> Criterion:
        return next(c for c in self.criteria if c.key == key)


def eligibility(deal: Deal, *, usd_rates: Mapping[str, Decimal]) -> Eligibility | None:
    """Partner Center's deal-registration criteria, each met or not, for a won deal (None for any other).

    `usd_rates`: US dollars per unit of each currency (the COSELL_USD_RATES setting); the rate used is reported.
    """
    if deal.stage != DealStage.WON or deal.won_at is None:
        return None
    ready = [s.name for s in deal.solutions if s.ip_cosell_ready]
    criteria = [
        Criterion("ip_solution", bool(ready), {"solutions": ready}),
        Criterion("deal_type", deal.deal_type in COSELL_TYPES | {DealType.PARTNER_LED},
                  {"type": DEAL_TYPE_LABELS[DealType(deal.deal_type)]}),
    ]
    if deal.deal_type in COSELL_TYPES:
        criteria.append(Criterion("microsoft_accepted", bool(deal.microsoft_accepted), {"applies": True}))
    else:  # only co-sell deals need Microsoft's acceptance
        criteria.append(Criterion("microsoft_accepted", True, {"applies": False}))
    rate = usd_rates.get(deal.currency)
    usd_minor = (round_half_up(Fraction(deal.estimated_value_minor) * Fraction(rate))
                 if rate is not None else None)
    criteria.append(Criterion("value", usd_minor is not None and usd_minor >= REGISTRATION_MIN_USD_MINOR, {
        "currency": deal.currency, "value_minor": deal.estimated_value_minor, "rate": rate, "usd_minor": usd_minor,
        "minimum_minor": REGISTRATION_MIN_USD_MINOR, "converted": deal.currency != "USD",
    }))
    criteria.append(Criterion("managed_account", bool(deal.account_managed_by_microsoft), {}))
    gap = deal.won_at - deal.created_at
    criteria.append(Criterion("gap", gap >= REGISTRATION_MIN_GAP, {
        "created_at": deal.created_at, "won_at": deal.won_at, "hours": int(gap.total_seconds() // 3600),
        "minutes": int(gap.total_seconds() // 60 % 60),
    }))
    return Eligibility(criteria)
