"""Subscriptions: what views and other rooms ask of this room. The licenses as their pages read them ("Licenças", a
license's history and orders, an order) are here; the verbs live by job and are named here too, so a caller has one
address:

- `prices.py`: billing periods, prices in force, the monthly equivalent, a product's quantity limits;
- `window.py`: the decrease window (its length, when it starts, what it allows, its words), pure;
- `lots.py`: lots and their draws, the ledger row;
- `quotes.py`: quantity changes, planned, quoted and applied;
- `checkout.py`: the cart's checkout quoted and applied (the cart itself is `catalog/cart.py`);
- `confirmation.py`: confirming a quote of either kind, queueing its orders, the onboarding's purchase;
- `renewals.py`: terms that end renew, and a rescission's scheduled end undone;
- `next_term.py` ("decidir até", what a renewal may become), `next_term_changes.py` (scheduling it),
  `renewal_calendar.py` ("Renovações", `upcoming_renewals`), `reminders.py` (30 and 7 days before);
- `orders.py`: orders at the provider; `eligibility.py`: may this organization buy?
"""

from datetime import date
from itertools import groupby
from operator import itemgetter
from typing import NamedTuple

from flask_babel import gettext as _
from sqlalchemy import Integer, bindparam, func, select
from sqlalchemy.orm import joinedload, selectinload

from portal.accounts.models import Organization, User
from portal.catalog.models import BillingFrequency, Product, ProductFamily
from portal.extensions import db
from portal.shared.errors import NotFound
from portal.subscriptions import lots
from portal.subscriptions.checkout import plan_checkout as plan_checkout
from portal.subscriptions.checkout import quote_checkout as quote_checkout
from portal.subscriptions.confirmation import confirm_quote as confirm_quote
from portal.subscriptions.confirmation import confirm_quote_in_transaction as confirm_quote_in_transaction
from portal.subscriptions.confirmation import purchase_for_new_customer as purchase_for_new_customer
from portal.subscriptions.confirmation import queue_order as queue_order
from portal.subscriptions.confirmation import queue_orders_and_notify as queue_orders_and_notify
from portal.subscriptions.lots import LotStock as LotStock
from portal.subscriptions.lots import lot_stock as lot_stock
from portal.subscriptions.lots import recurring_cents as recurring_cents
from portal.subscriptions.lots import stock_cents as stock_cents
from portal.subscriptions.models import (
    Lot,
    NextTermChange,
    NextTermStatus,
    Order,
    OrderStatus,
    QuantityChange,
    Subscription,
    SubscriptionStatus,
)
from portal.subscriptions.prices import billing_period as billing_period
from portal.subscriptions.prices import current_price as current_price
from portal.subscriptions.prices import monthly_equivalent as monthly_equivalent
from portal.subscriptions.prices import monthly_equivalent_of
from portal.subscriptions.quotes import StaleQuote as StaleQuote
from portal.subscriptions.quotes import end_of_business_day as end_of_business_day
from portal.subscriptions.quotes import get_quote as get_quote
from portal.subscriptions.quotes import is_cancellation as is_cancellation
from portal.subscriptions.quotes import quote_orders as quote_orders
from portal.subscriptions.quotes import quote_quantity_change as quote_quantity_change
from portal.subscriptions.renewal_calendar import RenewalRow as RenewalRow
from portal.subscriptions.renewal_calendar import upcoming_renewals as upcoming_renewals
from portal.subscriptions.renewals import renew_due as renew_due

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
    drawn, remaining = lots.remaining_in_sql(organization_id)
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


# The license page's history and orders: built once, only their parameters change (a statement built per
# request costs as much again as running it).
_HISTORY = (
    select(QuantityChange, User.name, User.is_staff)
    .outerjoin(User, User.id == QuantityChange.actor_id)
    .where(QuantityChange.subscription_id == bindparam("subscription_id", type_=Integer),
           QuantityChange.organization_id == bindparam("organization_id", type_=Integer))
    .order_by(QuantityChange.id.desc()).limit(bindparam("limit", type_=Integer))
)
_ORDERS = (
    select(Order).where(Order.subscription_id == bindparam("subscription_id", type_=Integer),
                        Order.organization_id == bindparam("organization_id", type_=Integer))
    .order_by(Order.id.desc()).limit(bindparam("limit", type_=Integer))
)


def subscription_history(organization: Organization, subscription: Subscription,
                         limit: int) -> list[tuple[QuantityChange, str | None, bool | None]]:
    """The newest `limit` ledger rows of a subscription, each with who made it (name, is staff)."""
    parameters = {"subscription_id": subscription.id, "organization_id": organization.id, "limit": limit}
    return [tuple(row) for row in db.session.execute(_HISTORY, parameters)]


def subscription_orders(organization: Organization, subscription: Subscription, limit: int) -> list[Order]:
    parameters = {"subscription_id": subscription.id, "organization_id": organization.id, "limit": limit}
    return list(db.session.execute(_ORDERS, parameters).scalars())


_SUBSCRIPTION_PAGE = (
    select(Subscription)
    .where(Subscription.id == bindparam("subscription_id", type_=Integer),
           Subscription.organization_id == bindparam("organization_id", type_=Integer))
    .options(joinedload(Subscription.product).joinedload(Product.family),
             joinedload(Subscription.lots).joinedload(Lot.draws))
)


# A license's page: the subscription as above, and the change scheduled for its next term (at most one: a partial
# unique index) with its product, in the same statement.
_SUBSCRIPTION_AND_NEXT_TERM = (
    _SUBSCRIPTION_PAGE.add_columns(NextTermChange)
    .outerjoin(NextTermChange, (NextTermChange.subscription_id == Subscription.id)
               & (NextTermChange.status == NextTermStatus.SCHEDULED))
    .options(joinedload(NextTermChange.product))
)


def get_subscription_and_next_term(organization: Organization,
                                   subscription_id: int) -> tuple[Subscription, NextTermChange | None]:
    """`get_subscription`, and the change scheduled for its next term (`next_term.current_change`), in one
    statement."""
    row = db.session.execute(
        _SUBSCRIPTION_AND_NEXT_TERM, {"subscription_id": subscription_id, "organization_id": organization.id},
    ).unique().one_or_none()
    if row is None:
        raise NotFound(_("Licença não encontrada."))
    return row[0], row[1]


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
