"""Routes of issue 16's NFS-e billing side (tests/test_permissions.py reads these tables)."""

CUSTOMER_ROUTES = {
    "accounts.organization_city_code": ("POST", lambda w: {}, None),
}

STAFF_ROUTES = {
    "backoffice.organization_city_code": ("POST", lambda w: {"organization_id": w.other.id}),
}
