"""The purchase offers' routes, for tests/test_permissions.py, and helpers that make offers and quotes."""

from datetime import timedelta

from portal.offers import service
from portal.offers.models import OfferStatus, PurchaseOffer
from portal.shared import clock
from portal.shared.audit import Actor
from tests import factories

OFFER_URL = "http://portal.test/oferta/"


def make_offer(creator, organization=None, *, products=None, quantities=None, status=OfferStatus.SENT,
               delegated_admin=False, days=30, message="") -> PurchaseOffer:
    """An offer made and (unless `status` is draft) sent through the service, as comercial would."""
    products = products or [factories.ProductFactory()]
    quantities = quantities or [2] * len(products)
    data = service.OfferData(
        partner_office="São Paulo (matriz)", usage_location="BR",
        quantities={p.id: q for p, q in zip(products, quantities, strict=True)}, delegated_admin=delegated_admin,
        expires_on=clock.today() + timedelta(days=days), organization_id=organization.id if organization else None,
        message=message,
    )
    actor = Actor.for_user(creator)
    offer = service.create_offer(data, actor=actor)
    if status != OfferStatus.DRAFT:
        service.send_offer(offer, actor=actor, offer_url=OFFER_URL + offer.token)
    if status == OfferStatus.CANCELLED:
        service.cancel_offer(offer, reason="O cliente desistiu da compra.", actor=actor)
    return offer


def make_quote(offer, organization, user, quantities=None):
    return service.quote_offer(token=offer.token, organization=organization, quantities=quantities or {},
                               actor=Actor.for_user(user))


def _sent(w, organization) -> dict:
    return {"token": make_offer(w.staff_comercial, organization).token}


def _quoted(w, organization, user) -> dict:
    offer = make_offer(w.staff_comercial, organization)
    return {"token": offer.token, "quote_token": make_quote(offer, organization, user).token}


def _draft(w) -> dict:
    return {"offer_id": make_offer(w.staff_comercial, w.demo, status=OfferStatus.DRAFT).id}


CUSTOMER_ROUTES = {
    # No counts typed: allowed, refused with 422.
    "offers.quote": ("POST", lambda w: _sent(w, w.demo), lambda w: _sent(w, w.other)),
    "offers.review": ("GET", lambda w: _quoted(w, w.demo, w.adm), lambda w: _quoted(w, w.other, w.other_master)),
    "offers.confirm": ("POST", lambda w: _quoted(w, w.demo, w.adm), lambda w: _quoted(w, w.other, w.other_master)),
}

STAFF_ROUTES = {
    "backoffice.offers": ("GET", {}),
    "backoffice.offer": ("GET", _draft),
    "backoffice.offer_new": ("GET", {}),
    "backoffice.offer_send": ("POST", _draft),
    "backoffice.offer_cancel": ("POST", _draft),  # no reason: allowed, refused with 422
}
