"""Pró-rata: the spec's vectors E1–E12 to the centavo, billing periods, decreases by lot, bad input."""

from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import pytest

from portal.billing.prorata import (
    DecreaseLine,
    DecreasePlan,
    Lot,
    apply_credit,
    plan_decrease,
    prorated_amount,
)
from portal.shared.periods import annual_period, monthly_period

P = 7890  # R$ 78,90 per month
ANNUAL = 94680  # R$ 946,80 per year
MARCH = (date(2026, 3, 1), date(2026, 4, 1))  # N = 31
NCE_WINDOW = timedelta(hours=168)


def at(day: date, hour: int = 12) -> datetime:
    """An aware instant on `day` (12:00 UTC is 09:00 in São Paulo, the same business date)."""
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def lot(lot_id, quantity, added: datetime, *, price=P, billed, window=NCE_WINDOW) -> Lot:
    return Lot(lot_id, quantity, price, added, added + window, billed)


def half_up(value: Fraction) -> int:
    """An independent ROUND_HALF_UP for the naive methods below (not the code under test)."""
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


# --- E1–E12 --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("price", "quantity", "period", "day", "cents"),
    [
        pytest.param(P, 3, MARCH, date(2026, 3, 11), 16035, id="E1"),
        pytest.param(5000, 1, MARCH, date(2026, 3, 17), 2419, id="E5"),
        pytest.param(P, 7, MARCH, date(2026, 3, 11), 37414, id="E6"),
        pytest.param(1233, 1, (date(2026, 4, 1), date(2026, 5, 1)), date(2026, 4, 16), 617, id="E7"),
        pytest.param(ANNUAL, 2, (date(2025, 7, 1), date(2026, 7, 1)), date(2026, 1, 15), 86639, id="E8"),
        pytest.param(ANNUAL, 1, (date(2027, 3, 1), date(2028, 3, 1)), date(2028, 2, 1), 7502, id="E9"),
        pytest.param(P, 1, (date(2027, 1, 31), date(2027, 2, 28)), date(2027, 2, 14), 3945, id="E10"),
    ],
)
def test_increase_vectors(price, quantity, period, day, cents):
    assert prorated_amount(price, quantity, *period, day) == cents


def test_e2_add_and_remove_same_day_same_lot_nets_zero():
    day = date(2026, 3, 11)
    added = prorated_amount(P, 3, *MARCH, day)
    assert prorated_amount(P, -3, *MARCH, day) == -added
    plan = plan_decrease([lot(1, 3, at(day, 12), billed=added)], 3, at(day, 15), *MARCH, day)
    assert plan.credit_lines == (DecreaseLine(1, 3, -16035),)
    assert added + plan.total_cents == 0


def test_e3_decrease_inside_the_window_credits_the_lot():
    e1 = lot("e1", 3, at(date(2026, 3, 11)), billed=16035)
    plan = plan_decrease([e1], 2, at(date(2026, 3, 15)), *MARCH, date(2026, 3, 15))  # 96 h < 168 h
    assert plan == DecreasePlan(credit_lines=(DecreaseLine("e1", 2, -8654),), scheduled_quantity=0)
    assert plan.total_cents == -8654


def test_e4_decrease_outside_the_window_is_scheduled_without_credit():
    e1 = lot("e1", 3, at(date(2026, 3, 11)), billed=16035)
    plan = plan_decrease([e1], 2, at(date(2026, 3, 25)), *MARCH, date(2026, 3, 25))  # 14 days later
    assert plan.credit_lines == ()
    assert plan.scheduled_quantity == 2
    assert plan.total_cents == 0


def test_e5_rounding_the_daily_rate_first_would_be_wrong():
    naive = half_up(Fraction(5000, 31)) * 15  # R$ 1,61 a day × 15
    assert naive == 2415
    assert prorated_amount(5000, 1, *MARCH, date(2026, 3, 17)) == 2419 != naive


def test_e6_rounding_per_unit_would_be_wrong():
    naive = half_up(Fraction(P * 21, 31)) * 7
    assert naive == 37415
    assert prorated_amount(P, 7, *MARCH, date(2026, 3, 11)) == 37414 != naive


def test_e7_exact_half_rounds_up_and_negative_half_rounds_away_from_zero():
    april = (date(2026, 4, 1), date(2026, 5, 1))
    assert prorated_amount(1233, 1, *april, date(2026, 4, 16)) == 617  # 616,5
    assert prorated_amount(1233, -1, *april, date(2026, 4, 16)) == -617


def test_e9_the_term_has_366_days():
    term = annual_period(date(2027, 3, 1), date(2028, 2, 1))
    assert term == (date(2027, 3, 1), date(2028, 3, 1))
    assert (term[1] - term[0]).days == 366
    assert prorated_amount(ANNUAL, 1, *term, date(2028, 2, 1)) == 7502


def test_e10_anchor_31_february():
    period = monthly_period(31, date(2027, 2, 14))
    assert period == (date(2027, 1, 31), date(2027, 2, 28))
    assert prorated_amount(P, 1, *period, date(2027, 2, 14)) == 3945


def test_e11_decrease_after_renewal_credits_and_pays_the_next_invoice():
    term = annual_period(date(2025, 7, 1), date(2026, 7, 4))
    assert term == (date(2026, 7, 1), date(2027, 7, 1))
    renewal = lot("renewal", 10, at(date(2026, 7, 1), 3), price=ANNUAL, billed=10 * ANNUAL)
    plan = plan_decrease([renewal], 5, at(date(2026, 7, 4)), *term, date(2026, 7, 4))
    assert plan.credit_lines == (DecreaseLine("renewal", 5, -469509),)
    assert plan.scheduled_quantity == 0
    assert apply_credit(150000, -plan.total_cents) == (0, 319509)


def test_e12_april_invoice_after_e1_and_e3():
    april = prorated_amount(P, 11, date(2026, 4, 1), date(2026, 5, 1), date(2026, 4, 1))
    e1 = prorated_amount(P, 3, *MARCH, date(2026, 3, 11))
    e3 = plan_decrease(
        [lot("e1", 3, at(date(2026, 3, 11)), billed=e1)], 2, at(date(2026, 3, 15)), *MARCH, date(2026, 3, 15)
    ).total_cents
    assert (april, e1, e3) == (86790, 16035, -8654)
    assert april + e1 + e3 == 94171


# --- the formula's edges -------------------------------------------------------------------------


def test_first_day_charges_the_whole_period_and_last_day_one_day():
    assert prorated_amount(P, 3, *MARCH, date(2026, 3, 1)) == 3 * P
    assert prorated_amount(3100, 1, *MARCH, date(2026, 3, 31)) == 100
    assert prorated_amount(P, 0, *MARCH, date(2026, 3, 11)) == 0
    assert prorated_amount(0, 5, *MARCH, date(2026, 3, 11)) == 0


def test_amounts_far_beyond_28_digits_stay_exact():
    # P / 2 with P = 10**40 + 1 ends in ,5: a 28-digit Decimal division would lose the half.
    two_days = (date(2026, 3, 1), date(2026, 3, 3))
    assert prorated_amount(10**40 + 1, 1, *two_days, date(2026, 3, 2)) == 5 * 10**39 + 1
    assert prorated_amount(10**40 + 1, -1, *two_days, date(2026, 3, 2)) == -(5 * 10**39 + 1)
    assert prorated_amount(10**40, 1, *MARCH, date(2026, 3, 11)) == (10**40 * 21 * 2 + 31) // 62


@pytest.mark.parametrize(
    "day",
    [date(2026, 2, 28), date(2026, 4, 1), date(2026, 4, 2)],
    ids=["before-S", "equal-E", "after-E"],
)
def test_day_outside_the_period_is_an_error(day):
    with pytest.raises(ValueError, match="outside the period"):
        prorated_amount(P, 1, *MARCH, day)


@pytest.mark.parametrize("end", [date(2026, 3, 1), date(2026, 2, 1)], ids=["empty", "reversed"])
def test_empty_or_reversed_period_is_an_error(end):
    with pytest.raises(ValueError, match="empty period"):
        prorated_amount(P, 1, date(2026, 3, 1), end, date(2026, 3, 1))


@pytest.mark.parametrize(
    ("price", "quantity"),
    [(78.9, 1), (P, 1.0), (Decimal("7890"), 1), (Fraction(7890), 1), (True, 1), (P, True), ("7890", 1)],
    ids=["float-price", "float-quantity", "decimal", "fraction", "bool-price", "bool-quantity", "str"],
)
def test_only_int_centavos_and_licenses(price, quantity):
    with pytest.raises(TypeError):
        prorated_amount(price, quantity, *MARCH, date(2026, 3, 11))


def test_dates_must_be_dates_not_datetimes():
    with pytest.raises(TypeError):
        prorated_amount(P, 1, *MARCH, at(date(2026, 3, 11)))
    with pytest.raises(TypeError):
        prorated_amount(P, 1, "2026-03-01", date(2026, 4, 1), date(2026, 3, 11))


def test_negative_price_is_refused():
    with pytest.raises(ValueError):
        prorated_amount(-P, 1, *MARCH, date(2026, 3, 11))


# --- monthly periods -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("anchor", "on", "period"),
    [
        pytest.param(31, date(2027, 2, 14), (date(2027, 1, 31), date(2027, 2, 28)), id="31-feb-before-anchor"),
        pytest.param(31, date(2027, 2, 28), (date(2027, 2, 28), date(2027, 3, 31)), id="31-feb-on-anchor"),
        pytest.param(31, date(2027, 3, 30), (date(2027, 2, 28), date(2027, 3, 31)), id="31-back-to-31"),
        pytest.param(31, date(2028, 2, 28), (date(2028, 1, 31), date(2028, 2, 29)), id="31-leap-feb-28"),
        pytest.param(31, date(2028, 2, 29), (date(2028, 2, 29), date(2028, 3, 31)), id="31-leap-feb-29"),
        pytest.param(31, date(2026, 4, 30), (date(2026, 4, 30), date(2026, 5, 31)), id="31-april"),
        pytest.param(30, date(2027, 2, 27), (date(2027, 1, 30), date(2027, 2, 28)), id="30-feb"),
        pytest.param(30, date(2027, 3, 1), (date(2027, 2, 28), date(2027, 3, 30)), id="30-after-feb"),
        pytest.param(30, date(2028, 2, 29), (date(2028, 2, 29), date(2028, 3, 30)), id="30-leap-feb"),
        pytest.param(1, date(2026, 3, 1), (date(2026, 3, 1), date(2026, 4, 1)), id="1-on-anchor"),
        pytest.param(1, date(2026, 3, 31), (date(2026, 3, 1), date(2026, 4, 1)), id="1-last-day"),
        pytest.param(15, date(2026, 3, 15), (date(2026, 3, 15), date(2026, 4, 15)), id="on-anchor-day"),
        pytest.param(15, date(2026, 3, 14), (date(2026, 2, 15), date(2026, 3, 15)), id="day-before-anchor"),
        pytest.param(10, date(2026, 12, 20), (date(2026, 12, 10), date(2027, 1, 10)), id="dec-to-jan"),
        pytest.param(10, date(2027, 1, 5), (date(2026, 12, 10), date(2027, 1, 10)), id="jan-back-to-dec"),
        pytest.param(1, date(2026, 12, 31), (date(2026, 12, 1), date(2027, 1, 1)), id="1-december"),
    ],
)
def test_monthly_period(anchor, on, period):
    assert monthly_period(anchor, on) == period


@pytest.mark.parametrize("anchor", [0, 32, -1])
def test_monthly_anchor_out_of_range(anchor):
    with pytest.raises(ValueError):
        monthly_period(anchor, date(2026, 3, 11))


@pytest.mark.parametrize("anchor", [1.0, True, "1"])
def test_monthly_anchor_must_be_int(anchor):
    with pytest.raises(TypeError):
        monthly_period(anchor, date(2026, 3, 11))


# --- annual terms --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("term_start", "on", "period", "days"),
    [
        pytest.param(date(2025, 7, 1), date(2026, 1, 15), (date(2025, 7, 1), date(2026, 7, 1)), 365, id="E8-term"),
        pytest.param(date(2025, 7, 1), date(2026, 7, 1), (date(2026, 7, 1), date(2027, 7, 1)), 365, id="renewal"),
        pytest.param(date(2025, 7, 1), date(2025, 7, 1), (date(2025, 7, 1), date(2026, 7, 1)), 365, id="first"),
        pytest.param(date(2027, 3, 1), date(2028, 2, 29), (date(2027, 3, 1), date(2028, 3, 1)), 366, id="over-feb29"),
        pytest.param(date(2024, 2, 29), date(2025, 2, 27), (date(2024, 2, 29), date(2025, 2, 28)), 365, id="29-to-28"),
        pytest.param(date(2024, 2, 29), date(2025, 2, 28), (date(2025, 2, 28), date(2026, 2, 28)), 365, id="on-28"),
        pytest.param(date(2024, 2, 29), date(2027, 6, 1), (date(2027, 2, 28), date(2028, 2, 29)), 366, id="back-29"),
        pytest.param(date(2024, 2, 29), date(2028, 2, 29), (date(2028, 2, 29), date(2029, 2, 28)), 365, id="leap-29"),
        pytest.param(date(2023, 1, 1), date(2024, 12, 31), (date(2024, 1, 1), date(2025, 1, 1)), 366, id="leap-year"),
    ],
)
def test_annual_period(term_start, on, period, days):
    assert annual_period(term_start, on) == period
    assert (period[1] - period[0]).days == days


def test_annual_period_before_the_first_term_is_an_error():
    with pytest.raises(ValueError):
        annual_period(date(2025, 7, 1), date(2025, 6, 30))


# --- decreases by lot ----------------------------------------------------------------------------


def test_decrease_takes_the_most_recent_windowed_lots_first_then_schedules_the_rest():
    day = date(2026, 3, 20)
    old = lot("old", 10, at(date(2026, 3, 1), 3), billed=10 * P)  # window closed on 03-08
    mid = lot("mid", 2, at(date(2026, 3, 16)), billed=prorated_amount(P, 2, *MARCH, date(2026, 3, 16)))
    new = lot("new", 1, at(date(2026, 3, 18)), billed=prorated_amount(P, 1, *MARCH, date(2026, 3, 18)))
    plan = plan_decrease([mid, old, new], 5, at(day), *MARCH, day)
    credit = prorated_amount(P, -1, *MARCH, day)
    assert plan.credit_lines == (DecreaseLine("new", 1, credit), DecreaseLine("mid", 2, 2 * credit))
    assert plan.scheduled_quantity == 2
    assert plan.total_cents == 3 * credit


def test_same_instant_ties_are_broken_by_lot_id_whatever_the_input_order():
    day = date(2026, 3, 11)
    same = at(day)
    a = lot(1, 2, same, price=1000, billed=1000)
    b = lot(2, 2, same, price=2000, billed=2000)
    for order in ([a, b], [b, a]):
        plan = plan_decrease(order, 1, at(day, 13), *MARCH, day)
        assert plan.credit_lines == (DecreaseLine(2, 1, prorated_amount(2000, -1, *MARCH, day)),)


def test_credit_is_capped_at_what_the_lot_was_billed():
    day = date(2026, 3, 11)
    # The lot was charged only R$ 10,00 so far (e.g. part already credited); the formula says more.
    plan = plan_decrease([lot(1, 3, at(day), billed=1000)], 3, at(day, 14), *MARCH, day)
    assert plan.credit_lines == (DecreaseLine(1, 3, -1000),)
    nothing_billed = plan_decrease([lot(1, 3, at(day), billed=0)], 2, at(day, 14), *MARCH, day)
    assert nothing_billed.credit_lines == (DecreaseLine(1, 2, 0),)


def test_a_zero_hour_window_always_schedules():
    day = date(2026, 3, 11)
    own_service = lot(1, 3, at(day), billed=prorated_amount(P, 3, *MARCH, day), window=timedelta(0))
    plan = plan_decrease([own_service], 3, at(day), *MARCH, day)
    assert plan == DecreasePlan(credit_lines=(), scheduled_quantity=3)


def test_window_end_is_exclusive():
    day = date(2026, 3, 18)
    e1 = lot("e1", 3, at(date(2026, 3, 11)), billed=16035)
    assert plan_decrease([e1], 1, e1.window_end, *MARCH, day).scheduled_quantity == 1
    assert plan_decrease([e1], 1, e1.window_end - timedelta(seconds=1), *MARCH, day).scheduled_quantity == 0


def test_removing_nothing_is_an_empty_plan():
    day = date(2026, 3, 11)
    assert plan_decrease([lot(1, 3, at(day), billed=16035)], 0, at(day), *MARCH, day) == DecreasePlan((), 0)


@pytest.mark.parametrize(
    ("remove", "error"),
    [(4, ValueError), (-1, ValueError), (1.0, TypeError), (True, TypeError)],
    ids=["more-than-held", "negative", "float", "bool"],
)
def test_bad_removals(remove, error):
    day = date(2026, 3, 11)
    with pytest.raises(error):
        plan_decrease([lot(1, 3, at(day), billed=16035)], remove, at(day), *MARCH, day)


def test_plan_decrease_refuses_inconsistent_input():
    day = date(2026, 3, 11)
    one = lot(1, 3, at(day), billed=16035)
    with pytest.raises(ValueError, match="naive|aware"):
        plan_decrease([one], 1, datetime(2026, 3, 11, 12), *MARCH, day)  # noqa: DTZ001
    with pytest.raises(ValueError, match="after the decrease"):
        plan_decrease([one], 1, at(day, 11), *MARCH, day)
    with pytest.raises(ValueError, match="same lot_id|share"):
        plan_decrease([one, lot(1, 1, at(day), billed=0)], 1, at(day), *MARCH, day)
    with pytest.raises(ValueError, match="outside the period"):
        plan_decrease([one], 1, at(day), *MARCH, date(2026, 4, 1))


E1_LOT = {
    "lot_id": 1,
    "quantity": 3,
    "unit_price_cents": P,
    "added_at": at(date(2026, 3, 11)),
    "window_end": at(date(2026, 3, 18)),
    "billed_cents": 16035,
}


@pytest.mark.parametrize(
    "fields",
    [
        {"quantity": -1},
        {"billed_cents": -1},
        {"unit_price_cents": -1},
        {"added_at": datetime(2026, 3, 11, 12)},  # noqa: DTZ001
        {"window_end": at(date(2026, 3, 10))},
    ],
    ids=["negative-quantity", "negative-billed", "negative-price", "naive", "window-before-add"],
)
def test_lot_refuses_bad_values(fields):
    with pytest.raises(ValueError):
        Lot(**(E1_LOT | fields))


@pytest.mark.parametrize(
    "fields",
    [{"quantity": 1.0}, {"billed_cents": True}, {"lot_id": None}, {"lot_id": True}, {"added_at": date(2026, 3, 11)}],
    ids=["float-quantity", "bool-billed", "no-id", "bool-id", "date-not-datetime"],
)
def test_lot_refuses_bad_types(fields):
    with pytest.raises(TypeError):
        Lot(**(E1_LOT | fields))


# --- credits on invoices -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("invoice", "credit", "result"),
    [(150000, 469509, (0, 319509)), (94171, 8654, (85517, 0)), (1000, 1000, (0, 0)), (0, 500, (0, 500))],
)
def test_apply_credit(invoice, credit, result):
    assert apply_credit(invoice, credit) == result


@pytest.mark.parametrize(
    ("invoice", "credit", "error"),
    [(-1, 0, ValueError), (100, -1, ValueError), (1.5, 0, TypeError), (100, True, TypeError)],
)
def test_apply_credit_refuses_bad_amounts(invoice, credit, error):
    with pytest.raises(error):
        apply_credit(invoice, credit)
