"""The permission matrix is exactly DESIGN.md's table; every role is documented."""

import pytest

from portal.accounts.roles import (
    ROLE_DESCRIPTIONS,
    ROLE_LABELS,
    ROLE_PERMISSIONS,
    STAFF_ROLE_PERMISSIONS,
    Permission,
    Role,
    StaffPermission,
    StaffRole,
    grantable_roles,
    permissions_for,
)

M, A, C, S = Role.MASTER, Role.ADM, Role.COBRANCA, Role.SUPORTE

# DESIGN.md "Customer permission matrix", row by row.
DESIGN_TABLE = {
    Permission.LICENSES_READ: {M, A, C},
    Permission.LICENSES_MANAGE: {M, A},
    Permission.SUBSCRIPTIONS_CANCEL: {M, A},
    Permission.BILLING_READ: {M, C},
    Permission.TICKETS_MANAGE: {M, S},
    Permission.USERS_MANAGE: {M},
    Permission.AGREEMENT_ACCEPT: {M},
    Permission.RESCISSION_WITHDRAW: {M},  # withdrawing the contract's rescission: who accepts the contract
    Permission.HISTORY_READ: {M},
    Permission.SETTINGS_MANAGE: {M},  # budgets and licence-use exclusions: like users and the agreement, Master only
    Permission.INTEGRATIONS_MANAGE: {M},  # API tokens, webhooks, the Entra ID tenant: Master only
    Permission.PURCHASES_APPROVE: {M},  # approval rules and the approval queue: Master only
    Permission.PORTAL_ACCESS: {M, A, C, S},
}


@pytest.mark.parametrize("permission", list(Permission))
def test_matrix_matches_design(permission):
    holders = {role for role in Role if permission in ROLE_PERMISSIONS[role]}
    assert holders == DESIGN_TABLE[permission]


def test_every_role_is_labelled_and_described():
    assert set(ROLE_LABELS) == set(Role) == set(ROLE_DESCRIPTIONS)


def test_a_set_of_roles_unions_permissions():
    assert permissions_for({C, S}) == ROLE_PERMISSIONS[C] | ROLE_PERMISSIONS[S]
    assert permissions_for(set()) == frozenset()


def test_only_user_managers_grant_and_never_a_role_they_lack():
    assert grantable_roles({M}) == frozenset(Role)
    assert grantable_roles({A, C}) == frozenset()


def test_compliance_is_read_only_and_only_admin_manages():
    writers = {StaffPermission.ORGANIZATIONS_MANAGE, StaffPermission.STAFF_MANAGE}
    for role in StaffRole:
        granted = STAFF_ROLE_PERMISSIONS[role]
        assert StaffPermission.BACKOFFICE_ACCESS in granted
        assert bool(granted & writers) == (role is StaffRole.ADMIN)
    assert StaffPermission.AUDIT_READ in STAFF_ROLE_PERMISSIONS[StaffRole.COMPLIANCE]
    compliance = STAFF_ROLE_PERMISSIONS[StaffRole.COMPLIANCE]
    assert not compliance & {StaffPermission.CATALOG_MANAGE, StaffPermission.ORDERS_MANAGE,
                             StaffPermission.BILLING_MANAGE}  # read-only everywhere


def test_catalog_is_admins_and_orders_are_acted_on_by_support_and_admin():
    for role in StaffRole:
        granted = STAFF_ROLE_PERMISSIONS[role]
        assert StaffPermission.ORDERS_READ in granted
        assert (StaffPermission.CATALOG_MANAGE in granted) == (role is StaffRole.ADMIN)
        assert (StaffPermission.ORDERS_MANAGE in granted) == (role in {StaffRole.SUPORTE, StaffRole.ADMIN})


def test_billing_is_managed_by_finance_and_admin():
    for role in StaffRole:
        granted = STAFF_ROLE_PERMISSIONS[role]
        assert (StaffPermission.BILLING_MANAGE in granted) == (role in {StaffRole.FINANCEIRO, StaffRole.ADMIN})


def test_agreements_and_tickets_permissions():
    def holders(permission):
        return {role for role in StaffRole if permission in STAFF_ROLE_PERMISSIONS[role]}

    assert holders(StaffPermission.AGREEMENTS_ATTEST) == {StaffRole.COMERCIAL, StaffRole.ADMIN}
    assert holders(StaffPermission.AGREEMENTS_PUBLISH) == {StaffRole.ADMIN}
    assert holders(StaffPermission.TICKETS_MANAGE) == {StaffRole.SUPORTE, StaffRole.ADMIN}
    assert holders(StaffPermission.TICKETS_READ) == {StaffRole.SUPORTE, StaffRole.COMPLIANCE, StaffRole.ADMIN}


def test_pipeline_permissions():
    def holders(permission):
        return {role for role in StaffRole if permission in STAFF_ROLE_PERMISSIONS[role]}

    assert holders(StaffPermission.PIPELINE_READ) == set(StaffRole)  # compliance reads, never writes
    assert holders(StaffPermission.PIPELINE_MANAGE) == {StaffRole.COMERCIAL, StaffRole.ADMIN}
    assert holders(StaffPermission.PIPELINE_APPROVE) == {StaffRole.FINANCEIRO, StaffRole.ADMIN}
    assert holders(StaffPermission.IMPLANTATION_MANAGE) == {StaffRole.SUPORTE, StaffRole.ADMIN}
    assert holders(StaffPermission.OFFERS_MANAGE) == holders(StaffPermission.COSELL_MANAGE) == {
        StaffRole.COMERCIAL, StaffRole.ADMIN}
