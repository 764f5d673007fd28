"""Money is integer centavos: display as `R$ 1.234,56`, parsing what people type, ROUND_HALF_UP."""

from decimal import Decimal
from fractions import Fraction

import pytest

from portal.shared.money import format_brl, parse_brl, round_half_up


@pytest.mark.parametrize(
    ("centavos", "pt", "en"),
    [
        (0, "R$ 0,00", "R$0.00"),
        (5, "R$ 0,05", "R$0.05"),
        (123456, "R$ 1.234,56", "R$1,234.56"),
        (100000000, "R$ 1.000.000,00", "R$1,000,000.00"),
        (-123456, "-R$ 1.234,56", "-R$1,234.56"),
    ],
)
def test_format_brl(centavos, pt, en):
    assert format_brl(centavos) == pt
    assert format_brl(centavos, "en") == en


@pytest.mark.parametrize("not_int", [1.5, Decimal("1.50"), True, "100"])
def test_format_refuses_anything_but_int_centavos(not_int):
    with pytest.raises(TypeError):
        format_brl(not_int)


@pytest.mark.parametrize(
    ("text", "centavos"),
    [("1.234,56", 123456), ("R$ 10", 1000), ("10,5", 1050), (" 0,01 ", 1), ("-2,00", -200), ("1000", 100000)],
)
def test_parse_brl(text, centavos):
    assert parse_brl(text) == centavos


@pytest.mark.parametrize("text", ["", "abc", "1,234", "1,2,3", "R$"])
def test_parse_brl_refuses_garbage(text):
    with pytest.raises(ValueError):
        parse_brl(text)


@pytest.mark.parametrize(
    ("value", "rounded"),
    [
        (Fraction(1, 2), 1), (Fraction(-1, 2), -1), (Fraction(49, 100), 0),
        (Decimal("2.5"), 3), (Fraction(10, 3), 3), (7, 7),
    ],
)
def test_round_half_up(value, rounded):
    assert round_half_up(value) == rounded


def test_round_half_up_is_exact_at_any_size():
    from decimal import Decimal
    from fractions import Fraction

    import pytest

    from portal.shared.money import round_half_up

    assert round_half_up(Fraction(5 * 10**29 - 1, 10**30)) == 0  # just below a half: 28-digit Decimals said 1
    assert round_half_up(Fraction(10**45 + 1, 2)) == (10**45) // 2 + 1
    assert round_half_up(Decimal("-2.5")) == -3 and round_half_up(Fraction(-1, 2)) == -1
    assert round_half_up(Fraction(-3, 2)) == -2 and round_half_up(Decimal("0.4999")) == 0
    for wrong in (True, 0.5, "1"):
        with pytest.raises(TypeError):
            round_half_up(wrong)


def test_parse_brl_refuses_dots_that_are_not_thousands_separators():
    import pytest

    from portal.shared.money import parse_brl

    assert parse_brl("1.234.567,89") == 123456789 and parse_brl("12.345") == 1234500
    for wrong in ("1.2.3", "1234.56", "12.34,00", ".123", "1..234"):
        with pytest.raises(ValueError):
            parse_brl(wrong)
