"""Confirming a quote, of either kind (a quantity change, `quotes.py`; the cart's checkout, `checkout.py`): apply it
exactly as shown, once, and send its orders to the provider when the transaction commits. Also the subscriptions a
new customer's onboarding buys, and the orders held until the customer agreement is accepted."""

import secrets
from dataclasses import dataclass
from datetime import date, datetime

from blinker import Namespace
from flask_babel import gettext as _
from sqlalchemy import select, update
from sqlalchemy.orm.exc import StaleDataError

from portal import jobs
from portal.accounts.models import Organization
from portal.agreements.service import agreements_recorded, has_pending_agreement
from portal.cancellations.models import CancellationRequest
from portal.catalog.cart import check_purchase_quantity, sellable
from portal.catalog.models import Product, Provider
from portal.extensions import db
from portal.notifications import service as notify
from portal.shared import clock
from portal.shared.audit import Actor, AuditTag, record
from portal.shared.errors import ServiceError
from portal.subscriptions.checkout import apply_checkout, plan_checkout
from portal.subscriptions.eligibility import ensure_contract_open
from portal.subscriptions.models import AGREEMENT_RECHECK, Order, OrderStatus, Quote, QuoteKind, QuoteStatus
from portal.subscriptions.quotes import (
    Cancellation,
    StaleQuote,
    apply_quantity_change,
    end_of_business_day,
    get_quote,
    is_cancellation,
    quote_orders,
)

_signals = Namespace()
# Sent by `confirm_quote` before an open quote is applied (an Adm's "Confirmar" of a quantity change or of the cart's
# checkout), with `quote` and `actor`: a receiver (portal.approvals.service, which this room does not import) returns
# the approval request now holding the quote (committed), or None to let it through.
approval_gate = _signals.signal("approval-gate")


class AwaitingApproval(ServiceError):
    """Nothing was ordered: the quote waits for a Master's approval (`request`, the approvals room's record)."""

    def __init__(self, request) -> None:
        super().__init__(_("Este pedido precisa da aprovação de um Master da organização. Avisamos os Masters por "
                           "e-mail; nada foi pedido ainda."))
        self.request = request


def _claim(quote: Quote, now: datetime) -> bool:
    """Mark the quote confirmed if it still is open; False when another request got there first.

    The conditional UPDATE is the idempotency guard: of two identical submissions only one matches.
    """
    result = db.session.execute(
        update(Quote).where(Quote.id == quote.id, Quote.status == QuoteStatus.OPEN)
        .values(status=QuoteStatus.CONFIRMED, confirmed_at=now)
        .execution_options(synchronize_session=False, organization_ids=[quote.organization_id])
    )
    return result.rowcount == 1


def confirm_quote(*, organization: Organization, token: str, actor: Actor) -> list[Order]:
    """Apply a quote exactly as shown and queue its orders. Confirming twice returns the same orders.

    A zero quote is a cancellation and is refused here: `portal.cancellations.service.cancel` is the one
    path that confirms it (the actor's permission, the reason and the password checked there)."""
    quote = get_quote(organization, token)
    if is_cancellation(quote):
        raise ServiceError(_("Quantidade zero cancela a assinatura: use “Cancelar” na licença, que pede o motivo e "
                             "a sua senha."))
    if quote.status == QuoteStatus.OPEN:
        for _receiver, held in approval_gate.send(organization, quote=quote, actor=actor):
            if held is not None:
                raise AwaitingApproval(held)
    confirmation = confirm_quote_in_transaction(organization, quote, actor)
    if confirmation.applied:
        queue_orders_and_notify(confirmation.orders, actor)
    db.session.commit()
    return confirmation.orders


@dataclass(frozen=True)
class Confirmation:
    orders: list[Order]
    applied: bool  # False when the quote had been confirmed before (a double submission): nothing done now
    cancellation: CancellationRequest | None = None


def confirm_quote_in_transaction(organization: Organization, quote: Quote, actor: Actor, *,
             cancellation: Cancellation | None = None) -> Confirmation:
    """Apply `quote` in the caller's transaction; the caller queues the orders, tells people and commits.

    A zero quote needs `cancellation` (so only the cancellations service can zero a subscription)."""
    if quote.status == QuoteStatus.CONFIRMED:
        return Confirmation(quote_orders(quote), applied=False)
    now = clock.now()
    if quote.expires_at <= now:
        raise StaleQuote(_("Este orçamento expirou. Confira os valores atualizados antes de confirmar."))
    if is_cancellation(quote) and cancellation is None:
        raise ServiceError(_("Quantidade zero cancela a assinatura: use “Cancelar” na licença, que pede o motivo e "
                             "a sua senha."))
    if cancellation is None:
        ensure_contract_open(organization)
    if not _claim(quote, now):
        db.session.rollback()
        db.session.refresh(quote)
        return Confirmation(quote_orders(quote), applied=False)
    request = None
    try:
        if quote.kind == QuoteKind.QUANTITY_CHANGE:
            orders, request = apply_quantity_change(organization, quote, actor, now, cancellation)
        else:
            orders = apply_checkout(organization, quote, actor, now)
        db.session.flush()
    except StaleDataError as exc:  # another change to the subscription committed meanwhile
        db.session.rollback()
        raise StaleQuote(_("A licença mudou desde este orçamento. Confira os valores atualizados.")) from exc
    except ServiceError:
        db.session.rollback()
        raise
    record(AuditTag.QUOTE_CONFIRMED, actor=actor, organization_id=organization.id, subject=f"quote:{quote.id}",
           after={"kind": quote.kind, "lines": quote.lines, "charge_cents": quote.charge_cents,
                  "credit_cents": quote.credit_cents, "recurring_cents": quote.recurring_cents,
                  "orders": [o.id for o in orders]})
    return Confirmation(orders, applied=True, cancellation=request)


def queue_orders_and_notify(orders: list[Order], actor: Actor) -> None:
    """Send the orders to the provider once the transaction commits, and tell the requester and the Masters."""
    for order in orders:
        queue_order(order)

    notify.order_received(orders=orders, requester=actor.user)


def purchase_for_new_customer(*, organization: Organization, items: list[tuple[Product, int]],
                              actor: Actor, billing_starts_on: date | None = None) -> list[Order]:
    """The subscriptions of a customer the onboarding approval just created: the checkout path (quote, ledger,
    lots, orders, audit) without a cart, in the caller's transaction; the orders go to the provider on commit.

    The customer-agreement gate of `quote_checkout` does not refuse the approval (the customer e-signed the
    reseller's contract), but its rule holds the Microsoft orders: while the organization has a current agreement
    not accepted (`has_pending_agreement`), they wait (`waiting_for_agreement`, shown to staff and customer) and
    the provisioning sweep sends them once a Master accepted. The subscriptions are billed from
    `billing_starts_on` (the contract's first monthly payment) at the earliest.
    """
    if not items:
        raise ServiceError(_("Inclua pelo menos um produto."))
    checked = [(sellable(product.id), check_purchase_quantity(product, quantity)) for product, quantity in items]
    now = clock.now()
    lines = plan_checkout(organization, checked, now)
    quote = Quote(
        token=secrets.token_hex(16), organization_id=organization.id, kind=QuoteKind.CHECKOUT,
        lines=[line.as_dict() for line in lines], charge_cents=sum(line.amount_cents for line in lines),
        credit_cents=0, recurring_cents=sum(line.quantity * line.unit_price_cents for line in lines),
        created_by_id=actor.user_id, created_at=now, expires_at=end_of_business_day(now),
    )
    db.session.add(quote)
    db.session.flush()
    confirmation = confirm_quote_in_transaction(organization, quote, actor)
    held = has_pending_agreement(organization, clock.today())
    for order in confirmation.orders:
        order.subscription.billing_starts_on = billing_starts_on
        if held and order.subscription.product.provider != Provider.OWN_SERVICE:
            order.waiting_for_agreement = True
            order.next_attempt_at = now + AGREEMENT_RECHECK
        else:
            queue_order(order)
    return confirmation.orders


def release_orders_held_for_agreement(organization: Organization, **_signal) -> list[Order]:
    """An acceptance (or attestation) is being recorded: the organization's orders held for the agreement are
    due now and queued for when it commits (`run_order` checks the gate again: one of two agreements accepted
    leaves them waiting)."""
    held = list(db.session.scalars(
        select(Order).where(Order.organization_id == organization.id, Order.waiting_for_agreement.is_(True),
                            Order.status == OrderStatus.PENDING)))
    now = clock.now()
    for order in held:
        order.next_attempt_at = now
        queue_order(order)
    return held


agreements_recorded.connect(release_orders_held_for_agreement)


# ---------------------------------------------------------------- queueing

def queue_order(order: Order) -> None:
    jobs.enqueue("subscriptions.provision_order", order.id)
