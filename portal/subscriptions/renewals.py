"""Renewals: a subscription whose term ended renews with the quantity scheduled for the next term (scheduled
decreases take effect; zero only where a cancellation request asked for it) and, when a change was scheduled in
"Renovações" (`next_term.py`), as the product it names (another term or billing, or an upgrade), as one new lot at
today's price of that product with a fresh decrease window; and undoing a scheduled end when a rescission is
withdrawn."""

from datetime import date, datetime

from sqlalchemy import func, select

from portal.cancellations.models import CancellationRequest, CancellationStatus
from portal.extensions import db
from portal.shared import clock
from portal.shared.audit import Actor, AuditTag, record
from portal.subscriptions import next_term
from portal.subscriptions.lots import ledger, new_lot
from portal.subscriptions.models import (
    ChangeKind,
    LotDraw,
    NextTermChange,
    NextTermStatus,
    Order,
    OrderEvent,
    OrderStatus,
    QuantityChange,
    Subscription,
    SubscriptionStatus,
)
from portal.subscriptions.prices import current_price, term_end
from portal.webhooks import outbox as webhook_outbox


def renew_due(*, today: date, actor: Actor) -> int:
    """Renew every active subscription whose term ended: scheduled decreases take effect, and the renewed
    quantity becomes one new lot at today's price with a fresh decrease window (prorata spec, rule 1)."""
    due = db.session.scalars(
        select(Subscription.id).where(Subscription.status == SubscriptionStatus.ACTIVE,
                                      Subscription.term_end <= today).order_by(Subscription.id)
    ).all()
    for subscription_id in due:
        _renew(db.session.get(Subscription, subscription_id), actor=actor)
        db.session.commit()
    return len(due)


def _renew(subscription: Subscription, *, actor: Actor) -> None:
    now = clock.now()
    old_product = subscription.product
    old_quantity = subscription.quantity
    new_quantity = subscription.renewal_quantity if subscription.renewal_quantity is not None else old_quantity
    renewed_on = subscription.term_end
    refused_zero = new_quantity == 0 and not _end_on_record(subscription)
    if refused_zero:  # zero only as a cancellation request scheduled it; anything else renews as it was
        new_quantity = old_quantity
    scheduled = next_term.current_change(subscription)
    if scheduled is not None:  # "Renovações": the next term's product (term, billing, upgrade) and quantity
        if scheduled.term_end == renewed_on and new_quantity:
            subscription.product_id = scheduled.product_id
            subscription.product = scheduled.product
            new_quantity = scheduled.quantity
        next_term.end_change(scheduled, NextTermStatus.APPLIED if scheduled.term_end == renewed_on and new_quantity
                             else NextTermStatus.WITHDRAWN, actor=actor, now=now)
    product = subscription.product
    subscription.term_start = renewed_on
    subscription.term_end = term_end(product, renewed_on)
    subscription.renewal_quantity = None
    subscription.quantity = new_quantity
    if new_quantity == 0:
        subscription.status = SubscriptionStatus.CANCELLED
    change = ledger(subscription, ChangeKind.RENEWAL, new_quantity - old_quantity, effective_on=renewed_on,
                    quote=None, actor=actor)
    for lot in subscription.lots:
        if lot.remaining > 0:  # the old lots end with the term; the renewed quantity is one new lot
            db.session.add(LotDraw(lot_id=lot.id, change_id=change.id, quantity=lot.remaining, credit_cents=0))
    if new_quantity:
        price = current_price(product, clock.to_business(now).date())
        new_lot(subscription, change, new_quantity, price.unit_price_cents, price.unit_price_cents * new_quantity,
                now)
    record(AuditTag.SUBSCRIPTION_RENEWED, actor=actor, organization_id=subscription.organization_id,
           subject=f"subscription:{subscription.id}",
           before={"quantity": old_quantity, "term_end": renewed_on.isoformat(),
                   **({"product": old_product.name} if product.id != old_product.id else {})},
           after={"quantity": new_quantity, "term_end": subscription.term_end.isoformat(),
                  **({"product": product.name, "product_id": product.id} if product.id != old_product.id else {}),
                  **({"refused_zero_without_cancellation": True} if refused_zero else {})})
    webhook_outbox.subscription_changed(subscription, reason="renewal")


def _end_on_record(subscription: Subscription) -> bool:
    """True when an applied cancellation request scheduled this subscription to end at its current term end."""
    return db.session.scalar(
        select(func.count(CancellationRequest.id)).where(
            CancellationRequest.subscription_id == subscription.id,
            CancellationRequest.status == CancellationStatus.APPLIED,
            CancellationRequest.ends_on == subscription.term_end)
    ) > 0


def withdraw_scheduled_end(subscription: Subscription, *, renewal_quantity: int | None, orders: list[Order],
                            actor: Actor, cancelled_at: datetime | None = None) -> QuantityChange:
    """Undo a rescission item that never reached the provider (the caller checked): its orders are withdrawn and
    the subscription renews as it would have before (`renewal_quantity`; None = with the licenses in use), with the
    change scheduled for its next term that the cancellation confirmed at `cancelled_at` withdrew, scheduled again
    (the provider still has it: the order that would have cleared it is among those withdrawn)."""
    now = clock.now()
    if cancelled_at is not None and next_term.current_change(subscription) is None:
        withdrawn = db.session.scalar(
            select(NextTermChange).where(NextTermChange.subscription_id == subscription.id,
                                         NextTermChange.status == NextTermStatus.WITHDRAWN,
                                         NextTermChange.term_end == subscription.term_end,
                                         NextTermChange.ended_at == cancelled_at)
            .order_by(NextTermChange.id.desc()).limit(1))
        if withdrawn is not None:
            next_term.new_change(subscription, product=withdrawn.product, quantity=withdrawn.quantity, actor=actor,
                                 now=now)
    for order in orders:
        order.status = OrderStatus.WITHDRAWN
        order.next_attempt_at = None
        db.session.add(OrderEvent(order_id=order.id, created_at=now, status=OrderStatus.WITHDRAWN,
                                  message=f"withdrawn with the rescission by {actor.label}"[:1000]))
    renews_now = subscription.quantity if subscription.renewal_quantity is None else subscription.renewal_quantity
    renews_after = subscription.quantity if renewal_quantity is None else renewal_quantity
    subscription.renewal_quantity = renewal_quantity
    # + licenses that no longer leave at the term end (the opposite of the scheduled decrease it undoes)
    return ledger(subscription, ChangeKind.SCHEDULE_WITHDRAWN, renews_after - renews_now,
                  effective_on=subscription.term_end, quote=None, actor=actor)
