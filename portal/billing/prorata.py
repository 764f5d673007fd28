"""Pró-rata arithmetic (specs/prorata.md): prorated lines and decreases by lot (periods: shared/periods.py). Pure."""

# Pure by rule 1: no Flask, no database, no clock. Callers pass the business date and instants in.
# Money is int centavos (rule 4); dates are business dates (America/Sao_Paulo); instants are aware.

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Context, localcontext
from fractions import Fraction

from portal.shared.arguments import require_date, require_int
from portal.shared.money import round_half_up
from portal.subscriptions import window

__all__ = [
    "DecreaseLine",
    "DecreasePlan",
    "Lot",
    "apply_credit",
    "plan_decrease",
    "prorated_amount",
]


# --- checks shared by every function -------------------------------------------------------------


def _require_aware(name: str, value: object) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value


def _check_period(period_start: date, period_end: date, effective_on: date) -> None:
    require_date("period_start", period_start)
    require_date("period_end", period_end)
    require_date("effective_on", effective_on)
    if period_end <= period_start:
        raise ValueError(f"empty period: {period_start} → {period_end}")
    if not period_start <= effective_on < period_end:
        raise ValueError(f"{effective_on} is outside the period [{period_start}, {period_end})")


def _round_once(value: Fraction) -> int:
    """ROUND_HALF_UP of an exact amount, exact for any size.

    money.round_half_up turns a Fraction into a Decimal by division in the ambient decimal context
    (28 digits by default), which would round twice for very large amounts or a narrowed context.
    Here the division gets enough digits: integer digits + denominator digits + 3 keeps the error
    below 1/(2·denominator), the smallest distance from a non-half fraction k/d to one half.
    """
    digits = len(str(abs(value.numerator) // value.denominator)) + len(str(value.denominator)) + 3
    with localcontext(Context(prec=digits, rounding=ROUND_HALF_EVEN)):
        return round_half_up(value)


# --- the formula ---------------------------------------------------------------------------------


def prorated_amount(
    unit_price_cents: int, quantity: int, period_start: date, period_end: date, effective_on: date
) -> int:
    """Signed centavos for `quantity` licenses at `unit_price_cents` from `effective_on` to `period_end`.

    `ROUND_HALF_UP(P × q × r / N)` with `N = (E − S).days`, `r = (E − D).days` (the day D itself is
    charged), computed exactly and rounded once, halves away from zero, so `f(−q) == −f(q)` and
    `|f(q)| ≤ P × |q|`. `unit_price_cents` is centavos per whole period, ≥ 0 (the sign lives in `quantity`).

    TypeError: a non-int price or quantity (bool included) or a non-date day. ValueError: a negative
    price, `period_end <= period_start`, or `effective_on` outside `[period_start, period_end)`.
    """
    require_int("unit_price_cents", unit_price_cents)
    require_int("quantity", quantity)
    if unit_price_cents < 0:
        raise ValueError("unit_price_cents must be ≥ 0; a removal is a negative quantity")
    _check_period(period_start, period_end, effective_on)
    days_in_period = (period_end - period_start).days
    days_charged = (period_end - effective_on).days
    return _round_once(Fraction(unit_price_cents * quantity * days_charged, days_in_period))




# --- decreases by lot (rules 1–4) ----------------------------------------------------------------


@dataclass(frozen=True)
class Lot:
    """Licenses added together (one increase, or one renewal), as they stand before a decrease.

    - `lot_id`: the lot's stable id (str or int); among lots added at the same instant the larger id
      counts as the more recent one.
    - `quantity`: licenses still in the lot now (≥ 0), i.e. added minus already removed.
    - `unit_price_cents`: the price the lot was billed at, centavos per whole billing period (≥ 0).
    - `added_at`: aware instant of the increase or renewal.
    - `window_end`: aware instant, `added_at + decrease_window_hours` (equal to `added_at` for a 0 h
      window); the lot can be decreased with credit while `at < window_end`.
    - `billed_cents`: what the lot has been charged in the current period net of credits already given
      on it (≥ 0); a decrease never credits more than this, so the lot's cumulative credit never
      exceeds what it was charged. After a plan, the caller's new lot has `quantity − line.quantity`
      and `billed_cents + line.amount_cents`.
    """

    lot_id: str | int
    quantity: int
    unit_price_cents: int
    added_at: datetime
    window_end: datetime
    billed_cents: int

    def __post_init__(self) -> None:
        if not isinstance(self.lot_id, str | int) or isinstance(self.lot_id, bool):
            raise TypeError(f"lot_id must be a str or an int, got {type(self.lot_id).__name__}")
        for name in ("quantity", "unit_price_cents", "billed_cents"):
            if require_int(name, getattr(self, name)) < 0:
                raise ValueError(f"{name} must be ≥ 0")
        _require_aware("added_at", self.added_at)
        _require_aware("window_end", self.window_end)
        if self.window_end < self.added_at:
            raise ValueError("window_end is before added_at")


@dataclass(frozen=True)
class DecreaseLine:
    """The immediate part of a decrease taken from one lot.

    `quantity`: licenses removed from the lot now (> 0). `amount_cents`: the credit, ≤ 0 centavos —
    the pró-rata of `−quantity` at the lot's price, capped at the lot's `billed_cents`.
    """

    lot_id: str | int
    quantity: int
    amount_cents: int


@dataclass(frozen=True)
class DecreasePlan:
    """How a decrease of `remove` licenses splits (rules 2–3).

    - `credit_lines`: immediate removals from lots inside their window, most recent lot first.
    - `scheduled_quantity`: licenses removed at the end of the term, with no credit.
    - `total_cents`: sum of the lines' `amount_cents` (≤ 0), derived, never passed in.

    Invariant: `sum(line.quantity) + scheduled_quantity == remove`.
    """

    credit_lines: tuple[DecreaseLine, ...]
    scheduled_quantity: int
    total_cents: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "total_cents", sum(line.amount_cents for line in self.credit_lines))


def _recency(lot: Lot) -> tuple[datetime, bool, str | int]:
    # The bool keeps int and str ids comparable (ints sort before strs) without comparing them.
    return lot.added_at, isinstance(lot.lot_id, str), lot.lot_id


def plan_decrease(
    lots: Sequence[Lot],
    remove: int,
    at: datetime,
    period_start: date,
    period_end: date,
    effective_on: date,
) -> DecreasePlan:
    """Split a decrease of `remove` licenses at instant `at` into credited lines and a scheduled rest.

    Licenses come from lots still inside their window (`window.is_open`), most recent first (by
    `added_at`, then `lot_id`, so the order of `lots` does not matter). Each such lot gives one line of
    `max(prorated_amount(lot price, −k, S, E, D), −lot.billed_cents)`: the same formula as the increase,
    so a lot added and removed on the same day nets exactly 0, and never more credit than the lot was
    charged. Whatever the windowed lots cannot cover is scheduled for the end of the term (no credit).

    `lots` are all the subscription's lots (their quantities add up to its current quantity);
    `effective_on` is the business date of `at`. `remove == 0` gives an empty plan.
    TypeError: non-int `remove`. ValueError: negative `remove`, `remove` above the lots' total, a
    naive `at`, a lot added after `at`, two lots with the same id, or a bad period (as prorated_amount).
    """
    require_int("remove", remove)
    _require_aware("at", at)
    _check_period(period_start, period_end, effective_on)
    if remove < 0:
        raise ValueError("remove is a count of licenses, ≥ 0")
    for lot in lots:
        if not isinstance(lot, Lot):
            raise TypeError(f"lots must be Lot, got {type(lot).__name__}")
        if lot.added_at > at:
            raise ValueError(f"lot {lot.lot_id!r} was added after the decrease")
    ids = [_recency(lot)[1:] for lot in lots]
    if len(set(ids)) != len(ids):
        raise ValueError("two lots share a lot_id")
    total = sum(lot.quantity for lot in lots)
    if remove > total:
        raise ValueError(f"cannot remove {remove} licenses from lots holding {total}")

    lines: list[DecreaseLine] = []
    left = remove
    for lot in sorted((lot for lot in lots if window.is_open(lot.window_end, at)), key=_recency, reverse=True):
        if left == 0:
            break
        taken = min(left, lot.quantity)
        if taken == 0:
            continue
        credit = prorated_amount(lot.unit_price_cents, -taken, period_start, period_end, effective_on)
        lines.append(DecreaseLine(lot.lot_id, taken, max(credit, -lot.billed_cents)))
        left -= taken
    return DecreasePlan(credit_lines=tuple(lines), scheduled_quantity=left)


# --- credits on invoices (rule 6) ----------------------------------------------------------------


def apply_credit(invoice_cents: int, credit_available_cents: int) -> tuple[int, int]:
    """Apply available credit to an invoice: `(amount still due, credit left)`, both ≥ 0 centavos.

    Both arguments are ≥ 0 (credit as a positive balance); the credit used is the smaller of the two,
    so an invoice never goes negative and `due + used == invoice_cents`.
    """
    require_int("invoice_cents", invoice_cents)
    require_int("credit_available_cents", credit_available_cents)
    if invoice_cents < 0 or credit_available_cents < 0:
        raise ValueError("invoice and credit are amounts ≥ 0 centavos")
    used = min(invoice_cents, credit_available_cents)
    return invoice_cents - used, credit_available_cents - used
