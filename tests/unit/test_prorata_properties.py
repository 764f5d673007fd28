"""Pró-rata properties (Hypothesis): symmetry, bounds, periods that tile time, decreases by lot."""

import calendar
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.billing.prorata import (
    Lot,
    apply_credit,
    plan_decrease,
    prorated_amount,
)
from portal.shared.periods import annual_period, monthly_period

fast = settings(max_examples=100, deadline=None)

prices = st.integers(min_value=0, max_value=10**9)  # up to R$ 10 million a license
quantities = st.integers(min_value=-(10**5), max_value=10**5)
days = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))
windows = st.sampled_from([timedelta(0), timedelta(hours=72), timedelta(hours=168)])


@st.composite
def periods(draw):
    """(S, E, D): any period of 1–400 days (real ones are 28–31 and 365/366) and a day inside it."""
    start = draw(days)
    length = draw(st.integers(min_value=1, max_value=400))
    day = start + timedelta(days=draw(st.integers(min_value=0, max_value=length - 1)))
    return start, start + timedelta(days=length), day


@st.composite
def lot_sets(draw):
    """Lots with distinct ids added during a period, a decrease instant after them all, and the period."""
    start, end, _ = draw(periods())
    hours = (end - start).days * 24
    begin = datetime.combine(start, time(0), tzinfo=UTC)
    at_hour = draw(st.integers(min_value=0, max_value=hours - 1))
    # Few distinct instants so that same-instant ties (broken by lot_id) happen often.
    instants = draw(st.lists(st.integers(min_value=0, max_value=at_hour), min_size=1, max_size=3))
    ids = draw(
        st.lists(
            st.one_of(st.integers(0, 50), st.text("abc", min_size=1, max_size=2)),
            min_size=1,
            max_size=6,
            unique_by=lambda lot_id: (type(lot_id), lot_id),
        )
    )
    lots = []
    for lot_id in ids:
        added = begin + timedelta(hours=draw(st.sampled_from(instants)))
        quantity = draw(st.integers(min_value=0, max_value=20))
        price = draw(st.integers(min_value=0, max_value=10**6))
        billed = draw(st.integers(min_value=0, max_value=price * quantity))
        lots.append(Lot(lot_id, quantity, price, added, added + draw(windows), billed))
    at = begin + timedelta(hours=at_hour)
    return lots, at, start, end, at.date()


# --- the formula ---------------------------------------------------------------------------------


@fast
@given(prices, quantities, periods())
def test_adding_and_removing_the_same_day_nets_zero(price, quantity, period):
    assert prorated_amount(price, quantity, *period) + prorated_amount(price, -quantity, *period) == 0


@fast
@given(prices, quantities, periods())
def test_the_first_day_charges_the_whole_period(price, quantity, period):
    start, end, _ = period
    assert prorated_amount(price, quantity, start, end, start) == price * quantity


@fast
@given(prices, quantities, periods())
def test_never_more_than_the_whole_period_and_same_sign(price, quantity, period):
    amount = prorated_amount(price, quantity, *period)
    assert abs(amount) <= price * abs(quantity)
    assert amount * quantity >= 0


@fast
@given(prices, quantities, periods(), st.data())
def test_a_later_day_never_costs_more(price, quantity, period, data):
    start, end, day = period
    later = day + timedelta(days=data.draw(st.integers(min_value=0, max_value=(end - day).days - 1)))
    earlier = prorated_amount(price, quantity, start, end, day)
    assert abs(prorated_amount(price, quantity, start, end, later)) <= abs(earlier)


@fast
@given(prices, quantities, periods())
def test_within_half_a_centavo_of_the_exact_value(price, quantity, period):
    start, end, day = period
    exact_times_n = price * quantity * (end - day).days
    n = (end - start).days
    assert abs(prorated_amount(price, quantity, *period) * n - exact_times_n) * 2 <= n


# --- periods -------------------------------------------------------------------------------------


@fast
@given(st.integers(min_value=1, max_value=31), days)
def test_monthly_periods_contain_the_day_and_tile_time(anchor, on):
    start, end = monthly_period(anchor, on)
    assert start <= on < end
    assert 28 <= (end - start).days <= 31
    for boundary in (start, end):
        assert boundary.day == min(anchor, calendar.monthrange(boundary.year, boundary.month)[1])
    assert monthly_period(anchor, end)[0] == end
    assert monthly_period(anchor, start - timedelta(days=1))[1] == start


@fast
@given(days, st.integers(min_value=0, max_value=20 * 366))
def test_annual_terms_contain_the_day_and_tile_time(term_start, offset):
    on = term_start + timedelta(days=offset)
    start, end = annual_period(term_start, on)
    assert start <= on < end
    assert (end - start).days in (365, 366)
    assert (start.month, start.day) == (term_start.month, term_start.day) or (
        (term_start.month, term_start.day, start.month, start.day) == (2, 29, 2, 28)
    )
    assert annual_period(term_start, end)[0] == end
    if start > term_start:
        assert annual_period(term_start, start - timedelta(days=1))[1] == start


# --- decreases by lot ----------------------------------------------------------------------------


@fast
@given(st.data())
def test_decrease_does_not_depend_on_the_order_of_the_lots(data):
    lots, at, start, end, day = data.draw(lot_sets())
    remove = data.draw(st.integers(min_value=0, max_value=sum(lot.quantity for lot in lots)))
    shuffled = data.draw(st.permutations(lots))
    assert plan_decrease(shuffled, remove, at, start, end, day) == plan_decrease(lots, remove, at, start, end, day)


@fast
@given(st.data())
def test_every_license_removed_is_either_credited_now_or_scheduled(data):
    lots, at, start, end, day = data.draw(lot_sets())
    remove = data.draw(st.integers(min_value=0, max_value=sum(lot.quantity for lot in lots)))
    plan = plan_decrease(lots, remove, at, start, end, day)
    by_id = {lot.lot_id: lot for lot in lots}
    assert sum(line.quantity for line in plan.credit_lines) + plan.scheduled_quantity == remove
    assert plan.total_cents == sum(line.amount_cents for line in plan.credit_lines) <= 0
    for line in plan.credit_lines:
        source = by_id[line.lot_id]
        assert source.window_end > at
        assert 0 < line.quantity <= source.quantity
        assert -source.billed_cents <= line.amount_cents <= 0
        formula = prorated_amount(source.unit_price_cents, -line.quantity, start, end, day)
        assert line.amount_cents == max(formula, -source.billed_cents)
    # Something is scheduled only when every windowed lot has been emptied.
    if plan.scheduled_quantity:
        windowed = sum(lot.quantity for lot in lots if lot.window_end > at)
        assert sum(line.quantity for line in plan.credit_lines) == windowed
    # Most recent first: instants never increase along the lines.
    instants = [by_id[line.lot_id].added_at for line in plan.credit_lines]
    assert instants == sorted(instants, reverse=True)


@fast
@given(st.data())
def test_removing_more_than_the_lots_hold_is_an_error(data):
    lots, at, start, end, day = data.draw(lot_sets())
    extra = data.draw(st.integers(min_value=1, max_value=100))
    with pytest.raises(ValueError):
        plan_decrease(lots, sum(lot.quantity for lot in lots) + extra, at, start, end, day)


@fast
@given(prices, st.integers(min_value=1, max_value=10**4), periods(), st.data())
def test_a_lot_added_and_removed_the_same_day_nets_exactly_zero(price, quantity, period, data):
    start, end, day = period
    added = datetime.combine(day, time(9), tzinfo=UTC)
    charged = prorated_amount(price, quantity, *period)
    lot = Lot("today", quantity, price, added, added + timedelta(hours=168), charged)
    plan = plan_decrease([lot], quantity, added + timedelta(hours=2), *period)
    assert plan.total_cents == -charged
    assert charged + plan.total_cents == 0
    # Removing only part of it is the formula for that part: the cap never bites on the same day.
    part = data.draw(st.integers(min_value=1, max_value=quantity))
    partial = plan_decrease([lot], part, added + timedelta(hours=2), *period)
    assert partial.total_cents == prorated_amount(price, -part, *period)


@fast
@given(st.data())
def test_cumulative_credit_on_a_lot_never_exceeds_what_it_was_billed(data):
    lots, at, start, end, _ = data.draw(lot_sets())
    billed = {lot.lot_id: lot.billed_cents for lot in lots}
    credited = dict.fromkeys(billed, 0)
    current = {lot.lot_id: lot for lot in lots}
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        held = sum(lot.quantity for lot in current.values())
        if held == 0:
            break
        later = at + timedelta(hours=data.draw(st.integers(min_value=0, max_value=48)))
        if later.date() >= end:
            break
        at = later
        remove = data.draw(st.integers(min_value=1, max_value=held))
        plan = plan_decrease(list(current.values()), remove, at, start, end, at.date())
        for line in plan.credit_lines:
            credited[line.lot_id] -= line.amount_cents
            old = current[line.lot_id]
            current[line.lot_id] = replace(
                old, quantity=old.quantity - line.quantity, billed_cents=old.billed_cents + line.amount_cents
            )
        # The scheduled part leaves the lots at term end; take it from the oldest for the next step.
        scheduled = plan.scheduled_quantity
        for old in sorted(current.values(), key=lambda lot: lot.added_at):
            taken = min(scheduled, old.quantity)
            scheduled -= taken
            current[old.lot_id] = replace(old, quantity=old.quantity - taken)
        for lot_id, amount in credited.items():
            assert 0 <= amount <= billed[lot_id]


# --- credits on invoices -------------------------------------------------------------------------


@fast
@given(st.integers(min_value=0, max_value=10**12), st.integers(min_value=0, max_value=10**12))
def test_credit_never_makes_an_invoice_negative(invoice, credit):
    due, left = apply_credit(invoice, credit)
    assert due >= 0 and left >= 0
    assert invoice - due == credit - left == min(invoice, credit)
