"""The staff health detail route (order counts), for tests/test_permissions.py."""

STAFF_ROUTES = {
    "health.health_details": ("GET", {}),
}
