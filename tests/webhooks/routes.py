"""The Master's webhook routes (Minha conta → Integrações → Webhooks), for tests/test_permissions.py.

The actions are listed as POSTs on an endpoint of the organization whose URL refuses connections at once (testar
then records a failed attempt); a role that may use them gets 302 (or 200 with the new secret).
"""

from tests.webhooks import objects


def _own(world) -> dict:
    return {"endpoint_id": objects.endpoint(world.demo).id}


def _other(world) -> dict:
    return {"endpoint_id": objects.endpoint(world.other).id}


def _own_delivery(world) -> dict:
    found = objects.delivery(objects.endpoint(world.demo))
    return {"endpoint_id": found.endpoint_id, "delivery_id": found.id}


def _other_delivery(world) -> dict:
    found = objects.delivery(objects.endpoint(world.other))
    return {"endpoint_id": found.endpoint_id, "delivery_id": found.id}


CUSTOMER_ROUTES = {
    "webhook_endpoints.endpoints": ("GET", lambda w: {}, None),
    "webhook_endpoints.endpoint": ("GET", _own, _other),
    "webhook_endpoints.test": ("POST", _own, _other),
    "webhook_endpoints.enable": ("POST", _own, _other),
    "webhook_endpoints.disable": ("POST", _own, _other),
    "webhook_endpoints.rotate": ("POST", _own, _other),
    "webhook_endpoints.delete": ("POST", _own, _other),
    "webhook_endpoints.resend": ("POST", _own_delivery, _other_delivery),
}
