"""The "Orçamento" page's route, for tests/test_permissions.py (only the Master may use it)."""

CUSTOMER_ROUTES = {
    "budgets.page": ("GET", lambda w: {}, None),
}
