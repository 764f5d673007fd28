"""Orders at the provider: the state machine pendente → enviado → concluído / falhou, with retries.

`run_order` is what the provisioning job calls. It locks the order row, asks the `LicenseProvisioner`
(Partner Center, or its simulator) or, for the reseller's own services, hands the order to the staff
"implantação" queue, and records every step as an `OrderEvent`. Nothing is dropped: a retryable
failure is tried again with exponential backoff; after the last attempt, or a refusal, the order is
FAILED and flagged for staff (`needs_staff`), who can retry it or complete it by hand.
"""

import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.orm import joinedload, selectinload

from portal.accounts.models import Organization
from portal.agreements.service import has_pending_agreement  # the purchase gate's rule, for held orders
from portal.catalog.models import TERM_DURATIONS, Product, Provider, Term
from portal.extensions import db
from portal.integrations.provisioning import (
    LicenseProvisioner,
    NextTerm,
    Outcome,
    ProviderError,
    ProvisioningResult,
    Purchase,
    QuantityChange,
    RenewalQuantity,
)
from portal.notifications import service as notify
from portal.shared import clock
from portal.shared.audit import Actor, AuditTag, record
from portal.shared.errors import ServiceError
from portal.subscriptions.confirmation import queue_order
from portal.subscriptions.failures import NO_TENANT
from portal.subscriptions.models import (
    AGREEMENT_RECHECK,
    Order,
    OrderEvent,
    OrderKind,
    OrderStatus,
    Subscription,
    SubscriptionStatus,
)
from portal.subscriptions.next_term_changes import resend_after_quantity_change
from portal.webhooks import outbox as webhook_outbox

SYSTEM = Actor.system("provisioning")
MAX_ATTEMPTS = 6  # then the order fails for good and staff is told
RETRY_BASE = timedelta(minutes=1)  # 1, 2, 4, 8, 16 minutes between attempts: ~31 minutes in all
POLL_EVERY = timedelta(seconds=30)  # how often a 202-accepted operation is asked about
PROMISED = timedelta(minutes=30)  # "será refletido em até 30 minutos"


@dataclass(frozen=True)
class Step:
    """What `run_order` did, for the job to act on (queue a retry or a poll at `next_at`)."""

    status: str
    next_at: datetime | None = None


def retry_delay(attempts: int) -> timedelta:
    """Backoff after the `attempts`-th failed attempt (1-based): 1, 2, 4, 8 … minutes."""
    return RETRY_BASE * (2 ** (attempts - 1))


# ---------------------------------------------------------------- the staff's list of orders ("Pedidos")

def attention_filter(now: datetime):
    """What the navigation badge counts: orders late on the 30-minute promise, or waiting for staff."""
    return or_(overdue_filter(now), needs_staff_filter())


@functools.cache
def attention_count_column():
    """The navigation badge's count of `attention_filter` as a scalar subquery built once, with the parameters of
    `attention_parameters(now)`: the staff navigation reads it on every page (portal/staff_navigation.py)."""
    promised_before = bindparam("orders_promised_before", type_=Order.created_at.type)
    return select(func.count(Order.id)).where(or_(_overdue_before(promised_before), needs_staff_filter())
                                             ).scalar_subquery()


def attention_parameters(now: datetime) -> dict[str, datetime]:
    return {"orders_promised_before": now - PROMISED}


def _business_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=clock.BUSINESS_TZ).astimezone(UTC)


def search_orders(*, status: str | None, kind: str | None, overdue: bool, needs_staff: bool, organization: str,
                  created_from: date | None, created_to: date | None, now: datetime, page: int,
                  per_page: int) -> list[Order]:
    """Orders matching the staff list's filters, newest first: up to `per_page + 1` rows (one more tells there is a
    next page)."""
    statement = (
        select(Order)
        .join(Organization, Organization.id == Order.organization_id)
        .options(joinedload(Order.organization), joinedload(Order.subscription).joinedload(Subscription.product))
        .order_by(Order.created_at.desc(), Order.id.desc())
    )
    if status:
        statement = statement.where(Order.status == status)
    if kind:
        statement = statement.where(Order.kind == kind)
    if overdue:
        statement = statement.where(overdue_filter(now))
    if needs_staff:
        statement = statement.where(needs_staff_filter())
    if organization:
        statement = statement.where(Organization.matching(organization))
    if created_from:
        statement = statement.where(Order.created_at >= _business_midnight(created_from))
    if created_to:
        statement = statement.where(Order.created_at < _business_midnight(created_to + timedelta(days=1)))
    return list(db.session.scalars(statement.limit(per_page + 1).offset((page - 1) * per_page)))


def order_for_staff(order_id: int, *, lock: bool = False) -> Order | None:
    """One order for the staff pages, with its organization, product and steps; `lock` (staff actions) locks the
    row as run_order does: a provisioning job busy with this order finishes first, and the action sees what it
    left (instead of both writing the order's status)."""
    statement = select(Order).where(Order.id == order_id)
    if lock:
        statement = statement.with_for_update()
    else:
        statement = statement.options(
            joinedload(Order.organization), joinedload(Order.subscription).joinedload(Subscription.product),
            selectinload(Order.events))
    return db.session.scalar(statement)


def _event(order: Order, message: str, detail: dict | None = None) -> None:
    db.session.add(OrderEvent(order_id=order.id, created_at=clock.now(), status=order.status, message=message[:1000],
                              detail=detail))


def _set_status(order: Order, status: OrderStatus, message: str, tag: AuditTag, detail: dict | None = None) -> None:
    before = order.status
    order.status = status
    _event(order, message, detail)
    record(tag, actor=SYSTEM, organization_id=order.organization_id, subject=f"order:{order.id}",
           before={"status": before}, after={"status": status, "message": message[:300]})
    webhook_outbox.order_finished(order)  # order.completed / order.failed; other statuses announce nothing


def _call(order: Order, subscription: Subscription, organization: Organization,
          provisioner: LicenseProvisioner) -> ProvisioningResult | None:
    """The provider call for `order`, or None when it must wait (the purchase it depends on is not done)."""
    product = subscription.product
    customer_id = organization.microsoft_tenant_id or ""
    if order.operation_url:
        return provisioner.poll(order.operation_url)
    if order.kind == OrderKind.PURCHASE:
        return provisioner.purchase(Purchase(
            customer_id=customer_id, offer_id=product.offer_id or "", quantity=order.quantity,
            billing_cycle=product.billing_frequency, term_duration=TERM_DURATIONS[Term(product.term)],
            correlation_id=order.correlation_id,
        ))
    if subscription.provider_subscription_id is None:
        return None
    if order.kind == OrderKind.RENEWAL_QUANTITY and order.product_id is not None and order.quantity > 0:
        # Scheduled in "Renovações": the next term's product/term too (Partner Center scheduledNextTermInstructions).
        target = db.session.get(Product, order.product_id)
        return provisioner.schedule_next_term(NextTerm(
            customer_id=customer_id, subscription_id=subscription.provider_subscription_id,
            offer_id=target.offer_id or "", billing_cycle=target.billing_frequency,
            term_duration=TERM_DURATIONS[Term(target.term)], quantity=order.quantity,
            correlation_id=order.correlation_id,
        ))
    if order.kind == OrderKind.RENEWAL_QUANTITY:
        return provisioner.schedule_renewal_quantity(RenewalQuantity(
            customer_id=customer_id, subscription_id=subscription.provider_subscription_id,
            quantity=order.quantity, correlation_id=order.correlation_id,
        ))
    return provisioner.change_quantity(QuantityChange(
        customer_id=customer_id, subscription_id=subscription.provider_subscription_id, quantity=order.quantity,
        correlation_id=order.correlation_id,
    ))


def _done(order: Order, subscription: Subscription, result: ProvisioningResult, now: datetime) -> None:
    if order.kind == OrderKind.PURCHASE and result.subscription is not None:
        subscription.provider_subscription_id = result.subscription.subscription_id
    if subscription.status == SubscriptionStatus.PROVISIONING:
        subscription.status = SubscriptionStatus.ACTIVE
    order.completed_at = now
    order.next_attempt_at = None
    order.operation_url = None
    order.needs_staff = False
    order.error_code = order.error_message = None
    _set_status(order, OrderStatus.DONE, "done", AuditTag.ORDER_DONE, result.raw or None)


def _failed(order: Order, result: ProvisioningResult, now: datetime) -> Step:
    error = result.error
    order.error_code = error.code if error else "unknown"
    order.error_message = error.message if error else ""
    order.operation_url = None
    if error is not None and error.retryable and order.attempts < MAX_ATTEMPTS:
        order.next_attempt_at = now + retry_delay(order.attempts)
        order.status = OrderStatus.PENDING
        _event(order, f"attempt {order.attempts} failed ({order.error_code}): {order.error_message}; "
                      f"retrying at {order.next_attempt_at.isoformat()}", result.raw or None)
        record(AuditTag.ORDER_RETRY_SCHEDULED, actor=SYSTEM, organization_id=order.organization_id,
               subject=f"order:{order.id}", after={"attempt": order.attempts, "error": order.error_code})
        return Step(OrderStatus.PENDING, order.next_attempt_at)
    order.next_attempt_at = None
    order.needs_staff = True
    _set_status(order, OrderStatus.FAILED, f"failed ({order.error_code}): {order.error_message}",
                AuditTag.ORDER_FAILED, result.raw or None)
    return Step(OrderStatus.FAILED)


def run_order(order_id: int, *, provisioner: LicenseProvisioner) -> Step | None:
    """One attempt (or poll) of an order that is due. Commits. None when there was nothing to do."""
    now = clock.now()
    order = db.session.scalar(select(Order).where(Order.id == order_id).with_for_update())
    if order is None or not order.is_open or order.needs_staff:
        db.session.rollback()
        return None
    if order.next_attempt_at is not None and order.next_attempt_at > now:
        db.session.rollback()  # a duplicate or early message: the order's own schedule decides
        return Step(order.status, order.next_attempt_at)
    subscription = db.session.get(Subscription, order.subscription_id)
    organization = db.session.get(Organization, order.organization_id)

    # Held until the Master accepts the customer agreement: before the order-of-orders rules, so a held order
    # never withdraws an older one.
    if order.waiting_for_agreement:
        if has_pending_agreement(organization, clock.today()):
            order.next_attempt_at = now + AGREEMENT_RECHECK
            db.session.commit()
            return Step(order.status, order.next_attempt_at)
        order.waiting_for_agreement = False
        _event(order, "customer agreement accepted: sending the order")

    own_service = subscription.product.provider == Provider.OWN_SERVICE
    if not own_service and order.kind in SUPERSEDING_KINDS:
        newer = _newer_same_kind(order)
        if newer is not None and order.operation_url is None:  # a newer absolute target: this one is not sent
            _withdraw_superseded(order, newer)
            db.session.commit()
            return Step(OrderStatus.WITHDRAWN)
        if _withdraw_or_wait_for_older(order):
            order.next_attempt_at = now + POLL_EVERY
            _event(order, "waiting for the subscription's earlier order of the same kind, in progress at the provider")
            db.session.commit()
            return Step(order.status, order.next_attempt_at)
    elif _earlier_open_order(order):  # own services (staff, in order) and purchases: one at a time, in order
        order.next_attempt_at = now + POLL_EVERY
        _event(order, "waiting for the subscription's earlier order")
        db.session.commit()
        return Step(order.status, order.next_attempt_at)

    if own_service:
        order.needs_staff = True
        order.next_attempt_at = None
        _set_status(order, OrderStatus.SENT, "handed to the staff implantação queue", AuditTag.ORDER_SENT)
        db.session.commit()
        return Step(OrderStatus.SENT)
    if not organization.microsoft_tenant_id:
        order.attempts += 1
        return _finish_failed(order, ProvisioningResult(Outcome.FAILED, error=ProviderError(
            NO_TENANT, "The organization has no Microsoft tenant id: set it in the backoffice, then retry.",
            retryable=False)), now, notify)
    polling = order.operation_url is not None
    if not polling:
        order.attempts += 1
    result = _call(order, subscription, organization, provisioner)
    if result is None:
        order.attempts -= 1
        order.next_attempt_at = now + POLL_EVERY
        _event(order, "waiting for the subscription's purchase to complete")
        db.session.commit()
        return Step(order.status, order.next_attempt_at)
    if result.provider_request_id:
        order.provider_request_id = result.provider_request_id
    if result.outcome == Outcome.DONE:
        _done(order, subscription, result, now)
        resend_after_quantity_change(order)  # the provider erased what was scheduled for the renewal: send it again
        notify.order_finished(order=order)
        db.session.commit()
        return Step(OrderStatus.DONE)
    if result.outcome == Outcome.PENDING:
        order.operation_url = result.operation_url
        order.next_attempt_at = now + POLL_EVERY
        if order.status != OrderStatus.SENT:
            _set_status(order, OrderStatus.SENT, "accepted by the provider (202); polling", AuditTag.ORDER_SENT,
                        result.raw or None)
        else:
            _event(order, "still in progress at the provider")
        db.session.commit()
        return Step(OrderStatus.SENT, order.next_attempt_at)
    return _finish_failed(order, result, now, notify)


def _finish_failed(order: Order, result: ProvisioningResult, now: datetime, notify) -> Step:
    step = _failed(order, result, now)
    if step.status == OrderStatus.FAILED:
        notify.order_failed(order=order)  # staff or the customer, by the cause (subscriptions/failures.py)
    db.session.commit()
    return step


def _earlier_open_order(order: Order) -> bool:
    return db.session.scalar(
        select(func.count(Order.id)).where(Order.subscription_id == order.subscription_id, Order.id < order.id,
                                           Order.status.in_([OrderStatus.PENDING, OrderStatus.SENT]))
    ) > 0


# ---------------------------------------------------------------- which orders of a subscription wait for which
#
# A subscription's orders used to run strictly one after another, so one order retrying (up to ~31 minutes of
# backoff) held every later order of that subscription behind it. The rule now (issue 13 point 19e):
#
# - Quantity changes and renewal quantities carry an ABSOLUTE target (the seats now; the seats at the next term),
#   so the newest order of a kind says everything the older ones of that kind said. A newer order, when it is
#   sent, supersedes the older ones of its kind that have not reached the provider: they are withdrawn
#   ("retirado", never sent again) and the newer goes ahead; an older one whose turn comes after a newer one was
#   tried withdraws itself. A newer order waits only while an older one of its kind is in progress at the
#   provider (accepted, being polled), so the provider applies them in the order they were made. A newer order
#   not tried yet (held for a rescission's grace period, which a Master may still withdraw) supersedes nothing.
# - Orders of different kinds do not wait for each other: they set different things at the provider (the current
#   quantity; the next term's instructions). A renewal quantity equal to the current quantity means "undo the
#   scheduled change" at Partner Center; sent before a pending quantity change lands, it schedules that same
#   quantity instead, which renews identically.
# - Everything waits for the subscription's purchase (there is no provider id before it: `_call` answers None),
#   and an own service's orders stay one at a time, in order, as staff carry them out.

SUPERSEDING_KINDS = (OrderKind.QUANTITY_CHANGE, OrderKind.RENEWAL_QUANTITY)


def _newer_same_kind(order: Order) -> Order | None:
    """The newest later order of the same subscription and kind that was already tried (sent, done, failed, or
    retrying), if any. One never tried does not count: it may be held (a rescission's grace period) and withdrawn
    before it is ever sent, and then the older order is still the customer's word."""
    return db.session.scalar(
        select(Order).where(Order.subscription_id == order.subscription_id, Order.kind == order.kind,
                            Order.id > order.id, Order.status != OrderStatus.WITHDRAWN,
                            or_(Order.attempts > 0,
                                Order.status.in_([OrderStatus.SENT, OrderStatus.DONE, OrderStatus.FAILED])))
        .order_by(Order.id.desc()).limit(1))


def _withdraw_superseded(order: Order, newer: Order) -> None:
    before = order.status
    order.status = OrderStatus.WITHDRAWN
    order.next_attempt_at = None
    order.needs_staff = False
    _event(order, f"superseded by order {newer.id} (same subscription and kind, absolute quantity "
                  f"{newer.quantity}); not sent")
    record(AuditTag.ORDER_SUPERSEDED, actor=SYSTEM, organization_id=order.organization_id,
           subject=f"order:{order.id}", before={"status": before},
           after={"status": OrderStatus.WITHDRAWN, "superseded_by": newer.id})


def _withdraw_or_wait_for_older(order: Order) -> bool:
    """Withdraw the older open orders of `order`'s subscription and kind that have not reached the provider;
    True when one is in progress at the provider (then `order` waits for it).

    The older rows are locked first: a job sending one of them right now finishes before this decides, so an older
    target can never land at the provider after this order's. Locks are taken newest first, as every job holds its
    own order's lock and only asks for older ones: no two jobs wait for each other in a circle."""
    older = db.session.scalars(
        select(Order).where(Order.subscription_id == order.subscription_id, Order.kind == order.kind,
                            Order.id < order.id, Order.status.in_([OrderStatus.PENDING, OrderStatus.SENT]))
        .order_by(Order.id.desc()).with_for_update().execution_options(populate_existing=True)).all()
    in_flight = False
    for earlier in older:
        if not earlier.is_open:  # finished while this waited for its lock
            continue
        if earlier.status == OrderStatus.SENT or earlier.operation_url is not None:
            in_flight = True
        else:
            _withdraw_superseded(earlier, order)
    return in_flight


def due_orders(now: datetime, limit: int = 500) -> list[int]:
    """Open orders whose next attempt is due (the sweep's safety net if a queued message was lost)."""
    return list(db.session.scalars(
        select(Order.id)
        .where(Order.status.in_([OrderStatus.PENDING, OrderStatus.SENT]), Order.needs_staff.is_(False),
               or_(Order.next_attempt_at.is_(None), Order.next_attempt_at <= now))
        .order_by(Order.next_attempt_at, Order.id).limit(limit)
    ))


def overdue_filter(now: datetime):
    """Orders still open after the promised 30 minutes and not yet in staff's hands (those are counted apart,
    as `needs_staff`: an own service's implantação is expected to take longer), nor waiting for the customer to
    accept the agreement (the customer's step, shown as such)."""
    return _overdue_before(now - PROMISED)


def _overdue_before(created_before: Any):
    """`overdue_filter` for orders created before a time (or a statement parameter holding it)."""
    return (Order.status.in_([OrderStatus.PENDING, OrderStatus.SENT]) & Order.needs_staff.is_(False)
            & Order.waiting_for_agreement.is_(False) & (Order.created_at < created_before))


# Every status but "done", named: `status IN (…)` can use the status index (almost every order is done), where
# `status != 'done'` read the whole table, on every staff page (the navigation's badge) and every health check.
NOT_DONE = tuple(status for status in OrderStatus if status != OrderStatus.DONE)


def needs_staff_filter():
    """"Precisam da equipe": failed for good, or an own service's implantação waiting."""
    return Order.needs_staff.is_(True) & Order.status.in_(NOT_DONE)


def health_counts(now: datetime) -> dict[str, int]:
    open_orders = Order.status.in_([OrderStatus.PENDING, OrderStatus.SENT])
    return {
        "orders_open": db.session.scalar(select(func.count(Order.id)).where(open_orders)),
        "orders_overdue": db.session.scalar(select(func.count(Order.id)).where(overdue_filter(now))),
        "orders_needing_staff": db.session.scalar(select(func.count(Order.id)).where(needs_staff_filter())),
    }


# ---------------------------------------------------------------- staff actions

def retry_by_staff(order: Order, *, actor: Actor) -> None:
    """Send a failed (or stuck) order again, from the first attempt."""
    db.session.refresh(order, with_for_update=True)  # a provisioning job on it finishes first
    if order.status == OrderStatus.DONE:
        raise ServiceError(_("Este pedido já foi concluído."))
    if order.subscription.product.provider == Provider.OWN_SERVICE:
        raise ServiceError(_("Pedidos de serviços próprios são concluídos pela equipe de implantação."))
    before = order.status
    order.status = OrderStatus.PENDING
    order.attempts = 0
    order.needs_staff = False
    order.operation_url = None
    order.next_attempt_at = clock.now()
    _event(order, f"retried by {actor.label}")
    record(AuditTag.ORDER_RETRIED_BY_STAFF, actor=actor, organization_id=order.organization_id,
           subject=f"order:{order.id}", before={"status": before}, after={"status": OrderStatus.PENDING})

    queue_order(order)
    db.session.commit()


def complete_by_staff(order: Order, *, actor: Actor, note: str) -> None:
    """Staff finished it by hand: an own service's implantação, or a change made in Partner Center directly."""
    db.session.refresh(order, with_for_update=True)
    if order.status == OrderStatus.DONE:
        raise ServiceError(_("Este pedido já foi concluído."))
    note = (note or "").strip()
    if len(note) < 5:
        raise ServiceError(_("Descreva o que foi feito (pelo menos 5 caracteres)."), field="note")
    subscription = order.subscription
    if subscription.status == SubscriptionStatus.PROVISIONING:
        subscription.status = SubscriptionStatus.ACTIVE
    before = order.status
    order.status = OrderStatus.DONE
    order.completed_at = clock.now()
    order.needs_staff = False
    order.next_attempt_at = None
    order.operation_url = order.error_code = order.error_message = None
    _event(order, f"completed by {actor.label}: {note}"[:1000])
    record(AuditTag.ORDER_COMPLETED_BY_STAFF, actor=actor, organization_id=order.organization_id,
           subject=f"order:{order.id}", before={"status": before}, after={"status": OrderStatus.DONE, "note": note})
    webhook_outbox.order_finished(order)
    if subscription.product.provider == Provider.MICROSOFT_CSP:
        resend_after_quantity_change(order)

    notify.order_finished(order=order)
    db.session.commit()
