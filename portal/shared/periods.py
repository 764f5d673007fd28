"""Billing periods and calendar arithmetic: the one home of "which period is this day in" (PURE: no Flask,
no database). Business dates only — `date`, never `datetime`; see specs/prorata.md.

- `monthly_period(anchor_day, on)`: the monthly period `[S, E)` on the organization's billing day;
- `annual_period(term_start, on)`: the yearly term `[S, E)` containing `on`;
- `billing_period(...)`: whichever of the two a product's billing frequency uses;
- `add_months`, `add_years`: calendar arithmetic that clamps to the month's last day (31 → Feb 28/29);
- `is_billing_day(billing_day, on)`: day 31 is the last day of a shorter month.
"""

import calendar
from datetime import date

from portal.shared.arguments import require_date, require_int


def _month_after(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def _month_before(year: int, month: int) -> tuple[int, int]:
    return (year - 1, 12) if month == 1 else (year, month - 1)


def _clamped(year: int, month: int, day: int) -> date:
    """`day` of that month, or its last day when the month is shorter (31 → Feb 28/29, Apr 30)."""
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


def monthly_period(anchor_day: int, on: date) -> tuple[date, date]:
    """The monthly billing period `[S, E)` containing `on`, anchored on day `anchor_day` (1–31).

    Each month's anchor is clamped to that month's length, independently of the previous month:
    anchor 31 gives Jan 31, Feb 28 (29 in a leap year), Mar 31. `E` is the next month's anchor, so
    `N = (E − S).days` is 28–31 and `S <= on < E`.
    """
    require_int("anchor_day", anchor_day)
    require_date("on", on)
    if not 1 <= anchor_day <= 31:
        raise ValueError(f"anchor_day must be 1–31, got {anchor_day}")
    this_anchor = _clamped(on.year, on.month, anchor_day)
    if on >= this_anchor:
        return this_anchor, _clamped(*_month_after(on.year, on.month), anchor_day)
    return _clamped(*_month_before(on.year, on.month), anchor_day), this_anchor


def annual_period(term_start: date, on: date) -> tuple[date, date]:
    """The yearly term `[S, E)` containing `on`, for a contract whose first term began on `term_start`.

    Anniversaries keep `term_start`'s month and day, clamped per year: a Feb 29 start renews on Feb 28
    in non-leap years and on Feb 29 again in leap years. `N = (E − S).days` is 365 or 366.
    ValueError if `on` is before `term_start` (there is no term yet).
    """
    require_date("term_start", term_start)
    require_date("on", on)
    if on < term_start:
        raise ValueError(f"{on} is before the first term, which starts on {term_start}")
    year = on.year
    if _clamped(year, term_start.month, term_start.day) > on:
        year -= 1
    return (
        _clamped(year, term_start.month, term_start.day),
        _clamped(year + 1, term_start.month, term_start.day),
    )


def billing_period(annual: bool, billing_day: int, term_start: date, on: date) -> tuple[date, date]:
    """The billing period `[S, E)` containing `on`: the yearly term begun on `term_start` for annual billing,
    else the monthly period on `billing_day`."""
    return annual_period(term_start, on) if annual else monthly_period(billing_day, on)


def add_months(day: date, months: int, anchor: int | None = None) -> date:
    """`day` plus `months` calendar months, on day `anchor` (default: `day`'s) clamped to the month's end."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return _clamped(year, month, anchor or day.day)


def add_years(day: date, years: int = 1) -> date:
    """The same month and day `years` later (Feb 29 → Feb 28 in a common year)."""
    return _clamped(day.year + years, day.month, day.day)


def is_billing_day(billing_day: int, on: date) -> bool:
    """True when `on` is the organization's billing day (day 31 is the month's last day in short months)."""
    return on.day == min(billing_day, calendar.monthrange(on.year, on.month)[1])
