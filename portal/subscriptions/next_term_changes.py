"""Scheduling a subscription's next term ("Renovações"): schedule or edit a change (quantity, term, upgrade), withdraw
it, and send it to the provider again after a mid-term quantity change erased it there.

Every step locks the subscription row (a concurrent quote or schedule waits, then sees the new version), keeps
`Subscription.renewal_quantity` equal to the change's quantity (what "Licenças" and the renewal read), records
the change as a `NextTermChange` row and an audit event, and queues a renewal-quantity order naming the next term's
product: the order machinery sends it as Partner Center's scheduled next-term instructions within 30 minutes, with
retries. Not renewing at all is a cancellation (`portal.cancellations`), never this module.
"""

from flask_babel import gettext as _
from sqlalchemy.orm.attributes import flag_modified

from portal.accounts.models import Organization
from portal.extensions import db
from portal.shared import clock
from portal.shared.audit import Actor, AuditTag, record
from portal.shared.errors import ServiceError
from portal.subscriptions import next_term
from portal.subscriptions.confirmation import queue_order, queue_orders_and_notify
from portal.subscriptions.models import (
    NextTermChange,
    NextTermStatus,
    Order,
    OrderEvent,
    OrderKind,
    Subscription,
    SubscriptionStatus,
)
from portal.subscriptions.quotes import new_order

SYSTEM = Actor.system("next-term")


def _locked(organization: Organization, subscription: Subscription) -> Subscription:
    locked = db.session.get(Subscription, subscription.id, with_for_update=True, populate_existing=True)
    if locked is None or locked.organization_id != organization.id:
        raise ServiceError(_not_found())
    return locked


def _not_found() -> str:
    return _("Licença não encontrada.")


def preview(*, organization: Organization, subscription: Subscription, product_id, quantity) -> next_term.NextTermPlan:
    """What scheduling this change would do; changes nothing."""
    if subscription.organization_id != organization.id:
        raise ServiceError(_not_found())
    return next_term.plan(subscription, product_id=product_id, quantity=quantity, now=clock.now())


def schedule(*, organization: Organization, subscription: Subscription, product_id, quantity,
             actor: Actor) -> NextTermChange:
    """Schedule (or edit) the change for the next term; its order goes to the provider once this commits."""
    now = clock.now()
    locked = _locked(organization, subscription)
    plan = next_term.plan(locked, product_id=product_id, quantity=quantity, now=now)
    previous = next_term.current_change(locked)
    before = _state(locked, previous)
    if previous is not None:
        next_term.end_change(previous, NextTermStatus.REPLACED, actor=actor, now=now)
    change = next_term.new_change(locked, product=plan.product, quantity=plan.quantity, actor=actor, now=now)
    locked.renewal_quantity = plan.quantity
    flag_modified(locked, "renewal_quantity")  # a new version even when only the product changes: quotes see it
    db.session.flush()
    order = new_order(locked, OrderKind.RENEWAL_QUANTITY, plan.quantity, None, actor, now)
    order.product_id = plan.product.id
    record(AuditTag.NEXT_TERM_SCHEDULED, actor=actor, organization_id=organization.id,
           subject=f"subscription:{locked.id}", before=before,
           after={"quantity": plan.quantity, "product_id": plan.product.id, "next_product": plan.product.name,
                  "on": locked.term_end.isoformat(), "order": order.id, "change": change.id})
    queue_orders_and_notify([order], actor)
    db.session.commit()
    return change


def withdraw(*, organization: Organization, subscription: Subscription, actor: Actor) -> Order:
    """Withdraw the scheduled change: the subscription renews as it is (its product, the licenses in use)."""
    now = clock.now()
    locked = _locked(organization, subscription)
    change = next_term.current_change(locked)
    if change is None:
        raise ServiceError(_nothing_scheduled())
    next_term.ensure_schedulable(locked, now)
    before = _state(locked, change)
    next_term.end_change(change, NextTermStatus.WITHDRAWN, actor=actor, now=now)
    locked.renewal_quantity = None
    flag_modified(locked, "renewal_quantity")
    db.session.flush()
    order = new_order(locked, OrderKind.RENEWAL_QUANTITY, locked.quantity, None, actor, now)
    order.product_id = locked.product_id  # the subscription as it is: the provider drops what was scheduled
    record(AuditTag.NEXT_TERM_WITHDRAWN, actor=actor, organization_id=organization.id,
           subject=f"subscription:{locked.id}", before=before,
           after={"on": locked.term_end.isoformat(), "order": order.id, "change": change.id})
    queue_orders_and_notify([order], actor)
    db.session.commit()
    return order


def _nothing_scheduled() -> str:
    return _("Não há mudança agendada para esta renovação.")


def _state(subscription: Subscription, change: NextTermChange | None) -> dict:
    return {"renewal_quantity": subscription.renewal_quantity,
            "quantity": change.quantity if change is not None else None,
            "product_id": change.product_id if change is not None else None}


def resend_after_quantity_change(order: Order) -> Order | None:
    """A mid-term quantity change reached the provider, which deletes what was scheduled for the renewal: send the
    scheduled change again (a new renewal-quantity order, queued once the caller commits). None when nothing is
    scheduled. Called by `orders.run_order` in its transaction, when a quantity-change order is done."""
    if order.kind != OrderKind.QUANTITY_CHANGE:
        return None
    subscription = db.session.get(Subscription, order.subscription_id)
    if subscription is None or subscription.status != SubscriptionStatus.ACTIVE:
        return None
    change = next_term.current_change(subscription)
    if change is None:
        return None
    now = clock.now()
    again = new_order(subscription, OrderKind.RENEWAL_QUANTITY, change.quantity, None, SYSTEM, now)
    again.product_id = change.product_id
    again.requested_by_id = order.requested_by_id
    db.session.add(OrderEvent(order_id=again.id, created_at=now, status=again.status,
                              message=f"scheduled next-term change sent again after order {order.id} (a mid-term "
                                      "quantity change erases it at the provider)"))
    queue_order(again)
    return again
