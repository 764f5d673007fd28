"""The renewals calendar ("Renovações"): each active subscription's next renewal with its date, the licenses and
value that renew, "decidir até" and the change scheduled, plus the lots still inside their decrease window (until
when they can be reduced with a credit). Terms of a year or more by default; monthly rollovers on request.
`upcoming_renewals` is also what the home lists."""

import functools
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from itertools import groupby
from operator import itemgetter

from sqlalchemy import Date, Integer, bindparam, func, select
from sqlalchemy.orm import aliased

from portal.accounts.models import Organization
from portal.catalog.models import TERM_MONTHS, Product, ProductFamily, ProductPrice, Term
from portal.extensions import db
from portal.shared import clock
from portal.subscriptions import lots, next_term, window
from portal.subscriptions.models import (
    Lot,
    NextTermChange,
    NextTermStatus,
    Subscription,
    SubscriptionStatus,
)
from portal.subscriptions.prices import monthly_equivalent_of


@dataclass(frozen=True, slots=True)
class RenewalRow:
    subscription_id: int
    product_name: str  # the product now
    family_name: str
    term: str  # catalog Term value of the product now
    renews_on: date  # the first day of the next term (Subscription.term_end)
    decide_by: datetime  # next_term.decide_by: the last moment to schedule, edit or withdraw a change
    decision_open: bool  # now ≤ decide_by
    quantity: int  # licenses in use now
    renewal_quantity: int  # licenses from the renewal on (0: it ends with its term)
    next_product_name: str | None  # the next term's product when a change names another one
    next_billing_frequency: str  # BillingFrequency value of the product the next term is billed as
    value_cents: int | None  # per billing period of the next term (renewal quantity × its price); None: no price
    monthly_cents: int | None  # the same as twelfths for annual billing (display only)
    scheduled: bool  # a change scheduled in "Renovações" is in force
    windows: tuple[tuple[int, datetime], ...]  # (licenses, window end) of lots still reducible with a credit
    long_term: bool  # a year or more

    @property
    def ends(self) -> bool:
        return self.renewal_quantity == 0

    def at(self, now: datetime) -> "RenewalRow":
        """The row as it reads at `now` (later than when it was built): the decision closes at decide_by, and each
        lot's window at its end."""
        return replace(self, decision_open=now <= self.decide_by,
                       windows=tuple(item for item in self.windows if window.is_open(item[1], now)))


@functools.cache
def _renewals_statement(by_days: bool, include_monthly: bool):
    """"Renovações" in one statement for one shape of filters, built once (bound parameters `organization_id`,
    `last_day`): each active subscription with its product, family, the change scheduled for its next term, the
    product it renews as and that product's price on the renewal day (in SQL), once per lot still holding
    licenses (the licenses left in each lot summed in SQL, draws subtracted)."""
    organization_id = bindparam("organization_id", type_=Integer)
    drawn, remaining = lots.remaining_in_sql(organization_id)
    stock = (
        select(Lot.subscription_id, Lot.id.label("lot_id"), Lot.window_end, remaining.label("remaining"))
        .join(Subscription, Subscription.id == Lot.subscription_id)
        .outerjoin(drawn, drawn.c.lot_id == Lot.id)
        .where(Subscription.organization_id == organization_id, remaining > 0)
        .subquery()
    )
    next_product = aliased(Product)
    price = (select(ProductPrice.unit_price_cents)
             .where(ProductPrice.product_id == next_product.id, ProductPrice.effective_from <= Subscription.term_end)
             .order_by(ProductPrice.effective_from.desc()).limit(1)
             .correlate(next_product, Subscription).scalar_subquery())
    statement = (
        select(Subscription.id, Product.id, Product.name, ProductFamily.name, Product.term, Subscription.term_end,
               Subscription.quantity, Subscription.renewal_quantity, NextTermChange.id, NextTermChange.quantity,
               next_product.id, next_product.name, next_product.billing_frequency, price,
               stock.c.remaining, stock.c.window_end)
        .join(Product, Product.id == Subscription.product_id)
        .join(ProductFamily, ProductFamily.id == Product.family_id)
        .outerjoin(NextTermChange, (NextTermChange.subscription_id == Subscription.id)
                   & (NextTermChange.status == NextTermStatus.SCHEDULED))
        .join(next_product, next_product.id == func.coalesce(NextTermChange.product_id, Subscription.product_id))
        .outerjoin(stock, stock.c.subscription_id == Subscription.id)
        .where(Subscription.organization_id == organization_id, Subscription.status == SubscriptionStatus.ACTIVE)
        .order_by(Subscription.term_end, Product.name, Subscription.id, stock.c.window_end, stock.c.lot_id)
    )
    if by_days:
        statement = statement.where(Subscription.term_end <= bindparam("last_day", type_=Date))
    if not include_monthly:
        statement = statement.where(Product.term.in_(next_term.long_term_values()))
    return statement


def upcoming_renewals(organization: Organization, today: date, *, include_monthly: bool = False,
                      days: int | None = None) -> list[RenewalRow]:
    """The organization's active subscriptions by renewal date (soonest first), within `days` of `today` if given;
    terms of a year or more unless `include_monthly`. One query whatever the number of subscriptions and lots, no
    ORM objects; what each row derives from its term (the deadline, a year or more) is computed once per value."""
    found = db.session.connection().execute(
        _renewals_statement(days is not None, include_monthly),
        {"organization_id": organization.id, "last_day": None if days is None else today + timedelta(days=days)})
    now = clock.now()
    deadlines: dict[date, datetime] = {}
    rows = []
    for _subscription_id, group in groupby(found, key=itemgetter(0)):  # one line per lot with licenses left
        lines = list(group)
        (subscription_id, product_id, product_name, family_name, term, term_end, quantity, renewal_quantity,
         change_id, change_quantity, next_id, next_name, next_frequency, price) = lines[0][:14]
        if change_id is not None:
            renewal_quantity = change_quantity
        elif renewal_quantity is None:
            renewal_quantity = quantity
        value = None if price is None else price * renewal_quantity
        decide_by = deadlines.get(term_end)
        if decide_by is None:
            decide_by = deadlines[term_end] = next_term.decide_by(term_end)
        rows.append(RenewalRow(
            subscription_id=subscription_id, product_name=product_name, family_name=family_name, term=term,
            renews_on=term_end, decide_by=decide_by, decision_open=now <= decide_by, quantity=quantity,
            renewal_quantity=renewal_quantity, next_product_name=next_name if next_id != product_id else None,
            next_billing_frequency=next_frequency, value_cents=value,
            monthly_cents=None if value is None else monthly_equivalent_of(value, next_frequency),
            scheduled=change_id is not None,
            windows=tuple((int(left), until) for *_, left, until in lines
                          if left is not None and window.is_open(until, now)),
            long_term=_long_term(term),
        ))
    return rows


@functools.cache
def _long_term(term: str) -> bool:
    """`next_term.is_long_term` of a product's term value."""
    return TERM_MONTHS[Term(term)] >= next_term.LONG_TERM_MONTHS
