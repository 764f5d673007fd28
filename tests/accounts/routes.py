"""The accounts room's routes, for tests/test_permissions.py (see its _route_tables)."""


def _own_membership(w):
    return {"membership_id": w.suporte_membership.id}


def _other_membership(w):
    return {"membership_id": w.other_master_membership.id}


CUSTOMER_ROUTES = {
    "accounts.users": ("GET", lambda w: {}, None),
    "accounts.invite": ("GET", lambda w: {}, None),
    "accounts.edit_user": ("GET", _own_membership, _other_membership),
    "accounts.deactivate_user": ("POST", _own_membership, _other_membership),
    "accounts.reactivate_user": ("POST", _own_membership, _other_membership),
    "accounts.resend_invitation": ("POST", _own_membership, _other_membership),
    "accounts.organization_security": ("POST", lambda w: {}, None),
    "accounts.history": ("GET", lambda w: {}, None),
    "accounts.history_csv": ("GET", lambda w: {}, None),
}
