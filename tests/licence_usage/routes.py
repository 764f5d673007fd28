"""The "Uso de licenças" routes, for tests/test_permissions.py (see its _route_tables).

No route names an object of the organization by id: the rule route names a SKU of the tenant's last reading, and a
SKU another organization has is simply not in this one's reading (the service refuses it, 302 back with a message).
"""

from tests.licence_usage.helpers import STANDARD

CUSTOMER_ROUTES = {
    "licence_usage.overview": ("GET", lambda w: {}, None),
    "licence_usage.refresh": ("POST", lambda w: {}, None),
    "licence_usage.rule": ("POST", lambda w: {"sku_id": STANDARD}, None),
}
