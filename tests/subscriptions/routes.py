"""The licenses pages' routes, for tests/test_permissions.py (see its _route_tables)."""

import uuid

from portal.extensions import db
from portal.shared.audit import Actor
from portal.subscriptions import service
from portal.subscriptions.models import Order, OrderKind, OrderStatus
from tests import factories


def _subscription(organization):
    return {"subscription_id": factories.subscription(organization).id}


def _quote(organization, user):
    subscription = factories.subscription(organization, quantity=10)
    quote = service.quote_quantity_change(organization=organization, subscription=subscription, new_quantity=11,
                                          actor=Actor.for_user(user))
    return {"token": quote.token}


def _order(organization):
    subscription = factories.subscription(organization)
    order = Order(organization_id=organization.id, kind=OrderKind.QUANTITY_CHANGE, subscription_id=subscription.id,
                  quantity=11, status=OrderStatus.PENDING, correlation_id=str(uuid.uuid4()))
    db.session.add(order)
    db.session.flush()
    return {"order_id": order.id}


CUSTOMER_ROUTES = {
    "subscriptions.licenses": ("GET", lambda w: {}, None),
    "subscriptions.detail": ("GET", lambda w: _subscription(w.demo), lambda w: _subscription(w.other)),
    "subscriptions.change": ("GET", lambda w: _subscription(w.demo), lambda w: _subscription(w.other)),
    "subscriptions.reference": ("POST", lambda w: _subscription(w.demo), lambda w: _subscription(w.other)),
    "subscriptions.preview": ("GET", lambda w: _quote(w.demo, w.adm), lambda w: _quote(w.other, w.other_master)),
    "subscriptions.confirm": ("POST", lambda w: _quote(w.demo, w.adm), lambda w: _quote(w.other, w.other_master)),
    "subscriptions.order": ("GET", lambda w: _order(w.demo), lambda w: _order(w.other)),
    "subscriptions.renewals": ("GET", lambda w: {}, None),
    "subscriptions.next_term_change": ("GET", lambda w: _subscription(w.demo), lambda w: _subscription(w.other)),
    "subscriptions.schedule_next_term": ("POST", lambda w: _subscription(w.demo),
                                         lambda w: _subscription(w.other)),
    "subscriptions.withdraw_next_term": ("POST", lambda w: _subscription(w.demo),
                                         lambda w: _subscription(w.other)),
    "subscriptions.not_renew": ("POST", lambda w: _subscription(w.demo), lambda w: _subscription(w.other)),
}
