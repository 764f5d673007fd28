"""Who may cancel what, and when: the rules of "Cancelar" (a license) and "Rescisão de contrato". Pure: no Flask
app, no database; the cancellations service gathers the facts (memberships, lots, orders) and asks here.

- Who: a person (an actor with a user) whose usable membership of *this* organization grants
  Permission.SUBSCRIPTIONS_CANCEL; withdrawing a rescission also needs Permission.RESCISSION_WITHDRAW (the
  Master, who answers for the contract).
- Why: a reason category and at least MIN_REASON_LENGTH characters of text (a rescission's category is fixed).
- When: licenses inside their decrease window (`subscriptions/window.py`) end now with credit, the rest at the
  term end; a license already scheduled to end with nothing left in a window has nothing more to cancel; a
  contract is rescinded only while it is open and none of its licenses is being provisioned or suspended; a
  rescission is withdrawn only while nothing reached the provider, within its grace period, and before any of
  its licenses changed again.
"""

from collections.abc import Callable, Iterable
from datetime import date, datetime
from enum import StrEnum

from flask_babel import gettext as _

from portal.accounts.roles import ROLE_ORDER, Permission, permissions_for
from portal.shared.errors import PermissionDenied, ServiceError
from portal.shared.formatting import format_date, format_datetime


class ReasonCategory(StrEnum):
    RESCISSION = "rescisao_contrato"
    COST = "custo"
    MIGRATION = "migracao_fornecedor"
    NOT_USED = "nao_utiliza"
    OTHER = "outro"


# The free text must say something: at least this many characters (after trimming).
MIN_REASON_LENGTH = 20

# The states the rules look at (values of accounts.models.OrganizationStatus and subscriptions.models.
# SubscriptionStatus, both StrEnums: tests/unit/test_cancellation_policy.py checks they agree).
ORGANIZATION_RESCINDING = "rescinding"
ORGANIZATION_CLOSED = "closed"
SUBSCRIPTION_PROVISIONING = "provisioning"
SUBSCRIPTION_SUSPENDED = "suspended"


# ---------------------------------------------------------------- who

def requester_roles(organization_id: int, actor, membership) -> str:
    """The requester's roles ("adm", "master,cobranca") when `actor` may cancel in the organization `organization_id`
    through `membership`; PermissionDenied otherwise."""
    if actor is None or actor.user is None:
        raise PermissionDenied(_("Cancelamentos só podem ser feitos por uma pessoa identificada no portal."))
    if (membership is None or membership.organization_id != organization_id
            or membership.user_id != actor.user_id or not membership.is_usable
            or Permission.SUBSCRIPTIONS_CANCEL not in permissions_for(membership.roles)):
        raise PermissionDenied(_("Seu papel não permite cancelar licenças. Peça a um Master ou Adm."),
                               field="quantity")
    return ",".join(str(role) for role in ROLE_ORDER if role in membership.roles)


def ensure_may_withdraw(organization_id: int, actor, membership) -> None:
    """Withdrawing a rescission: whoever may cancel, and holds Permission.RESCISSION_WITHDRAW (the Master)."""
    requester_roles(organization_id, actor, membership)
    if Permission.RESCISSION_WITHDRAW not in permissions_for(membership.roles):
        raise PermissionDenied(_("Só um Master pode retirar a rescisão do contrato."))


# ---------------------------------------------------------------- why

def check_reason(category: str | None, reason: str | None) -> tuple[str, str]:
    """A cancellation's (category, reason text trimmed); ServiceError on the field that is missing."""
    if category not in {c.value for c in ReasonCategory}:
        raise ServiceError(_("Escolha o motivo do cancelamento."), field="category")
    return category, check_reason_text(reason)


def check_reason_text(reason: str | None) -> str:
    """The reason's text trimmed, when it says something (at least MIN_REASON_LENGTH characters)."""
    reason = (reason or "").strip()
    if len(reason) < MIN_REASON_LENGTH:
        raise ServiceError(_("Explique o motivo com pelo menos %(n)d caracteres.", n=MIN_REASON_LENGTH),
                           field="reason")
    return reason


# ---------------------------------------------------------------- when

def window_split(open_windows: Iterable[tuple[int, datetime]], quantity: int) -> tuple[int, int]:
    """(licenses that "Cancelar" ends now, with credit; licenses that run to the term end) of a subscription of
    `quantity` licenses whose lots inside their window are `open_windows` ((licenses, window end) each)."""
    in_window = min(sum(licenses for licenses, _until in open_windows), quantity)
    return in_window, quantity - in_window


def ensure_something_to_cancel(renewal_quantity: int | None, term_end: date,
                               open_windows: list[tuple[int, datetime]]) -> None:
    """A license already scheduled to end at its term end can still be cancelled only for what is in a window."""
    if renewal_quantity == 0 and not open_windows:
        raise ServiceError(_("O cancelamento desta licença já está agendado para o fim do termo, em %(date)s.",
                             date=format_date(term_end)))


def ensure_may_rescind(organization_status: str, subscription_statuses: Iterable[str]) -> None:
    """A contract is rescinded once, while open, and not while a license is being provisioned or is suspended."""
    if organization_status == ORGANIZATION_RESCINDING:
        raise ServiceError(_("O contrato já está em rescisão."))
    if organization_status == ORGANIZATION_CLOSED:
        raise ServiceError(_("O contrato desta organização já foi encerrado."))
    statuses = set(subscription_statuses)
    if SUBSCRIPTION_PROVISIONING in statuses:
        raise ServiceError(_("Há licenças em provisionamento. Aguarde a conclusão antes de rescindir o contrato."))
    if SUBSCRIPTION_SUSPENDED in statuses:
        raise ServiceError(_("Há licenças suspensas. Fale com a nossa equipe financeira para rescindir o contrato."))


def withdrawal_refusal(*, in_force: bool, reached_provider: bool, now: datetime, grace_until: datetime,
                       changed_since: Callable[[], bool]) -> str | None:
    """Why a rescission can no longer be withdrawn (None: it can): withdrawn already, an order of it was tried
    or sent, its grace period is over, or one of its licenses changed after it (e.g. cancelled inside its
    window). `changed_since` is asked last, only when everything else allows (it looks at the database)."""
    if not in_force:
        return _("Esta rescisão já foi retirada.")
    if reached_provider:
        return _("A rescisão já foi enviada ao fornecedor e não pode mais ser retirada. Fale com a nossa equipe.")
    if now >= grace_until:
        return _("O prazo para retirar a rescisão terminou em %(when)s. Fale com a nossa equipe.",
                 when=format_datetime(grace_until))
    if changed_since():
        return _("Licenças foram alteradas depois da rescisão; ela não pode mais ser retirada pelo portal. Fale com "
                 "a nossa equipe.")
    return None
