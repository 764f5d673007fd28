"""Dates typed in the backoffice's forms and filters (portal/shared/dates.py)."""

from datetime import date

import pytest

from portal.shared.dates import YearOutOfRange, filter_day, parse_day


@pytest.mark.parametrize(("typed", "expected"), [
    ("31/12/2026", date(2026, 12, 31)), ("1/2/2026", date(2026, 2, 1)), (" 2026-02-28 ", date(2026, 2, 28)),
    ("29/02/2028", date(2028, 2, 29)), ("01/01/2000", date(2000, 1, 1)), ("2999-12-31", date(2999, 12, 31)),
])
def test_day_first_and_iso_dates_are_read(typed, expected):
    assert parse_day(typed) == expected


@pytest.mark.parametrize("typed", ["", "31/02/2026", "29/02/2027", "2026/12/31", "12-31-2026", "31/12/26",
                                   "amanhã", "٣١/١٢/٢٠٢٦", "2026-1-5"])
def test_anything_else_is_refused(typed):
    with pytest.raises(ValueError) as refused:
        parse_day(typed)
    assert not isinstance(refused.value, YearOutOfRange)


@pytest.mark.parametrize("typed", ["31/12/1999", "0001-01-01", "01/01/3000", "9999-12-31"])
def test_years_outside_the_range_are_told_apart(typed):
    with pytest.raises(YearOutOfRange):
        parse_day(typed)


def test_a_filter_says_why_it_ignores_a_date(app_ctx):
    assert filter_day("05/03/2026") == (date(2026, 3, 5), None)
    day, error = filter_day("31/02/2026")
    assert day is None and error == "“31/02/2026” não é uma data válida: use dd/mm/aaaa. Este filtro foi ignorado."
    day, error = filter_day("01/01/1999")
    assert day is None and error == "Use uma data entre 01/01/2000 e 31/12/2999. Este filtro foi ignorado."
