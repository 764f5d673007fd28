"""Quantity changes ("Alterar quantidades"): plan a change line by line, quote it, and apply a confirmed quote
(the ledger, lots and their draws, credits, orders, audit). Confirming is `confirmation.py`; the checkout's quotes
are `checkout.py`.

A quote is computed by the same functions that apply the change (prorata spec, rule 7): confirming re-plans the
change and refuses ("re-quote") when anything differs from what the customer saw.
"""

import secrets
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Integer, String, bindparam, select
from sqlalchemy.orm import joinedload, selectinload

from portal.accounts.models import Organization
from portal.billing import prorata
from portal.billing.models import CreditEntry
from portal.cancellations.models import CancellationRequest
from portal.cancellations.policy import check_reason
from portal.catalog.models import Product, ProductPrice
from portal.extensions import db
from portal.shared import clock
from portal.shared.audit import Actor, AuditTag, record
from portal.shared.errors import NotFound, ServiceError
from portal.shared.formatting import format_date
from portal.subscriptions import next_term
from portal.subscriptions.eligibility import ensure_contract_open, ensure_may_buy
from portal.subscriptions.lots import ledger, new_lot, plan_lots
from portal.subscriptions.models import (
    ChangeKind,
    Lot,
    LotDraw,
    NextTermStatus,
    Order,
    OrderEvent,
    OrderKind,
    OrderStatus,
    Quote,
    QuoteKind,
    Subscription,
    SubscriptionStatus,
)
from portal.subscriptions.prices import billing_period, current_price, too_few, too_many
from portal.webhooks import outbox as webhook_outbox


class StaleQuote(ServiceError):
    """The quote no longer matches reality (expired, or the subscription changed): quote again."""


# ---------------------------------------------------------------- planning a quantity change

@dataclass(frozen=True)
class QuoteLine:
    """One line as the customer sees it; rendered (and translated) by the template from `kind`."""

    kind: str  # "charge" | "credit" | "scheduled" | "purchase"
    quantity: int  # licenses this line is about (positive)
    unit_price_cents: int
    amount_cents: int  # + charged on the next invoice, − credited, 0 for a scheduled decrease
    period_start: str | None = None  # ISO business dates of the pró-rata period
    period_end: str | None = None
    effective_on: str | None = None  # ISO business date the line takes effect
    window_end: str | None = None  # ISO instant a lot's decrease window closed/closes (scheduled, credit)
    product_id: int | None = None
    product_name: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ChangePlan:
    lines: tuple[QuoteLine, ...]
    quantity_now: int  # Subscription.quantity after the change
    renewal_quantity: int | None  # from the next term on (None: same as quantity_now)
    charge_cents: int
    credit_cents: int
    recurring_cents: int  # per billing period, from the next period on
    increase: int  # licenses added now
    decrease: prorata.DecreasePlan | None
    unit_price: ProductPrice | None  # the price of the new lot (increases)
    period: tuple[date, date]

    def lines_json(self) -> list[dict[str, Any]]:
        return [line.as_dict() for line in self.lines]


def plan_change(organization: Organization, subscription: Subscription, new_quantity: int,
                now: datetime, *, at_term_end: bool = False) -> ChangePlan:
    """What setting `subscription` to `new_quantity` licenses does, line by line. Pure given the rows.

    `at_term_end`: every license removed leaves at the end of the term, none now, whatever the windows say
    (a contract rescission: the contract ends with its terms; licenses in a window are cancelled apart)."""
    product = subscription.product
    today = clock.to_business(now).date()
    period = billing_period(subscription, organization, today)
    start, end = period
    current = subscription.quantity
    lines: list[QuoteLine] = []
    charge = credit = increase = 0
    decrease = None
    price = None
    renewal = None
    lot_value = {lot.id: lot.remaining * lot.unit_price_cents for lot in subscription.lots}
    if new_quantity > current:
        increase = new_quantity - current
        price = current_price(product, today)
        charge = prorata.prorated_amount(price.unit_price_cents, increase, start, end, today)
        lines.append(QuoteLine("charge", increase, price.unit_price_cents, charge, start.isoformat(),
                               end.isoformat(), today.isoformat(), product_id=product.id, product_name=product.name))
        quantity_now = new_quantity
        recurring = sum(lot_value.values()) + increase * price.unit_price_cents
    elif new_quantity < current:
        lots = {lot.id: lot for lot in subscription.lots}
        if at_term_end:
            decrease = prorata.DecreasePlan(credit_lines=(), scheduled_quantity=current - new_quantity)
        else:
            decrease = prorata.plan_decrease(plan_lots(subscription, period), current - new_quantity, now, start,
                                             end, today)
        for line in decrease.credit_lines:
            lot = lots[line.lot_id]
            credit += -line.amount_cents
            lot_value[lot.id] -= line.quantity * lot.unit_price_cents
            lines.append(QuoteLine("credit", line.quantity, lot.unit_price_cents, line.amount_cents,
                                   start.isoformat(), end.isoformat(), today.isoformat(),
                                   window_end=lot.window_end.isoformat(), product_id=product.id,
                                   product_name=product.name))
        removed_now = sum(line.quantity for line in decrease.credit_lines)
        quantity_now = current - removed_now
        if decrease.scheduled_quantity:
            renewal = new_quantity
            lines.append(QuoteLine("scheduled", decrease.scheduled_quantity, 0, 0,
                                   effective_on=subscription.term_end.isoformat(), product_id=product.id,
                                   product_name=product.name))
        recurring = sum(lot_value.values())
    else:
        quantity_now = current  # same number: only undoes a scheduled decrease
        recurring = sum(lot_value.values())
    return ChangePlan(
        lines=tuple(lines), quantity_now=quantity_now, renewal_quantity=renewal, charge_cents=charge,
        credit_cents=credit, recurring_cents=recurring, increase=increase, decrease=decrease, unit_price=price,
        period=period,
    )


# ---------------------------------------------------------------- quotes

def end_of_business_day(now: datetime) -> datetime:
    local = clock.to_business(now)
    midnight = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=clock.BUSINESS_TZ)
    return midnight.astimezone(now.tzinfo)


def _check_quantity(subscription: Subscription, new_quantity: Any) -> int:
    product = subscription.product
    if not isinstance(new_quantity, int) or isinstance(new_quantity, bool):
        raise ServiceError(_("Informe a quantidade em números inteiros."), field="quantity")
    if subscription.status == SubscriptionStatus.CANCELLED:
        raise ServiceError(_("Esta licença foi cancelada e não pode mais ser alterada."))
    if subscription.status == SubscriptionStatus.PROVISIONING:
        raise ServiceError(_("Aguarde a conclusão do provisionamento para alterar a quantidade."))
    if subscription.status == SubscriptionStatus.SUSPENDED:
        raise ServiceError(_("Esta licença está suspensa. Fale com a nossa equipe financeira para reativá-la."))
    if new_quantity < 0:
        raise ServiceError(_("A quantidade não pode ser negativa."), field="quantity")
    if subscription.renewal_quantity == 0 and new_quantity > 0:
        # A cancellation (with its reason, for compliance) ends it at the term end; changing the quantity would
        # quietly undo it. Cancelling what is still inside its window stays possible (quantity 0).
        raise ServiceError(_("Esta licença foi cancelada e termina em %(date)s; a quantidade não pode mais ser "
                             "alterada. Para contratar de novo, use “Adicionar novos produtos”.",
                             date=format_date(subscription.term_end)), field="quantity")
    if new_quantity > product.max_quantity:
        raise ServiceError(too_many(product),
                           field="quantity")
    if 0 < new_quantity < product.min_quantity:
        raise ServiceError(too_few(product),
                           field="quantity")
    if new_quantity == subscription.quantity and subscription.renewal_quantity is None:
        raise ServiceError(_("Esta já é a quantidade atual."), field="quantity")
    if new_quantity == subscription.quantity and next_term.current_change(subscription) is not None:
        raise ServiceError(_("Esta já é a quantidade atual. Para desfazer a mudança agendada para a renovação, use "
                             "“Retirar a mudança” na licença."), field="quantity")
    return new_quantity


def is_cancellation(quote: Quote) -> bool:
    """A quote to zero licenses: only `portal.cancellations.service` confirms it (reason, permission, password)."""
    return quote.kind == QuoteKind.QUANTITY_CHANGE and quote.new_quantity == 0


def quote_quantity_change(*, organization: Organization, subscription: Subscription, new_quantity: Any,
                          actor: Actor, category: str | None = None, reason: str | None = None) -> Quote:
    """Price setting `subscription` to `new_quantity`; nothing changes until the quote is confirmed.

    Zero is a cancellation: it needs the reason here, and is confirmed only through "Cancelar"."""
    quote = new_quote(organization, subscription, new_quantity, actor, category, reason)
    db.session.commit()
    return quote


def new_quote(organization: Organization, subscription: Subscription, new_quantity: Any, actor: Actor,
               category: str | None, reason: str | None, *, at_term_end: bool = False) -> Quote:
    """The quote of `quote_quantity_change`, added to the caller's transaction (a rescission quotes every
    subscription and confirms them all in one). `at_term_end`: see `plan_change`."""
    if subscription.organization_id != organization.id:
        raise NotFound(_("Licença não encontrada."))
    if isinstance(new_quantity, int) and not isinstance(new_quantity, bool) and new_quantity != 0:
        ensure_contract_open(organization)  # first: "em rescisão" explains every refusal below
    new_quantity = _check_quantity(subscription, new_quantity)
    if new_quantity > subscription.quantity:  # "inadimplente": no increases (decreases stay allowed)
        ensure_may_buy(organization, actor)  # nor delinquent, nor without the current agreement accepted
    if new_quantity == 0:
        category, reason = check_reason(category, reason)
    else:
        category = reason = None
    now = clock.now()
    plan = plan_change(organization, subscription, new_quantity, now, at_term_end=at_term_end)
    quote = Quote(
        token=secrets.token_hex(16), organization_id=organization.id, kind=QuoteKind.QUANTITY_CHANGE,
        subscription_id=subscription.id, subscription_version=subscription.version, new_quantity=new_quantity,
        lines=plan.lines_json(), charge_cents=plan.charge_cents, credit_cents=plan.credit_cents,
        recurring_cents=plan.recurring_cents, cancellation_category=category, cancellation_reason=reason,
        created_by_id=actor.user_id, created_at=now, expires_at=end_of_business_day(now),
    )
    db.session.add(quote)
    db.session.flush()
    return quote


_QUOTE = select(Quote).where(Quote.token == bindparam("token", type_=String),
                             Quote.organization_id == bindparam("organization_id", type_=Integer))
# A quote's page shows its subscription too: loaded with it as `get_subscription` loads one.
_QUOTE_PAGE = _QUOTE.options(
    joinedload(Quote.subscription).joinedload(Subscription.product).joinedload(Product.family),
    joinedload(Quote.subscription).joinedload(Subscription.lots).joinedload(Lot.draws),
)


def get_quote(organization: Organization, token: str, *, with_subscription: bool = False) -> Quote:
    """A quote of the organization by its token; `with_subscription`: its subscription, product, family, lots
    and draws loaded in the same statement (the quote's pages)."""
    token = str(token)
    if len(token) != 32 or any(c not in "0123456789abcdef" for c in token):
        raise NotFound(_("Orçamento não encontrado."))
    found = db.session.execute(_QUOTE_PAGE if with_subscription else _QUOTE,
                               {"token": token, "organization_id": organization.id})
    quote = (found.unique() if with_subscription else found).scalar_one_or_none()
    if quote is None or (quote.subscription_id is not None and with_subscription
                         and quote.subscription.organization_id != organization.id):
        raise NotFound(_("Orçamento não encontrado."))
    return quote


def quote_orders(quote: Quote) -> list[Order]:
    return list(db.session.scalars(select(Order).where(Order.quote_id == quote.id).order_by(Order.id)))


# ---------------------------------------------------------------- applying a quantity change

@dataclass(frozen=True)
class Cancellation:
    """What only `portal.cancellations.service` passes, having checked who asks (roles, password): the record
    of a zero quote beyond what the quote itself holds (category and reason)."""

    requester_roles: str  # the requester's roles in the organization, e.g. "adm" or "master,cobranca"
    # Writes the CancellationRequest of the zero quote just applied (the cancellations room writes its own
    # record): called with (organization, subscription, quote, plan, before, cancellation, actor, now).
    record_request: Callable[..., CancellationRequest]
    parent_id: int | None = None  # the rescission this is one item of
    at_term_end: bool = False  # a rescission item: every license to the term end, none now (see plan_change)


def new_order(subscription: Subscription, kind: OrderKind, quantity: int, quote: Quote | None, actor: Actor,
              now: datetime) -> Order:
    order = Order(organization_id=subscription.organization_id, quote_id=quote.id if quote else None, kind=kind,
                  subscription_id=subscription.id, quantity=quantity, status=OrderStatus.PENDING,
                  correlation_id=str(uuid.uuid4()), requested_by_id=actor.user_id, created_at=now,
                  next_attempt_at=now)
    db.session.add(order)
    db.session.flush()
    db.session.add(OrderEvent(order_id=order.id, created_at=now, status=OrderStatus.PENDING,
                              message="order created"))
    record(AuditTag.ORDER_CREATED, actor=actor, organization_id=order.organization_id, subject=f"order:{order.id}",
           after={"kind": kind, "subscription_id": subscription.id, "quantity": quantity})
    return order


def apply_quantity_change(organization: Organization, quote: Quote, actor: Actor, now: datetime,
                          cancellation: Cancellation | None) -> tuple[list[Order], CancellationRequest | None]:
    # The subscription row is locked before its lots are read (issue 13 point 19a): a change confirmed at the same
    # moment commits first and this one then reads its new version (stale quote), never a mix of the old quantity
    # and the lots the other change already drew from. Its lots are read fresh after the lock.
    subscription = db.session.get(Subscription, quote.subscription_id, with_for_update=True, populate_existing=True)
    if subscription.version != quote.subscription_version:
        raise StaleQuote(_("A licença mudou desde este orçamento. Confira os valores atualizados."))
    db.session.refresh(subscription, attribute_names=["lots"])  # which lots, and each one's draws, as of now
    db.session.scalars(select(Lot).where(Lot.subscription_id == subscription.id).options(selectinload(Lot.draws))
                       .execution_options(populate_existing=True)).all()
    at_term_end = cancellation is not None and cancellation.at_term_end
    try:
        plan = plan_change(organization, subscription, quote.new_quantity, now, at_term_end=at_term_end)
    except ValueError as exc:
        # The pure planner refuses lots that do not add up to the subscription's quantity: rows that moved under
        # this transaction where the database cannot lock them (SQLite). Nothing was written yet: quote again.
        raise StaleQuote(_("A licença mudou enquanto confirmávamos. Confira os valores atualizados e tente "
                           "novamente.")) from exc
    if plan.lines_json() != quote.lines or plan.recurring_cents != quote.recurring_cents:
        raise StaleQuote(_("Os valores mudaram desde este orçamento (por exemplo, a janela de redução terminou). "
                           "Confira os valores atualizados."))
    today = clock.to_business(now).date()
    before = {"quantity": subscription.quantity, "renewal_quantity": subscription.renewal_quantity}
    scheduled = next_term.current_change(subscription)  # a change scheduled in "Renovações", if any
    orders = []
    if plan.increase:
        subscription.quantity = plan.quantity_now
        change = ledger(subscription, ChangeKind.INCREASE, plan.increase, effective_on=today, quote=quote,
                        actor=actor, period=plan.period, charge=plan.charge_cents)
        new_lot(subscription, change, plan.increase, plan.unit_price.unit_price_cents, plan.charge_cents, now)
        record(AuditTag.QUANTITY_INCREASED, actor=actor, organization_id=organization.id,
               subject=f"subscription:{subscription.id}", before=before,
               after={"quantity": plan.quantity_now, "charge_cents": plan.charge_cents, "quote": quote.id})
    if plan.decrease is not None:
        removed_now = sum(line.quantity for line in plan.decrease.credit_lines)
        if removed_now:
            subscription.quantity = plan.quantity_now
            change = ledger(subscription, ChangeKind.DECREASE, -removed_now, effective_on=today, quote=quote,
                            actor=actor, period=plan.period, credit=plan.credit_cents)
            for line in plan.decrease.credit_lines:
                db.session.add(LotDraw(lot_id=line.lot_id, change_id=change.id, quantity=line.quantity,
                                       credit_cents=-line.amount_cents))
            if plan.credit_cents:
                db.session.add(CreditEntry(
                    organization_id=organization.id, amount_cents=plan.credit_cents, change_id=change.id,
                    description=f"{subscription.product.name}: -{removed_now}", created_at=now,
                ))
            record(AuditTag.QUANTITY_DECREASED, actor=actor, organization_id=organization.id,
                   subject=f"subscription:{subscription.id}", before=before,
                   after={"quantity": plan.quantity_now, "credit_cents": plan.credit_cents, "quote": quote.id})
        if plan.decrease.scheduled_quantity:
            ledger(subscription, ChangeKind.SCHEDULED_DECREASE, -plan.decrease.scheduled_quantity,
                   effective_on=subscription.term_end, quote=quote, actor=actor)
            record(AuditTag.QUANTITY_DECREASE_SCHEDULED, actor=actor, organization_id=organization.id,
                   subject=f"subscription:{subscription.id}", before=before,
                   after={"renewal_quantity": plan.renewal_quantity, "on": subscription.term_end.isoformat(),
                          "quote": quote.id})
    subscription.renewal_quantity = plan.renewal_quantity
    # A change scheduled for the next term stays (the quantity now does not touch it; the provider erases it with a
    # mid-term change, so it is sent again once this change is done: next_term_changes.resend_after_quantity_change),
    # unless this is a cancellation (it ends the subscription) or schedules a decrease for the renewal itself (the
    # newer word on the renewal's quantity, kept with the scheduled product).
    keep_schedule = scheduled is not None and quote.new_quantity != 0 and plan.renewal_quantity is None
    if keep_schedule:
        subscription.renewal_quantity = scheduled.quantity
    elif scheduled is not None:
        next_term.end_change(scheduled, NextTermStatus.WITHDRAWN if quote.new_quantity == 0 else
                             NextTermStatus.REPLACED, actor=actor, now=now)
        if quote.new_quantity != 0:
            scheduled = next_term.new_change(subscription, product=scheduled.product, quantity=plan.renewal_quantity,
                                             actor=actor, now=now)
        else:
            scheduled = None
    if quote.new_quantity == 0 and plan.quantity_now == 0:
        subscription.status = SubscriptionStatus.CANCELLED
    subscription.version  # noqa: B018 - loaded; the flush bumps it (version_id_col) or fails if it moved
    db.session.flush()
    if plan.quantity_now != before["quantity"]:
        orders.append(new_order(subscription, OrderKind.QUANTITY_CHANGE, plan.quantity_now, quote, actor, now))
    if plan.renewal_quantity != before["renewal_quantity"] and not keep_schedule:
        target = plan.renewal_quantity if plan.renewal_quantity is not None else plan.quantity_now
        order = new_order(subscription, OrderKind.RENEWAL_QUANTITY, target, quote, actor, now)
        if scheduled is not None:
            order.product_id = scheduled.product_id
        orders.append(order)
    request = None
    if quote.new_quantity == 0:
        request = cancellation.record_request(organization, subscription, quote, plan, before, cancellation, actor,
                                              now)
    webhook_outbox.subscription_changed(subscription, reason="quantity_change")
    return orders, request
