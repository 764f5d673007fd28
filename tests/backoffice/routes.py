"""The backoffice's own routes, for tests/test_permissions.py (see its _route_tables)."""

STAFF_ROUTES = {
    "backoffice.index": ("GET", {}),
    "backoffice.organizations": ("GET", {}),
    "backoffice.organization": ("GET", lambda w: {"organization_id": w.demo.id}),
    "backoffice.create_organization": ("GET", {}),
    "backoffice.users": ("GET", {}),
    "backoffice.organization_tenant": ("POST", lambda w: {"organization_id": w.other.id}),
}
