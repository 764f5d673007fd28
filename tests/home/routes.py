"""The home's routes, for tests/test_permissions.py (see its _route_tables): each card alone and the spend CSV.
None has an object of its own (each reads the current organization only)."""

CUSTOMER_ROUTES = {
    "home.billing_card": ("GET", lambda w: {}, None),
    "home.spend_card": ("GET", lambda w: {}, None),
    "home.spend_download": ("GET", lambda w: {}, None),
    "home.licences_card": ("GET", lambda w: {}, None),
    "home.tickets_card": ("GET", lambda w: {}, None),
}
