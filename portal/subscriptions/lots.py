"""Lots and their draws: licenses added together (a purchase, an increase, a renewal) each keep their price and
their own decrease window (`window.py`); a decrease draws licenses from lots. Also the ledger row every change
writes (`QuantityChange`, append-only)."""

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, Subquery, func, select

from portal.billing import prorata
from portal.extensions import db
from portal.shared import clock
from portal.shared.audit import Actor
from portal.subscriptions import window
from portal.subscriptions.models import ChangeKind, Lot, LotDraw, QuantityChange, Quote, Subscription


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


def remaining_in_sql(organization_id) -> tuple[Subquery, ColumnElement[int]]:
    """`Lot.remaining` in SQL for one organization's lots: the draws summed per lot (a subquery to outer-join on
    `Lot.id`) and the expression of the licenses left (the lot's quantity minus its draws). What the pages that read
    every lot at once (Licenças, Renovações) select instead of loading each lot with its draws."""
    drawn = (select(LotDraw.lot_id, func.sum(LotDraw.quantity).label("quantity"))
             .join(Lot, Lot.id == LotDraw.lot_id).join(Subscription, Subscription.id == Lot.subscription_id)
             .where(Subscription.organization_id == organization_id)
             .group_by(LotDraw.lot_id).subquery())
    return drawn, Lot.quantity - func.coalesce(drawn.c.quantity, 0)


def open_windows(stock: list[LotStock], now: datetime) -> list[tuple[int, datetime]]:
    """(licenses, window end) of the lots whose licenses may still leave now with credit, soonest first."""
    return sorted(((lot.remaining, lot.window_end) for lot in stock if window.is_open(lot.window_end, now)),
                  key=lambda item: item[1])


def recurring_cents(subscription: Subscription) -> int:
    """What the licenses in use cost per billing period: each lot at the price it was billed at."""
    return stock_cents(lot_stock(subscription))


def stock_cents(stock: list[LotStock]) -> int:
    """`recurring_cents` of lots already summarised (`lot_stock`)."""
    return sum(lot.remaining * lot.unit_price_cents for lot in stock)


def plan_lots(subscription: Subscription, period: tuple[date, date]) -> list[prorata.Lot]:
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


def ledger(subscription: Subscription, kind: ChangeKind, delta: int, *, effective_on: date, quote: Quote | None,
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


def new_lot(subscription: Subscription, change: QuantityChange, quantity: int, price_cents: int, billed: int,
            now: datetime) -> Lot:
    """A lot of `quantity` licenses added now: its decrease window opens now (`window.window_end`)."""
    lot = Lot(subscription_id=subscription.id, change_id=change.id, quantity=quantity, unit_price_cents=price_cents,
              added_at=now, window_end=window.window_end(now, subscription.product.decrease_window_hours),
              billed_cents=billed)
    db.session.add(lot)
    return lot
