"""The backoffice "Venda conjunta" routes, for tests/test_permissions.py (deals: `factories.deal`)."""

from portal.cosell.models import DealType
from portal.shared.audit import Actor
from tests import factories


def comercial(world) -> Actor:
    return Actor.for_user(world.staff_comercial)


def _deal(world, **kwargs) -> dict:
    return {"deal_id": factories.deal(world.staff_comercial, **kwargs).id}


STAFF_ROUTES = {
    "backoffice.deals": ("GET", {}),
    "backoffice.deal_create": ("GET", {}),
    "backoffice.deal_register_inbound": ("GET", {}),
    "backoffice.deal": ("GET", _deal),
    "backoffice.deal_edit": ("GET", _deal),
    "backoffice.deal_favorite": ("POST", _deal),
    "backoffice.deal_accept": ("POST", lambda w: _deal(w, inbound=True)),
    "backoffice.deal_decline": ("POST", lambda w: _deal(w, inbound=True)),  # no reason: refused with 422
    "backoffice.deal_mark_stage": ("POST", _deal),  # no stage: 422
    "backoffice.deal_win": ("POST", _deal),  # stages missing: 422
    "backoffice.deal_lose": ("POST", _deal),  # no reason: 422
    "backoffice.deal_close_error": ("POST", _deal),  # no reason: 422
    "backoffice.deal_upgrade": ("POST", lambda w: _deal(w, deal_type=DealType.PRIVATE)),  # no type: 422
}
