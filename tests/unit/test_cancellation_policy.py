"""cancellations/policy.py: who may cancel what, and when (pure: plain objects in, refusals out)."""

import ast
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from portal.accounts.models import OrganizationStatus
from portal.accounts.roles import Role
from portal.cancellations import policy
from portal.cancellations.policy import MIN_REASON_LENGTH, ReasonCategory
from portal.shared.errors import PermissionDenied, ServiceError
from portal.subscriptions.models import SubscriptionStatus

NOW = datetime(2026, 3, 11, 15, 0, tzinfo=UTC)
REASON = "A empresa vai encerrar as atividades desta filial."


def _person(user_id=7):
    return SimpleNamespace(user=SimpleNamespace(id=user_id), user_id=user_id)


def _membership(*roles, organization_id=1, user_id=7, usable=True):
    return SimpleNamespace(organization_id=organization_id, user_id=user_id, is_usable=usable, roles=set(roles))


# ---------------------------------------------------------------- who

@pytest.mark.parametrize(("roles", "expected"), [
    ((Role.ADM,), "adm"),
    ((Role.MASTER,), "master"),
    ((Role.COBRANCA, Role.MASTER), "master,cobranca"),  # most powerful first, whatever the order held
])
def test_who_may_cancel_gets_their_roles_recorded(roles, expected):
    assert policy.requester_roles(1, _person(), _membership(*roles)) == expected


@pytest.mark.parametrize("membership", [
    None,
    _membership(Role.COBRANCA),  # reads licenses, may not cancel
    _membership(Role.SUPORTE),
    _membership(Role.ADM, organization_id=2),  # a membership of another organization
    _membership(Role.ADM, user_id=8),  # someone else's membership
    _membership(Role.ADM, usable=False),  # a deactivated membership
])
def test_without_the_permission_here_nobody_cancels(membership):
    with pytest.raises(PermissionDenied) as refused:
        policy.requester_roles(1, _person(), membership)
    assert refused.value.field == "quantity"


@pytest.mark.parametrize("actor", [None, SimpleNamespace(user=None, user_id=None)])
def test_only_a_person_cancels(actor):
    with pytest.raises(PermissionDenied, match="pessoa identificada"):
        policy.requester_roles(1, actor, _membership(Role.MASTER))


def test_only_the_master_withdraws_a_rescission():
    policy.ensure_may_withdraw(1, _person(), _membership(Role.MASTER))
    with pytest.raises(PermissionDenied, match="Só um Master"):
        policy.ensure_may_withdraw(1, _person(), _membership(Role.ADM))
    with pytest.raises(PermissionDenied, match="Seu papel"):  # who may not cancel may not withdraw either
        policy.ensure_may_withdraw(1, _person(), _membership(Role.COBRANCA))


# ---------------------------------------------------------------- why

def test_a_reason_needs_a_known_category_and_enough_words():
    assert policy.check_reason("custo", f"  {REASON}  ") == ("custo", REASON)
    with pytest.raises(ServiceError) as refused:
        policy.check_reason("porque sim", REASON)
    assert refused.value.field == "category"
    with pytest.raises(ServiceError) as refused:
        policy.check_reason(None, REASON)
    assert refused.value.field == "category"
    with pytest.raises(ServiceError) as refused:
        policy.check_reason(ReasonCategory.OTHER, " " + "x" * (MIN_REASON_LENGTH - 1) + "  ")
    assert refused.value.field == "reason"
    assert policy.check_reason_text("x" * MIN_REASON_LENGTH) == "x" * MIN_REASON_LENGTH
    with pytest.raises(ServiceError):
        policy.check_reason_text(None)


# ---------------------------------------------------------------- when

def test_the_window_split_of_a_cancellation():
    windows = [(2, NOW + timedelta(hours=5)), (3, NOW + timedelta(days=2))]
    assert policy.window_split(windows, 10) == (5, 5)
    assert policy.window_split([], 10) == (0, 10)
    assert policy.window_split([(12, NOW)], 10) == (10, 0)  # never more than the licenses in use


def test_a_scheduled_end_leaves_only_what_is_in_a_window_to_cancel():
    policy.ensure_something_to_cancel(None, date(2027, 3, 1), [])
    policy.ensure_something_to_cancel(0, date(2027, 3, 1), [(2, NOW + timedelta(hours=1))])
    with pytest.raises(ServiceError, match="já está agendado"):
        policy.ensure_something_to_cancel(0, date(2027, 3, 1), [])


@pytest.mark.parametrize(("status", "subscriptions", "refusal"), [
    (OrganizationStatus.RESCINDING, [], "já está em rescisão"),
    (OrganizationStatus.CLOSED, [], "já foi encerrado"),
    (OrganizationStatus.ACTIVE, [SubscriptionStatus.ACTIVE, SubscriptionStatus.PROVISIONING], "provisionamento"),
    (OrganizationStatus.ACTIVE, [SubscriptionStatus.SUSPENDED], "suspensas"),
])
def test_when_a_contract_may_not_be_rescinded(status, subscriptions, refusal):
    with pytest.raises(ServiceError, match=refusal):
        policy.ensure_may_rescind(status, subscriptions)


def test_an_open_contract_is_rescinded():
    policy.ensure_may_rescind(OrganizationStatus.ACTIVE, [SubscriptionStatus.ACTIVE, SubscriptionStatus.CANCELLED])
    policy.ensure_may_rescind(OrganizationStatus.SUSPENDED, [])


def test_the_states_the_rules_read_are_the_models():
    assert policy.ORGANIZATION_RESCINDING == OrganizationStatus.RESCINDING
    assert policy.ORGANIZATION_CLOSED == OrganizationStatus.CLOSED
    assert policy.SUBSCRIPTION_PROVISIONING == SubscriptionStatus.PROVISIONING
    assert policy.SUBSCRIPTION_SUSPENDED == SubscriptionStatus.SUSPENDED


def _refusal(**facts):
    asked = []
    values = {"in_force": True, "reached_provider": False, "now": NOW, "grace_until": NOW + timedelta(minutes=5),
              "changed_since": lambda: asked.append(True) or False, **facts}
    return policy.withdrawal_refusal(**values), asked


def test_a_rescission_is_withdrawn_while_nothing_moved():
    assert _refusal() == (None, [True])


@pytest.mark.parametrize(("facts", "refusal"), [
    ({"in_force": False}, "já foi retirada"),
    ({"reached_provider": True}, "já foi enviada ao fornecedor"),
    ({"grace_until": NOW}, "O prazo para retirar a rescisão terminou"),
])
def test_why_a_rescission_can_no_longer_be_withdrawn(facts, refusal):
    message, asked = _refusal(**facts)
    assert refusal in message
    assert asked == []  # the database is not asked about later changes once another rule refuses


def test_a_later_change_to_its_licenses_keeps_a_rescission():
    message, _asked = _refusal(changed_since=lambda: True)
    assert "Licenças foram alteradas depois da rescisão" in message


def test_the_policy_is_pure():
    """No Flask app, no database: it imports neither Flask (only flask_babel's words) nor SQLAlchemy, the
    extensions or any models/service module."""
    tree = ast.parse(Path(policy.__file__).read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert not [name for name in imported if name == "flask" or name.startswith(("flask.", "sqlalchemy"))
                or name == "portal.extensions" or name.endswith((".models", ".service"))]
