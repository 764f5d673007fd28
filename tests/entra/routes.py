"""The "Microsoft Entra ID" page's routes, for tests/test_permissions.py (no object of another organization)."""

CUSTOMER_ROUTES = {
    "entra.settings": ("GET", lambda w: {}, None),
    "entra.link": ("POST", lambda w: {}, None),
    "entra.policy": ("POST", lambda w: {}, None),
    "entra.unlink": ("POST", lambda w: {}, None),
}
