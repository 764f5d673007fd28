"""The one way to zero a subscription: "Cancelar" (a license) and "Rescisão de contrato" (the whole contract).

Every path here refuses what `policy.py` refuses (who may cancel, why, and when) and without the person's
password typed again. `subscriptions.confirmation.confirm_quote` refuses zero quotes, so nothing else (staff
tools, the API, jobs) can cancel; `renew_due` only carries out what a request here scheduled. The record of a
cancellation (`CancellationRequest`) is written here only.

A cancellation is a zero quote (`subscriptions.quotes.quote_quantity_change`: licenses inside their window end
now with credit, the rest at the term end), confirmed here. A rescission quotes every active subscription to
zero with only the term-end part (the contract ends with its terms) and confirms them all in one transaction;
its orders wait RESCISSION_GRACE_MINUTES before reaching the provider, and until then (and before any order
was tried) a Master may withdraw it.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select
from werkzeug.security import check_password_hash

from portal.accounts import throttle
from portal.accounts.models import Membership, Organization, OrganizationStatus
from portal.billing.lines import draft_invoice
from portal.billing.models import Invoice, InvoiceKind, InvoiceStatus
from portal.cancellations import policy
from portal.cancellations.models import CancellationRequest, CancellationStatus, ReasonCategory
from portal.extensions import db
from portal.notifications import service as notify
from portal.shared import clock
from portal.shared.audit import Actor, AuditEvent, AuditTag, record
from portal.shared.errors import NotFound, ServiceError
from portal.subscriptions import service as subscriptions
from portal.subscriptions.confirmation import confirm_quote_in_transaction, queue_orders_and_notify
from portal.subscriptions.lots import lot_stock, open_windows
from portal.subscriptions.models import (
    Order,
    OrderEvent,
    OrderStatus,
    QuantityChange,
    Quote,
    Subscription,
    SubscriptionStatus,
)
from portal.subscriptions.quotes import Cancellation, ChangePlan, StaleQuote, new_quote, plan_change
from portal.subscriptions.renewals import withdraw_scheduled_end

# ---------------------------------------------------------------- who may, and the password

def _authorize(organization: Organization, actor: Actor | None, membership: Membership | None) -> str:
    """The requester's roles ("adm", "master,cobranca") when `actor` may cancel in `organization`; refuses otherwise."""
    return policy.requester_roles(organization.id, actor, membership)


def _check_password(organization: Organization, actor: Actor, password: str | None, subject: str) -> None:
    """The person types the password again; a wrong one is recorded (and committed) and changes nothing else.

    Called before the action touches anything, so the commit carries the refusal's audit event only. Typing the
    password again is a guess like any other: the sign-in's limits apply, per IP and per account, counted in the
    database so every web worker counts together (TooManyAttempts past them, the password unexamined)."""
    user = actor.user
    throttle.hit("password-again", [(f"ip:{actor.ip or ''}", current_app.config["LOGIN_RATE_LIMIT"]),
                                    (f"account:{user.id}", current_app.config["LOGIN_ACCOUNT_RATE_LIMIT"])])
    if password and user.password_hash and check_password_hash(user.password_hash, password):
        return
    record(AuditTag.CANCELLATION_PASSWORD_REFUSED, actor=actor, organization_id=organization.id, subject=subject)
    db.session.commit()
    raise ServiceError(_("Senha incorreta. Nada foi alterado."), field="password")


# ---------------------------------------------------------------- "Cancelar"

def preview_cancellation(*, organization: Organization, subscription: Subscription, actor: Actor,
                         actor_membership: Membership | None, category: str | None, reason: str | None) -> Quote:
    """The zero quote of `subscription`: what ends now (with its credit) and what at the term end. Changes nothing."""
    _authorize(organization, actor, actor_membership)
    policy.ensure_something_to_cancel(subscription.renewal_quantity, subscription.term_end,
                                      _open_windows(subscription, clock.now()))
    return subscriptions.quote_quantity_change(organization=organization, subscription=subscription, new_quantity=0,
                                               actor=actor, category=category, reason=reason)


def cancellation_quote(organization: Organization, token: str) -> Quote:
    """A zero quote of `organization` (any other quote is not a cancellation: not found here)."""
    quote = subscriptions.get_quote(organization, token)
    if not subscriptions.is_cancellation(quote):
        raise NotFound(_("Orçamento não encontrado."))
    return quote


def cancel(*, organization: Organization, token: str, password: str | None, actor: Actor,
           actor_membership: Membership | None) -> list[Order]:
    """Confirm the zero quote `token`: the licenses end as it showed, with its CancellationRequest, audit events
    and e-mails. Confirming twice returns the same orders."""
    roles = _authorize(organization, actor, actor_membership)
    quote = cancellation_quote(organization, token)
    policy.check_reason(quote.cancellation_category, quote.cancellation_reason)
    _check_password(organization, actor, password, f"quote:{quote.id}")
    confirmation = confirm_quote_in_transaction(organization, quote, actor,
                                                cancellation=Cancellation(roles, _record_cancellation))
    if confirmation.applied:
        queue_orders_and_notify(confirmation.orders, actor)
        notify.cancellation_requested(request=confirmation.cancellation, requester=actor.user)
    db.session.commit()
    return confirmation.orders


def request_of(quote: Quote) -> CancellationRequest | None:
    return db.session.scalar(select(CancellationRequest).where(CancellationRequest.quote_id == quote.id))


def _record_cancellation(organization: Organization, subscription: Subscription, quote: Quote, plan: ChangePlan,
                         before: dict[str, int | None], cancellation: Cancellation, actor: Actor,
                         now: datetime) -> CancellationRequest:
    """The CancellationRequest of a zero quote just applied: who, as what, from where, why, and what it did.

    The subscriptions room calls it (`Cancellation.record_request`) where the change is applied, in the same
    transaction, so the request's audit event comes before the quote's confirmation as it always did."""
    ends_now = plan.quantity_now == 0
    request = CancellationRequest(
        organization_id=organization.id, subscription_id=subscription.id, parent_id=cancellation.parent_id,
        is_rescission=cancellation.parent_id is not None, category=quote.cancellation_category,
        reason=quote.cancellation_reason, requested_by_id=actor.user_id,
        requester_roles=cancellation.requester_roles, ip=actor.ip, quote_id=quote.id,
        quantity_before=before["quantity"], quantity_after=plan.quantity_now,
        ends_on=clock.to_business(now).date() if ends_now else subscription.term_end,
        credit_cents=plan.credit_cents, created_at=now,
    )
    db.session.add(request)
    db.session.flush()
    # `before` keeps the renewal quantity the subscription had: withdrawing a rescission restores it from here.
    record(AuditTag.CANCELLATION_REQUESTED, actor=actor, organization_id=organization.id,
           subject=f"cancellation:{request.id}", before=before,
           after={"subscription_id": subscription.id, "category": request.category, "reason": request.reason,
                  "roles": request.requester_roles, "quantity_before": request.quantity_before,
                  "quantity_after": request.quantity_after, "credit_cents": request.credit_cents,
                  "ends_now": ends_now, "ends_on": request.ends_on.isoformat(), "rescission": request.parent_id,
                  "quote": quote.id})
    return request


# ---------------------------------------------------------------- "Rescisão de contrato"

@dataclass(frozen=True)
class RescissionItem:
    """One subscription in a rescission: every license in use until `ends_on`, then the subscription ends."""

    subscription: Subscription
    quantity: int  # licenses in use until the term end
    ends_on: date  # the term end (the day it would renew)
    renewal_quantity: int | None  # what was scheduled for the next term before (None: unchanged)
    open_windows: list[tuple[int, datetime]]  # (licenses, window end) that "Cancelar" would end now with credit


@dataclass(frozen=True)
class RescissionPreview:
    items: list[RescissionItem]
    reason: str
    fingerprint: str  # the subscriptions and their versions as shown: confirming anything else asks to look again
    ends_on: date | None  # the last term end: when the contract ends


def _active_subscriptions(organization: Organization) -> list[Subscription]:
    return [s for s in subscriptions.list_subscriptions(organization) if s.status != SubscriptionStatus.CANCELLED]


def _fingerprint(items: list[Subscription]) -> str:
    return ",".join(f"{s.id}:{s.version}" for s in sorted(items, key=lambda s: s.id))


def _ensure_can_rescind(organization: Organization, subscriptions_: list[Subscription]) -> None:
    policy.ensure_may_rescind(organization.status, (s.status for s in subscriptions_))


def _items(organization: Organization, active: list[Subscription], now: datetime) -> list[RescissionItem]:
    items = []
    for subscription in active:
        plan = plan_change(organization, subscription, 0, now, at_term_end=True)
        items.append(RescissionItem(subscription=subscription, quantity=plan.quantity_now,
                                    ends_on=subscription.term_end, renewal_quantity=subscription.renewal_quantity,
                                    open_windows=_open_windows(subscription, now)))
    return items


def _open_windows(subscription: Subscription, now: datetime) -> list[tuple[int, datetime]]:
    """(licenses, window end) of the lots "Cancelar" would still end now with credit, soonest first."""
    return open_windows(lot_stock(subscription), now)


def preview_rescission(*, organization: Organization, actor: Actor, actor_membership: Membership | None,
                       reason: str | None) -> RescissionPreview:
    """What rescinding the contract does to every subscription, before the password is asked. Changes nothing."""
    _authorize(organization, actor, actor_membership)
    reason = policy.check_reason_text(reason)
    active = _active_subscriptions(organization)
    _ensure_can_rescind(organization, active)
    items = _items(organization, active, clock.now())
    return RescissionPreview(items=items, reason=reason, fingerprint=_fingerprint(active),
                             ends_on=max((item.ends_on for item in items), default=None))


def grace_period() -> timedelta:
    return timedelta(minutes=current_app.config["RESCISSION_GRACE_MINUTES"])


def rescind(*, organization: Organization, reason: str | None, fingerprint: str, password: str | None,
            actor: Actor, actor_membership: Membership | None) -> CancellationRequest:
    """Rescind the contract as the preview showed: in one transaction, every subscription scheduled to end at its
    term end (one zero quote and request each, under one parent request), the organization "em rescisão", and
    orders that wait the grace period before reaching the provider."""
    roles = _authorize(organization, actor, actor_membership)
    reason = policy.check_reason_text(reason)
    _check_password(organization, actor, password, f"organization:{organization.id}")
    db.session.refresh(organization, with_for_update=True)  # two rescissions at once: the second sees the first
    active = _active_subscriptions(organization)
    _ensure_can_rescind(organization, active)
    if _fingerprint(active) != (fingerprint or ""):
        db.session.rollback()
        raise StaleQuote(_("As licenças mudaram desde a prévia. Confira as consequências de novo antes de confirmar."))
    now = clock.now()
    ends_on = max((s.term_end for s in active), default=clock.to_business(now).date())
    parent = CancellationRequest(
        organization_id=organization.id, subscription_id=None, is_rescission=True,
        category=ReasonCategory.RESCISSION, reason=reason, requested_by_id=actor.user_id, requester_roles=roles,
        ip=actor.ip, ends_on=ends_on, credit_cents=0, created_at=now,
    )
    db.session.add(parent)
    db.session.flush()
    due = now + grace_period()
    orders = []
    for subscription in active:
        quote = new_quote(organization, subscription, 0, actor, ReasonCategory.RESCISSION, reason, at_term_end=True)
        confirmation = confirm_quote_in_transaction(
            organization, quote, actor,
            cancellation=Cancellation(roles, _record_cancellation, parent_id=parent.id, at_term_end=True))
        for order in confirmation.orders:  # the sweep sends them once due; withdrawn before that, never
            order.next_attempt_at = due
            db.session.add(OrderEvent(order_id=order.id, created_at=now, status=order.status,
                                      message=f"held until {due.isoformat()}: rescission grace period"))
        orders.extend(confirmation.orders)
    status_before, organization.status = organization.status, OrganizationStatus.RESCINDING
    # `before` keeps the organization's status: withdrawing the rescission restores it from here.
    record(AuditTag.RESCISSION_REQUESTED, actor=actor, organization_id=organization.id,
           subject=f"cancellation:{parent.id}", before={"organization_status": status_before},
           after={"category": parent.category, "reason": reason, "roles": roles,
                  "subscriptions": [s.id for s in active], "orders": [o.id for o in orders],
                  "ends_on": ends_on.isoformat(), "grace_until": due.isoformat(),
                  "organization_status": OrganizationStatus.RESCINDING})
    notify.rescission_requested(parent=parent, items=_children(parent), requester=actor.user, grace_until=due)
    db.session.commit()
    return parent


# ---------------------------------------------------------------- the rescission in course, and withdrawing it

def _children(parent: CancellationRequest) -> list[tuple[CancellationRequest, Subscription]]:
    return [tuple(row) for row in db.session.execute(
        select(CancellationRequest, Subscription)
        .join(Subscription, Subscription.id == CancellationRequest.subscription_id)
        .where(CancellationRequest.parent_id == parent.id).order_by(CancellationRequest.id)
    )]


def _orders_of(children: list[tuple[CancellationRequest, Subscription]], *, lock: bool = False) -> list[Order]:
    quote_ids = [request.quote_id for request, _subscription in children if request.quote_id]
    if not quote_ids:
        return []
    statement = select(Order).where(Order.quote_id.in_(quote_ids)).order_by(Order.id)
    return list(db.session.scalars(statement.with_for_update() if lock else statement))


@dataclass(frozen=True)
class Rescission:
    """The organization's rescission as its pages show it."""

    request: CancellationRequest
    items: list[tuple[CancellationRequest, Subscription]]
    orders: list[Order]
    grace_until: datetime  # the orders reach the provider from then on
    withdrawable: bool  # a Master may still withdraw it (nothing sent, grace period running)
    why_not: str | None  # why it can no longer be withdrawn


def latest_rescission(organization: Organization) -> CancellationRequest | None:
    return db.session.scalar(
        select(CancellationRequest)
        .where(CancellationRequest.organization_id == organization.id, CancellationRequest.is_rescission.is_(True),
               CancellationRequest.subscription_id.is_(None))
        .order_by(CancellationRequest.id.desc()).limit(1))


def _later_changes(items: list[tuple[CancellationRequest, Subscription]]) -> bool:
    """True when a subscription of the rescission changed after it (a license cancelled inside its window)."""
    last_own = db.session.scalar(select(func.max(QuantityChange.id)).where(
        QuantityChange.quote_id.in_([request.quote_id for request, _s in items if request.quote_id])))
    if last_own is None:
        return False
    return db.session.scalar(select(func.count(QuantityChange.id)).where(
        QuantityChange.subscription_id.in_([s.id for _r, s in items]), QuantityChange.id > last_own)) > 0


def _withdrawal_refusal(parent: CancellationRequest, items, orders: list[Order], now: datetime) -> str | None:
    return policy.withdrawal_refusal(
        in_force=parent.status == CancellationStatus.APPLIED,
        reached_provider=any(order.status != OrderStatus.PENDING or order.attempts for order in orders),
        now=now, grace_until=parent.created_at + grace_period(), changed_since=lambda: _later_changes(items))


def current_rescission(organization: Organization) -> Rescission | None:
    """The rescission in course (organization "em rescisão"), or None."""
    if organization.status != OrganizationStatus.RESCINDING:
        return None
    parent = latest_rescission(organization)
    if parent is None or parent.status != CancellationStatus.APPLIED:
        return None
    items = _children(parent)
    orders = _orders_of(items)
    why_not = _withdrawal_refusal(parent, items, orders, clock.now())
    return Rescission(request=parent, items=items, orders=orders, grace_until=parent.created_at + grace_period(),
                      withdrawable=why_not is None, why_not=why_not)


def _before(tag: AuditTag, request: CancellationRequest, key: str):
    """A value the request's own audit event kept in `before` (hash-chained, so it is what it was)."""
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.tag == tag,
                                                       AuditEvent.subject == f"cancellation:{request.id}"))
    return (event.before or {}).get(key) if event is not None else None


def withdraw_rescission(*, organization: Organization, password: str | None, actor: Actor,
                        actor_membership: Membership | None) -> CancellationRequest:
    """Undo the rescission in course while nothing reached the provider: its orders are withdrawn, every
    subscription renews as before, the requests are marked withdrawn and the organization is active again."""
    policy.ensure_may_withdraw(organization.id, actor, actor_membership)
    _check_password(organization, actor, password, f"organization:{organization.id}")
    db.session.refresh(organization, with_for_update=True)
    parent = latest_rescission(organization) if organization.status == OrganizationStatus.RESCINDING else None
    if parent is None or parent.status != CancellationStatus.APPLIED:
        db.session.rollback()
        raise ServiceError(_("Não há rescisão em andamento."))
    now = clock.now()
    items = _children(parent)
    orders = _orders_of(items, lock=True)  # the provisioning job locks the same rows: one of us waits
    refusal = _withdrawal_refusal(parent, items, orders, now)
    if refusal:
        db.session.rollback()
        raise ServiceError(refusal)
    restored = {}
    for request, subscription in items:
        renewal = _before(AuditTag.CANCELLATION_REQUESTED, request, "renewal_quantity")
        quote = db.session.get(Quote, request.quote_id) if request.quote_id else None
        withdraw_scheduled_end(
            subscription, renewal_quantity=renewal, actor=actor,
            orders=[order for order in orders if order.quote_id == request.quote_id],
            cancelled_at=quote.confirmed_at if quote is not None else None)
        restored[subscription.id] = renewal
    for request in [parent, *(request for request, _s in items)]:
        request.status = CancellationStatus.WITHDRAWN
        request.withdrawn_at = now
        request.withdrawn_by_id = actor.user_id
    organization.status = (_before(AuditTag.RESCISSION_REQUESTED, parent, "organization_status")
                           or OrganizationStatus.ACTIVE)
    record(AuditTag.RESCISSION_WITHDRAWN, actor=actor, organization_id=organization.id,
           subject=f"cancellation:{parent.id}", before={"organization_status": OrganizationStatus.RESCINDING},
           after={"organization_status": organization.status, "orders_withdrawn": [o.id for o in orders],
                  "renewal_quantity_restored": {str(k): v for k, v in restored.items()}})
    notify.rescission_withdrawn(parent=parent, items=items, withdrawn_by=actor.user)
    db.session.commit()
    return parent


# ---------------------------------------------------------------- closing (daily job)

def _closable(organization: Organization, today: date) -> bool:
    """Every subscription ended, and the last invoice after the last term end exists or nothing is left to bill."""
    if db.session.scalar(select(func.count(Subscription.id)).where(
            Subscription.organization_id == organization.id,
            Subscription.status != SubscriptionStatus.CANCELLED)):
        return False
    last_end = db.session.scalar(select(func.max(QuantityChange.effective_on))
                                 .where(QuantityChange.organization_id == organization.id))
    if last_end is not None and db.session.scalar(select(func.count(Invoice.id)).where(
            Invoice.organization_id == organization.id, Invoice.kind == InvoiceKind.REGULAR,
            Invoice.status != InvoiceStatus.CANCELLED, Invoice.billing_date >= last_end)):
        return True

    return not draft_invoice(organization, today).lines


def close_rescinded(*, today: date, actor: Actor) -> int:
    """Close ("encerrada") every organization in rescission whose contract has run out. Commits each."""
    closed = 0
    for organization_id in db.session.scalars(select(Organization.id).where(
            Organization.status == OrganizationStatus.RESCINDING).order_by(Organization.id)).all():
        organization = db.session.scalar(select(Organization).where(Organization.id == organization_id)
                                         .with_for_update())
        if organization.status != OrganizationStatus.RESCINDING or not _closable(organization, today):
            db.session.rollback()
            continue
        organization.status = OrganizationStatus.CLOSED
        parent = latest_rescission(organization)
        record(AuditTag.ORGANIZATION_CLOSED, actor=actor, organization_id=organization.id,
               subject=f"organization:{organization.id}",
               before={"organization_status": OrganizationStatus.RESCINDING},
               after={"organization_status": OrganizationStatus.CLOSED, "on": today.isoformat(),
                      "rescission": parent.id if parent else None})
        db.session.commit()
        closed += 1
    return closed
