"""Subscriptions verbs: quote a quantity change or a purchase, confirm it, and the resulting orders.

A quote is computed by the same functions that apply the change (prorata spec, rule 7): confirming
re-plans the change and refuses ("re-quote") when anything differs from what the customer saw.
Each function takes its inputs explicitly and commits its own unit of work with its audit events.
"""

import secrets
import uuid
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from fractions import Fraction
from itertools import groupby
from operator import itemgetter
from typing import Any, NamedTuple

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import Integer, String, bindparam, func, select, update
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.exc import StaleDataError

from portal import jobs
from portal.accounts.models import Organization, User
from portal.agreements.service import agreements_recorded, has_pending_agreement
from portal.billing import prorata
from portal.billing.models import CreditEntry
from portal.cancellations.models import MIN_REASON_LENGTH, CancellationRequest, CancellationStatus, ReasonCategory
from portal.catalog.models import (
    BILLING_MONTHS,
    TERM_MONTHS,
    BillingFrequency,
    Product,
    ProductFamily,
    ProductPrice,
    Provider,
    Term,
)
from portal.extensions import db
from portal.notifications import service as notify
from portal.shared import clock, periods
from portal.shared.audit import Actor, AuditTag, record
from portal.shared.errors import NotFound, ServiceError
from portal.shared.formatting import format_date
from portal.shared.money import round_half_up
from portal.subscriptions.eligibility import ensure_contract_open, ensure_may_buy
from portal.subscriptions.models import (
    AGREEMENT_RECHECK,
    CartItem,
    ChangeKind,
    Lot,
    LotDraw,
    Order,
    OrderEvent,
    OrderKind,
    OrderStatus,
    QuantityChange,
    Quote,
    QuoteKind,
    QuoteStatus,
    Subscription,
    SubscriptionStatus,
)


class StaleQuote(ServiceError):
    """The quote no longer matches reality (expired, or the subscription changed): quote again."""


# ---------------------------------------------------------------- periods and prices

def billing_period(subscription_or_product: Subscription | Product, organization: Organization, on: date,
                   term_start: date | None = None) -> tuple[date, date]:
    """The billing period [S, E) containing `on` for a subscription (or a product about to be bought)."""
    product = getattr(subscription_or_product, "product", subscription_or_product)
    start = term_start or getattr(subscription_or_product, "term_start", None) or on
    return periods.billing_period(product.billing_frequency == BillingFrequency.ANNUAL,
                                  organization.billing_day, start, on)


def current_price(product: Product, day: date) -> ProductPrice:
    price = product.price_on(day)
    if price is None:
        raise ServiceError(_("Este produto ainda não tem preço. Fale com a equipe comercial."))
    return price


def period_label_months(product: Product) -> int:
    return BILLING_MONTHS[BillingFrequency(product.billing_frequency)]


def monthly_equivalent(amount_per_period_cents: int, product: Product) -> int:
    """For display only: an annual amount as twelfths (rounded half up); monthly amounts unchanged."""
    return monthly_equivalent_of(amount_per_period_cents, product.billing_frequency)


def monthly_equivalent_of(amount_per_period_cents: int, billing_frequency: str) -> int:
    months = BILLING_MONTHS[BillingFrequency(billing_frequency)]
    return round_half_up(Fraction(amount_per_period_cents, months)) if months > 1 else amount_per_period_cents


# ---------------------------------------------------------------- reading

def list_subscriptions(organization: Organization) -> list[Subscription]:
    """The organization's subscriptions, cancelled last, with products, families, lots and draws loaded."""
    return list(
        db.session.scalars(
            select(Subscription)
            .where(Subscription.organization_id == organization.id)
            .options(selectinload(Subscription.product).selectinload(Product.family),
                     selectinload(Subscription.lots).selectinload(Lot.draws))
            .order_by(Subscription.status == SubscriptionStatus.CANCELLED, Subscription.id)
        )
    )


@dataclass(frozen=True, slots=True)
class LotStock:
    """What is left of a lot: the licenses still in it, their price and when its decrease window closes."""

    remaining: int
    unit_price_cents: int
    window_end: datetime


def lot_stock(subscription: Subscription) -> list[LotStock]:
    """A loaded subscription's lots with licenses left, oldest first."""
    return [LotStock(lot.remaining, lot.unit_price_cents, lot.window_end)
            for lot in subscription.lots if lot.remaining > 0]


class LicenseRow(NamedTuple):
    """One line of "Licenças": what the row shows and nothing else, so that the rendered rows can be
    reused while these values stay the same (the rows are their own cache key, see `views.licenses`; a
    named tuple hashes and compares in C, which the key does on every request)."""

    subscription_id: int
    product_name: str
    family_name: str
    quantity: int
    status: str
    term: str
    billing_frequency: str
    term_end: date
    renewal_quantity: int | None
    prices: tuple[tuple[int, int], ...]  # (licenses, unit price) per price in use, cheapest first
    recurring_cents: int  # per billing period, each lot at the price it was billed at
    monthly_cents: int  # the same as twelfths for annual billing (display only)
    order_id: int | None  # the subscription's newest order, if any
    order_status: str | None
    order_waiting: bool = False  # that order waits for a Master to accept the customer agreement

    @property
    def annual(self) -> bool:
        return self.billing_frequency == BillingFrequency.ANNUAL

    @property
    def unit_price_cents(self) -> int | None:
        """The price per license when every license costs the same; None when lots differ (or none remain)."""
        return self.prices[0][1] if len(self.prices) == 1 else None

    @property
    def scheduled_decrease(self) -> int | None:
        return None if self.renewal_quantity is None else self.quantity - self.renewal_quantity

    @property
    def manageable(self) -> bool:
        return self.status == SubscriptionStatus.ACTIVE

    @property
    def order_is_open(self) -> bool:
        return self.order_status in (OrderStatus.PENDING, OrderStatus.SENT)


def _license_rows_statement():
    """"Licenças" in one statement, built once (bound parameter `organization_id`): each subscription with
    product, family and newest order, once per price its lots still hold licenses at (the licenses left in
    each lot summed in SQL, draws subtracted), cancelled subscriptions last."""
    organization_id = bindparam("organization_id", type_=Integer)
    drawn = (select(LotDraw.lot_id, func.sum(LotDraw.quantity).label("quantity"))
             .join(Lot, Lot.id == LotDraw.lot_id).join(Subscription, Subscription.id == Lot.subscription_id)
             .where(Subscription.organization_id == organization_id)
             .group_by(LotDraw.lot_id).subquery())
    remaining = Lot.quantity - func.coalesce(drawn.c.quantity, 0)
    stock = (
        select(Lot.subscription_id, Lot.unit_price_cents, func.sum(remaining).label("remaining"))
        .join(Subscription, Subscription.id == Lot.subscription_id)
        .outerjoin(drawn, drawn.c.lot_id == Lot.id)
        .where(Subscription.organization_id == organization_id, remaining > 0)
        .group_by(Lot.subscription_id, Lot.unit_price_cents)
        .subquery()
    )
    newest_order = (select(func.max(Order.id)).where(Order.subscription_id == Subscription.id)
                    .correlate(Subscription).scalar_subquery())
    return (
        select(Subscription.id, Product.name, ProductFamily.name, Subscription.quantity, Subscription.status,
               Product.term, Product.billing_frequency, Subscription.term_end, Subscription.renewal_quantity,
               Order.id, Order.status, Order.waiting_for_agreement, stock.c.unit_price_cents, stock.c.remaining)
        .join(Product, Product.id == Subscription.product_id)
        .join(ProductFamily, ProductFamily.id == Product.family_id)
        .outerjoin(Order, (Order.subscription_id == Subscription.id) & (Order.id == newest_order))
        .outerjoin(stock, stock.c.subscription_id == Subscription.id)
        .where(Subscription.organization_id == organization_id)
        .order_by(Subscription.status == SubscriptionStatus.CANCELLED, Subscription.id, stock.c.unit_price_cents)
    )


_LICENSE_ROWS = _license_rows_statement()


def license_rows(organization: Organization) -> tuple[LicenseRow, ...]:
    """"Licenças" in one query whatever the number of subscriptions and lots; no ORM objects."""
    rows = []
    found = db.session.connection().execute(_LICENSE_ROWS, {"organization_id": organization.id})
    for _subscription_id, group in groupby(found, key=itemgetter(0)):  # one line per price in use
        lines = list(group)
        subscription, (order_id, order_status, waiting) = lines[0][:9], lines[0][9:12]  # id … renewal_quantity; order
        prices = tuple((int(remaining), price) for *_, price, remaining in lines if price is not None)
        recurring = sum(left * price for left, price in prices)
        rows.append(LicenseRow(*subscription, prices, recurring, monthly_equivalent_of(recurring, subscription[6]),
                               order_id, order_status, bool(waiting)))
    return tuple(rows)


def subscription_history(organization: Organization, subscription: Subscription,
                         limit: int) -> list[tuple[QuantityChange, str | None, bool | None]]:
    """The newest `limit` ledger rows of a subscription, each with who made it (name, is staff)."""
    return [tuple(row) for row in db.session.execute(
        select(QuantityChange, User.name, User.is_staff)
        .outerjoin(User, User.id == QuantityChange.actor_id)
        .where(QuantityChange.subscription_id == subscription.id,
               QuantityChange.organization_id == organization.id)
        .order_by(QuantityChange.id.desc()).limit(limit)
    )]


def subscription_orders(organization: Organization, subscription: Subscription, limit: int) -> list[Order]:
    return list(db.session.scalars(
        select(Order).where(Order.subscription_id == subscription.id, Order.organization_id == organization.id)
        .order_by(Order.id.desc()).limit(limit)
    ))


_SUBSCRIPTION_PAGE = (
    select(Subscription)
    .where(Subscription.id == bindparam("subscription_id", type_=Integer),
           Subscription.organization_id == bindparam("organization_id", type_=Integer))
    .options(joinedload(Subscription.product).joinedload(Product.family),
             joinedload(Subscription.lots).joinedload(Lot.draws))
)


def get_subscription(organization: Organization, subscription_id: int) -> Subscription:
    """A subscription of the organization for its pages, with product, family, lots and draws loaded: one
    prebuilt statement however many lots it has (a lot has few draws, so joining them multiplies few rows)."""
    subscription = db.session.execute(
        _SUBSCRIPTION_PAGE, {"subscription_id": subscription_id, "organization_id": organization.id},
    ).unique().scalar_one_or_none()
    if subscription is None:
        raise NotFound(_("Licença não encontrada."))
    return subscription


def get_order(organization: Organization, order_id: int) -> Order:
    order = db.session.scalar(select(Order).where(Order.id == order_id, Order.organization_id == organization.id))
    if order is None:
        raise NotFound(_("Pedido não encontrado."))
    return order


def recurring_cents(subscription: Subscription) -> int:
    """What the licenses in use cost per billing period: each lot at the price it was billed at."""
    return stock_cents(lot_stock(subscription))


def stock_cents(stock: list[LotStock]) -> int:
    """`recurring_cents` of lots already summarised (`lot_stock`)."""
    return sum(lot.remaining * lot.unit_price_cents for lot in stock)


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


def _plan_lots(subscription: Subscription, period: tuple[date, date]) -> list[prorata.Lot]:
    """The subscription's lots as the pure planner sees them: what remains, and what may still be credited."""
    start, end = period
    lots = []
    for lot in subscription.lots:
        remaining = lot.remaining
        if remaining <= 0:
            continue
        added_on = clock.to_business(lot.added_at).date()
        if start <= added_on < end:
            creditable = lot.billed_cents - lot.credited_cents  # billed pro-rata when added this period
        else:
            creditable = remaining * lot.unit_price_cents  # billed in full for this period, in advance
        lots.append(prorata.Lot(lot_id=lot.id, quantity=remaining, unit_price_cents=lot.unit_price_cents,
                                added_at=lot.added_at, window_end=lot.window_end, billed_cents=max(creditable, 0)))
    return lots


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
            decrease = prorata.plan_decrease(_plan_lots(subscription, period), current - new_quantity, now, start,
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


def check_cancellation_reason(category: str | None, reason: str | None) -> tuple[str, str]:
    if category not in {c.value for c in ReasonCategory}:
        raise ServiceError(_("Escolha o motivo do cancelamento."), field="category")
    reason = (reason or "").strip()
    if len(reason) < MIN_REASON_LENGTH:
        raise ServiceError(
            _("Explique o motivo com pelo menos %(n)d caracteres.", n=MIN_REASON_LENGTH), field="reason"
        )
    return category, reason


def _too_many(product: Product) -> str:
    return ngettext("O máximo para este produto é %(num)d licença.", "O máximo para este produto é %(num)d licenças.",
                    product.max_quantity)


def _too_few(product: Product) -> str:
    return ngettext("O mínimo para este produto é %(num)d licença.", "O mínimo para este produto é %(num)d licenças.",
                    product.min_quantity)


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
        raise ServiceError(_too_many(product),
                           field="quantity")
    if 0 < new_quantity < product.min_quantity:
        raise ServiceError(_too_few(product),
                           field="quantity")
    if new_quantity == subscription.quantity and subscription.renewal_quantity is None:
        raise ServiceError(_("Esta já é a quantidade atual."), field="quantity")
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
        category, reason = check_cancellation_reason(category, reason)
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


def _claim(quote: Quote, now: datetime) -> bool:
    """Mark the quote confirmed if it still is open; False when another request got there first.

    The conditional UPDATE is the idempotency guard: of two identical submissions only one matches.
    """
    result = db.session.execute(
        update(Quote).where(Quote.id == quote.id, Quote.status == QuoteStatus.OPEN)
        .values(status=QuoteStatus.CONFIRMED, confirmed_at=now)
        .execution_options(synchronize_session=False)
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
    confirmation = confirm_quote_in_transaction(organization, quote, actor)
    if confirmation.applied:
        queue_orders_and_notify(confirmation.orders, actor)
    db.session.commit()
    return confirmation.orders


@dataclass(frozen=True)
class Cancellation:
    """What only `portal.cancellations.service` passes, having checked who asks (roles, password): the record
    of a zero quote beyond what the quote itself holds (category and reason)."""

    requester_roles: str  # the requester's roles in the organization, e.g. "adm" or "master,cobranca"
    parent_id: int | None = None  # the rescission this is one item of
    at_term_end: bool = False  # a rescission item: every license to the term end, none now (see plan_change)


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
            orders, request = _apply_quantity_change(organization, quote, actor, now, cancellation)
        else:
            orders = _apply_checkout(organization, quote, actor, now)
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


# ---------------------------------------------------------------- applying a quantity change

def _ledger(subscription: Subscription, kind: ChangeKind, delta: int, *, effective_on: date, quote: Quote | None,
            actor: Actor, period: tuple[date, date] | None = None, charge: int = 0, credit: int = 0) -> QuantityChange:
    change = QuantityChange(
        subscription_id=subscription.id, organization_id=subscription.organization_id, kind=kind, delta=delta,
        quantity_after=subscription.quantity, effective_on=effective_on, charge_cents=charge, credit_cents=credit,
        period_start=period[0] if period else None, period_end=period[1] if period else None,
        quote_id=quote.id if quote else None, actor_id=actor.user_id, created_at=clock.now(),
    )
    db.session.add(change)
    db.session.flush()
    return change


def _new_lot(subscription: Subscription, change: QuantityChange, quantity: int, price_cents: int, billed: int,
             now: datetime) -> Lot:
    lot = Lot(subscription_id=subscription.id, change_id=change.id, quantity=quantity, unit_price_cents=price_cents,
              added_at=now, window_end=now + timedelta(hours=subscription.product.decrease_window_hours),
              billed_cents=billed)
    db.session.add(lot)
    return lot


def _new_order(subscription: Subscription, kind: OrderKind, quantity: int, quote: Quote | None, actor: Actor,
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


def _apply_quantity_change(organization: Organization, quote: Quote, actor: Actor, now: datetime,
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
    orders = []
    if plan.increase:
        subscription.quantity = plan.quantity_now
        change = _ledger(subscription, ChangeKind.INCREASE, plan.increase, effective_on=today, quote=quote,
                         actor=actor, period=plan.period, charge=plan.charge_cents)
        _new_lot(subscription, change, plan.increase, plan.unit_price.unit_price_cents, plan.charge_cents, now)
        record(AuditTag.QUANTITY_INCREASED, actor=actor, organization_id=organization.id,
               subject=f"subscription:{subscription.id}", before=before,
               after={"quantity": plan.quantity_now, "charge_cents": plan.charge_cents, "quote": quote.id})
    if plan.decrease is not None:
        removed_now = sum(line.quantity for line in plan.decrease.credit_lines)
        if removed_now:
            subscription.quantity = plan.quantity_now
            change = _ledger(subscription, ChangeKind.DECREASE, -removed_now, effective_on=today, quote=quote,
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
            _ledger(subscription, ChangeKind.SCHEDULED_DECREASE, -plan.decrease.scheduled_quantity,
                    effective_on=subscription.term_end, quote=quote, actor=actor)
            record(AuditTag.QUANTITY_DECREASE_SCHEDULED, actor=actor, organization_id=organization.id,
                   subject=f"subscription:{subscription.id}", before=before,
                   after={"renewal_quantity": plan.renewal_quantity, "on": subscription.term_end.isoformat(),
                          "quote": quote.id})
    subscription.renewal_quantity = plan.renewal_quantity
    if quote.new_quantity == 0 and plan.quantity_now == 0:
        subscription.status = SubscriptionStatus.CANCELLED
    subscription.version  # noqa: B018 - loaded; the flush bumps it (version_id_col) or fails if it moved
    db.session.flush()
    if plan.quantity_now != before["quantity"]:
        orders.append(_new_order(subscription, OrderKind.QUANTITY_CHANGE, plan.quantity_now, quote, actor, now))
    if plan.renewal_quantity != before["renewal_quantity"]:
        target = plan.renewal_quantity if plan.renewal_quantity is not None else plan.quantity_now
        orders.append(_new_order(subscription, OrderKind.RENEWAL_QUANTITY, target, quote, actor, now))
    request = None
    if quote.new_quantity == 0:
        request = _record_cancellation(organization, subscription, quote, plan, before, cancellation, actor, now)
    return orders, request


def _record_cancellation(organization: Organization, subscription: Subscription, quote: Quote, plan: ChangePlan,
                         before: dict[str, int | None], cancellation: Cancellation, actor: Actor,
                         now: datetime) -> CancellationRequest:
    """The CancellationRequest of a zero quote just applied: who, as what, from where, why, and what it did."""
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


# ---------------------------------------------------------------- cart and checkout

def cart_items(organization: Organization, user: User) -> list[CartItem]:
    return list(db.session.scalars(
        select(CartItem).where(CartItem.organization_id == organization.id, CartItem.user_id == user.id)
        .options(selectinload(CartItem.product).selectinload(Product.family),
                 selectinload(CartItem.product).selectinload(Product.prices))
        .order_by(CartItem.id)
    ))


def _sellable(product_id: Any) -> Product:
    product = db.session.get(Product, product_id) if isinstance(product_id, int) else None
    if product is None or not product.active or not product.family.active:
        raise NotFound(_("Produto não encontrado."))
    return product


def _check_purchase_quantity(product: Product, quantity: Any) -> int:
    if not isinstance(quantity, int) or isinstance(quantity, bool):
        raise ServiceError(_("Informe a quantidade em números inteiros."), field="quantity")
    if quantity < product.min_quantity:
        raise ServiceError(_too_few(product),
                           field="quantity")
    if quantity > product.max_quantity:
        raise ServiceError(_too_many(product),
                           field="quantity")
    return quantity


def set_cart_quantity(*, organization: Organization, user: User, product_id: Any, quantity: Any,
                      add: bool = False) -> CartItem | None:
    """Put `quantity` of a product in the cart (`add`: on top of what is there); 0 takes it out."""
    product = _sellable(product_id)
    item = db.session.scalar(select(CartItem).where(
        CartItem.organization_id == organization.id, CartItem.user_id == user.id, CartItem.product_id == product.id))
    if quantity == 0 and not add and not isinstance(quantity, bool):
        if item is not None:
            db.session.delete(item)
            db.session.commit()
        return None
    if not isinstance(quantity, int) or isinstance(quantity, bool):
        raise ServiceError(_("Informe a quantidade em números inteiros."), field="quantity")
    if add and quantity < 1:  # adding takes nothing out: removing is setting a lower quantity
        raise ServiceError(_too_few(product), field="quantity")
    total = quantity + (item.quantity if item is not None and add else 0)
    _check_purchase_quantity(product, total)
    current_price(product, clock.today())
    if item is None:
        item = CartItem(organization_id=organization.id, user_id=user.id, product_id=product.id, quantity=total,
                        added_at=clock.now())
        db.session.add(item)
    else:
        item.quantity = total
    db.session.commit()
    return item


def plan_checkout(organization: Organization, items: list[tuple[Product, int]], now: datetime) -> list[QuoteLine]:
    today = clock.to_business(now).date()
    lines = []
    for product, quantity in items:
        price = current_price(product, today)
        start, end = billing_period(product, organization, today, term_start=today)
        amount = prorata.prorated_amount(price.unit_price_cents, quantity, start, end, today)
        lines.append(QuoteLine("purchase", quantity, price.unit_price_cents, amount, start.isoformat(),
                               end.isoformat(), today.isoformat(), product_id=product.id, product_name=product.name))
    return lines


def quote_checkout(*, organization: Organization, user: User, actor: Actor) -> Quote:
    ensure_may_buy(organization, actor)
    items = cart_items(organization, user)
    if not items:
        raise ServiceError(_("Seu carrinho está vazio."))
    for item in items:
        _sellable(item.product_id)
        _check_purchase_quantity(item.product, item.quantity)
    now = clock.now()
    lines = plan_checkout(organization, [(item.product, item.quantity) for item in items], now)
    quote = Quote(
        token=secrets.token_hex(16), organization_id=organization.id, kind=QuoteKind.CHECKOUT, lines=[
            line.as_dict() for line in lines], charge_cents=sum(line.amount_cents for line in lines), credit_cents=0,
        recurring_cents=sum(line.quantity * line.unit_price_cents for line in lines), created_by_id=actor.user_id,
        created_at=now, expires_at=end_of_business_day(now),
    )
    db.session.add(quote)
    db.session.commit()
    return quote


def _term_end(product: Product, start: date) -> date:
    return periods.add_months(start, TERM_MONTHS[Term(product.term)])


def _apply_checkout(organization: Organization, quote: Quote, actor: Actor, now: datetime) -> list[Order]:
    products = [(_sellable(line["product_id"]), line["quantity"]) for line in quote.lines]
    lines = [line.as_dict() for line in plan_checkout(organization, products, now)]
    if lines != quote.lines:
        raise StaleQuote(_("Os preços mudaram desde este orçamento. Confira os valores atualizados."))
    today = clock.to_business(now).date()
    orders = []
    for (product, quantity), line in zip(products, quote.lines, strict=True):
        subscription = Subscription(
            organization_id=organization.id, product_id=product.id, quantity=quantity,
            status=SubscriptionStatus.PROVISIONING, term_start=today, term_end=_term_end(product, today),
            created_at=now,
        )
        db.session.add(subscription)
        db.session.flush()
        period = (date.fromisoformat(line["period_start"]), date.fromisoformat(line["period_end"]))
        change = _ledger(subscription, ChangeKind.INITIAL, quantity, effective_on=today, quote=quote, actor=actor,
                         period=period, charge=line["amount_cents"])
        _new_lot(subscription, change, quantity, line["unit_price_cents"], line["amount_cents"], now)
        record(AuditTag.SUBSCRIPTION_PURCHASED, actor=actor, organization_id=organization.id,
               subject=f"subscription:{subscription.id}",
               after={"product": product.sku, "quantity": quantity, "charge_cents": line["amount_cents"],
                      "quote": quote.id})
        orders.append(_new_order(subscription, OrderKind.PURCHASE, quantity, quote, actor, now))
    db.session.execute(
        CartItem.__table__.delete().where(CartItem.organization_id == organization.id,
                                          CartItem.user_id == quote.created_by_id,
                                          CartItem.product_id.in_([p.id for p, _q in products]))
    )
    return orders


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
    checked = [(_sellable(product.id), _check_purchase_quantity(product, quantity)) for product, quantity in items]
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


# An order not done: pending (waiting included), sent or failed (withdrawn ones are over).
UNFINISHED_ORDER_STATUSES = (OrderStatus.PENDING, OrderStatus.SENT, OrderStatus.FAILED)


def unfinished_orders(organization_id: int | None) -> list[Order]:
    """The organization's orders not done (UNFINISHED_ORDER_STATUSES), oldest first."""
    if organization_id is None:
        return []
    return list(db.session.scalars(
        select(Order).where(Order.organization_id == organization_id,
                            Order.status.in_(UNFINISHED_ORDER_STATUSES))
        .order_by(Order.id)))


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


# ---------------------------------------------------------------- renewals

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
    product = subscription.product
    old_quantity = subscription.quantity
    new_quantity = subscription.renewal_quantity if subscription.renewal_quantity is not None else old_quantity
    renewed_on = subscription.term_end
    refused_zero = new_quantity == 0 and not _end_on_record(subscription)
    if refused_zero:  # zero only as a cancellation request scheduled it; anything else renews as it was
        new_quantity = old_quantity
    subscription.term_start = renewed_on
    subscription.term_end = _term_end(product, renewed_on)
    subscription.renewal_quantity = None
    subscription.quantity = new_quantity
    if new_quantity == 0:
        subscription.status = SubscriptionStatus.CANCELLED
    change = _ledger(subscription, ChangeKind.RENEWAL, new_quantity - old_quantity, effective_on=renewed_on,
                     quote=None, actor=actor)
    for lot in subscription.lots:
        if lot.remaining > 0:  # the old lots end with the term; the renewed quantity is one new lot
            db.session.add(LotDraw(lot_id=lot.id, change_id=change.id, quantity=lot.remaining, credit_cents=0))
    if new_quantity:
        price = current_price(product, clock.to_business(now).date())
        _new_lot(subscription, change, new_quantity, price.unit_price_cents, price.unit_price_cents * new_quantity,
                 now)
    record(AuditTag.SUBSCRIPTION_RENEWED, actor=actor, organization_id=subscription.organization_id,
           subject=f"subscription:{subscription.id}",
           before={"quantity": old_quantity, "term_end": renewed_on.isoformat()},
           after={"quantity": new_quantity, "term_end": subscription.term_end.isoformat(),
                  **({"refused_zero_without_cancellation": True} if refused_zero else {})})


def _end_on_record(subscription: Subscription) -> bool:
    """True when an applied cancellation request scheduled this subscription to end at its current term end."""
    return db.session.scalar(
        select(func.count(CancellationRequest.id)).where(
            CancellationRequest.subscription_id == subscription.id,
            CancellationRequest.status == CancellationStatus.APPLIED,
            CancellationRequest.ends_on == subscription.term_end)
    ) > 0


def withdraw_scheduled_end(subscription: Subscription, *, renewal_quantity: int | None, orders: list[Order],
                            actor: Actor) -> QuantityChange:
    """Undo a rescission item that never reached the provider (the caller checked): its orders are withdrawn and
    the subscription renews as it would have before (`renewal_quantity`; None = with the licenses in use)."""
    now = clock.now()
    for order in orders:
        order.status = OrderStatus.WITHDRAWN
        order.next_attempt_at = None
        db.session.add(OrderEvent(order_id=order.id, created_at=now, status=OrderStatus.WITHDRAWN,
                                  message=f"withdrawn with the rescission by {actor.label}"[:1000]))
    renews_now = subscription.quantity if subscription.renewal_quantity is None else subscription.renewal_quantity
    renews_after = subscription.quantity if renewal_quantity is None else renewal_quantity
    subscription.renewal_quantity = renewal_quantity
    # + licenses that no longer leave at the term end (the opposite of the scheduled decrease it undoes)
    return _ledger(subscription, ChangeKind.SCHEDULE_WITHDRAWN, renews_after - renews_now,
                   effective_on=subscription.term_end, quote=None, actor=actor)
