"""The catalog room's routes, for tests/test_permissions.py (see its _route_tables)."""

from portal.catalog import cart as carts
from portal.shared.audit import Actor
from portal.subscriptions import service as subscriptions
from tests import factories


def _product(w):
    return {"product_id": factories.ProductFactory().id}


def _quote(organization, user):
    product = factories.ProductFactory()
    carts.set_cart_quantity(organization=organization, user=user, product_id=product.id, quantity=2)
    quote = subscriptions.quote_checkout(organization=organization, user=user, actor=Actor.for_user(user))
    return {"token": quote.token}


CUSTOMER_ROUTES = {
    "catalog.products": ("GET", lambda w: {}, None),
    "catalog.product": ("GET", _product, None),
    "catalog.add_to_cart": ("POST", lambda w: {}, None),
    "catalog.cart": ("GET", lambda w: {}, None),
    "catalog.update_cart": ("POST", _product, None),
    "catalog.cart_reference": ("POST", _product, None),  # per user's cart: another's product is simply not in it
    "catalog.review": ("POST", lambda w: {}, None),
    "catalog.checkout": ("GET", lambda w: _quote(w.demo, w.adm), lambda w: _quote(w.other, w.other_master)),
    "catalog.confirm": ("POST", lambda w: _quote(w.demo, w.adm), lambda w: _quote(w.other, w.other_master)),
}

STAFF_ROUTES = {
    "backoffice.catalog": ("GET", {}),
    "backoffice.catalog_new_family": ("GET", {}),
    "backoffice.catalog_family": ("GET", lambda w: {"family_id": factories.ProductFamilyFactory().id}),
    "backoffice.catalog_new_product": ("GET", {}),
    "backoffice.catalog_product": ("GET", _product),
    "backoffice.catalog_new_price": ("GET", _product),
}
