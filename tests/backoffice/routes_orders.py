"""The backoffice "Pedidos" routes, for tests/test_permissions.py, and a helper that makes an order row."""

import uuid
from datetime import datetime

from portal.extensions import db
from portal.shared import clock
from portal.subscriptions.models import Order, OrderEvent, OrderKind, OrderStatus
from tests import factories


def make_order(organization, *, subscription=None, status=OrderStatus.PENDING, kind=OrderKind.QUANTITY_CHANGE,
               created_at: datetime | None = None, quantity=12, **fields) -> Order:
    """An order as the subscriptions service leaves it (with its first event), without running it."""
    subscription = subscription or factories.subscription(organization)
    created_at = created_at or clock.now()
    order = Order(organization_id=organization.id, subscription_id=subscription.id, kind=kind, quantity=quantity,
                  status=status, correlation_id=str(uuid.uuid4()), created_at=created_at,
                  needs_staff=fields.pop("needs_staff", status == OrderStatus.FAILED), **fields)
    db.session.add(order)
    db.session.flush()
    db.session.add(OrderEvent(order_id=order.id, created_at=created_at, status=status, message="order created"))
    db.session.commit()
    return order


def _failed_order(world) -> dict:
    order = make_order(world.demo, status=OrderStatus.FAILED, attempts=6, error_code="800002",
                       error_message="The partner is not authorized to perform this operation.")
    return {"order_id": order.id}


STAFF_ROUTES = {
    "backoffice.orders": ("GET", {}),
    "backoffice.implantacao": ("GET", {}),
    "backoffice.order": ("GET", _failed_order),
    "backoffice.retry_order": ("POST", _failed_order),
    # GET is the confirmation step; the POST that completes is checked role by role in test_orders.py.
    "backoffice.complete_order": ("GET", _failed_order),
}
