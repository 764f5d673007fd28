"""The purchase offers' routes, for tests/test_permissions.py, and a helper that quotes an offer
(offers: `factories.offer`)."""

from portal.offers import service
from portal.offers.models import OfferStatus
from portal.shared.audit import Actor
from tests import factories


def make_quote(offer, organization, user, quantities=None):
    return service.quote_offer(token=offer.token, organization=organization, quantities=quantities or {},
                               actor=Actor.for_user(user))


def _sent(w, organization) -> dict:
    return {"token": factories.offer(w.staff_comercial, organization).token}


def _quoted(w, organization, user) -> dict:
    offer = factories.offer(w.staff_comercial, organization)
    return {"token": offer.token, "quote_token": make_quote(offer, organization, user).token}


def _draft(w) -> dict:
    return {"offer_id": factories.offer(w.staff_comercial, w.demo, status=OfferStatus.DRAFT).id}


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
