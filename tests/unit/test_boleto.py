"""Boleto: the spec's vectors B1–B4 both ways, the fator and its 2025 reset, campos livres, DVs, business days."""

import string
from datetime import date, datetime, timedelta

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.billing.boleto import (
    ITAU_CARTEIRAS_OTHER_DAC,
    ITAU_CARTEIRAS_OTHER_LAYOUT,
    barcode,
    barcode_from_digitable_line,
    bradesco_nosso_numero_dv,
    digitable_line,
    due_date,
    due_factor,
    free_field_bb,
    free_field_bradesco,
    free_field_itau,
    itau_nosso_numero_dac,
    mod10,
    mod11_general,
    next_business_day,
)

fast = settings(max_examples=100, deadline=None)

# --- spec vectors: barcode ↔ linha digitável ---------------------------------------------------------------

VECTORS = {
    "B1-bb": (
        "00193373700000001000500940144816060680935031",
        "00190.50095 40144.816069 06809.350314 3 37370000000100",
    ),
    "B2-itau": (
        "34196166700000123451101234567880057123457000",
        "34191.10121 34567.880058 71234.570001 6 16670000012345",
    ),
    "B3-bradesco": (
        "23797100100000000000031040031772002800952790",
        "23790.03102 40031.772003 28009.527905 7 10010000000000",
    ),
    "B4-itau-after-reset": (
        "34194254800006757871090001015271248021246000",
        "34191.09008 01015.271248 80212.460002 4 25480000675787",
    ),
}


@pytest.mark.parametrize(("code", "line"), VECTORS.values(), ids=VECTORS.keys())
def test_barcode_to_digitable_line(code, line):
    assert digitable_line(code) == line


@pytest.mark.parametrize(("code", "line"), VECTORS.values(), ids=VECTORS.keys())
def test_digitable_line_to_barcode(code, line):
    assert barcode_from_digitable_line(line) == code


@pytest.mark.parametrize(("code", "line"), VECTORS.values(), ids=VECTORS.keys())
def test_digitable_line_with_any_punctuation(code, line):
    digits = "".join(c for c in line if c in string.digits)
    assert barcode_from_digitable_line(digits) == code
    assert barcode_from_digitable_line(f"  {line.replace(' ', '-').replace('.', ' ')}\n") == code
    assert barcode_from_digitable_line(line.replace(".", "/")) == code


@pytest.mark.parametrize(
    ("bank", "amount", "due", "code"),
    [
        ("001", 100, date(2007, 12, 31), VECTORS["B1-bb"][0]),
        ("341", 12345, date(2002, 5, 1), VECTORS["B2-itau"][0]),
        ("341", 675787, date(2029, 5, 20), VECTORS["B4-itau-after-reset"][0]),
    ],
    ids=["B1", "B2", "B4"],
)
def test_barcode_builds_the_vectors(bank, amount, due, code):
    assert barcode(bank, amount, due, code[19:]) == code


def test_b3_fator_1001_is_2025_02_23():
    code = VECTORS["B3-bradesco"][0]
    assert code[5:9] == "1001"
    assert due_factor(date(2025, 2, 23)) == "1001"
    assert barcode("237", 0, date(2025, 2, 23), code[19:]) == code


def test_barcode_without_due_date_has_fator_0000():
    code = barcode("341", 100, None, "0" * 25)
    assert code[5:9] == "0000"
    assert barcode_from_digitable_line(digitable_line(code)) == code


def test_general_dv_of_the_vectors():
    for code, _ in VECTORS.values():
        assert mod11_general(code[:4] + code[5:]) == int(code[4])


def test_mod10_of_the_vectors_fields():
    assert mod10("001905009") == 5  # B1 field 1
    assert mod10("4014481606") == 9  # B1 field 2
    assert mod10("0680935031") == 4  # B1 field 3
    assert mod10("0") == 0
    assert mod10("9") == 1  # 9 × 2 = 18 → 1 + 8 = 9 → 10 − 9


def test_mod11_general_writes_1_for_0_10_and_11():
    assert mod11_general("0" * 43) == 1  # Σ % 11 = 0 → 11 → 1
    assert mod11_general("6") == 1  # 6 × 2 = 12, Σ % 11 = 1 → 10 → 1
    assert mod11_general("5") == 1  # 5 × 2 = 10 → 11 − 10 = 1, a genuine 1
    assert mod11_general("1") == 9  # 1 × 2 = 2 → 9
    assert mod11_general("10000000") == 2  # the 8th digit from the right has weight 9: 11 − 9
    assert mod11_general("100000000") == 9  # the 9th has weight 2 again (the 2..9 cycle restarts)


# --- fator de vencimento -----------------------------------------------------------------------------------

FATORES = {
    "last-before-reset": (date(2025, 2, 21), "9999"),
    "reset": (date(2025, 2, 22), "1000"),
    "after-reset": (date(2029, 5, 20), "2548"),
    "second-9999": (date(2049, 10, 13), "9999"),
    "second-reset": (date(2049, 10, 14), "1000"),
    "B1": (date(2007, 12, 31), "3737"),
    "B2": (date(2002, 5, 1), "1667"),
    "first-1000": (date(2000, 7, 3), "1000"),
    "first-day": (date(1997, 10, 8), "0001"),
}


@pytest.mark.parametrize(("due", "factor"), FATORES.values(), ids=FATORES.keys())
def test_due_factor(due, factor):
    assert due_factor(due) == factor


REFERENCE = date(2026, 11, 22)
DECODED = {
    "9800": date(2024, 8, 6),
    "1667": date(2026, 12, 21),
    "3737": date(2032, 8, 21),
}


@pytest.mark.parametrize(("factor", "due"), DECODED.items(), ids=DECODED.keys())
def test_due_date_with_reference(factor, due):
    assert due_date(factor, REFERENCE) == due
    assert due_factor(due) == factor


def test_due_date_0000_is_no_due_date():
    assert due_date("0000", REFERENCE) is None


def test_due_date_window_edges():
    # 2026-11-22 − 3000 days and + 5500 days are inside; one day further names nothing.
    low, high = REFERENCE - timedelta(days=3000), REFERENCE + timedelta(days=5500)
    assert due_date(due_factor(low), REFERENCE) == low
    assert due_date(due_factor(high), REFERENCE) == high
    with pytest.raises(ValueError, match="names no date"):
        due_date(due_factor(high + timedelta(days=1)), REFERENCE)  # its other candidates are 9000 days away


@given(
    due=st.dates(min_value=date(2000, 7, 3), max_value=date(2099, 12, 31)),
    offset=st.integers(min_value=-5500, max_value=3000),
)
@fast
def test_due_date_inverts_due_factor_inside_the_window(due, offset):
    reference = due + timedelta(days=offset)  # so due ∈ [reference − 3000, reference + 5500]
    assert due_date(due_factor(due), reference) == due


@pytest.mark.parametrize("bad", [date(1997, 10, 7), date(1990, 1, 1)])
def test_due_factor_refuses_dates_before_the_count(bad):
    with pytest.raises(ValueError, match="fator count"):
        due_factor(bad)


def test_due_factor_refuses_datetimes():
    with pytest.raises(TypeError):
        due_factor(datetime(2026, 1, 1))  # noqa: DTZ001 - the naive datetime is the bad input


@pytest.mark.parametrize("bad", ["123", "12345", "12a4", "", "１２３４"])
def test_due_date_refuses_malformed_factors(bad):
    with pytest.raises(ValueError, match="4 digits"):
        due_date(bad, REFERENCE)


# --- campos livres -----------------------------------------------------------------------------------------


def test_itau_dac_spec_check():
    assert itau_nosso_numero_dac("0057", "12345", "110", "12345678") == "8"


def test_free_field_itau_is_b2_and_b4():
    assert free_field_itau("110", "12345678", "0057", "12345") == VECTORS["B2-itau"][0][19:]
    assert free_field_itau("109", "00010152", "1248", "02124") == VECTORS["B4-itau-after-reset"][0][19:]


@pytest.mark.parametrize("carteira", ["126", "131", "146", "150", "168", "107", "198"])
def test_itau_carteiras_outside_the_spec_are_refused(carteira):
    with pytest.raises(ValueError, match="not covered"):
        free_field_itau(carteira, "12345678", "0057", "12345")


@pytest.mark.parametrize(
    ("carteira", "nosso_numero", "dv"),
    [("19", "00000000002", "8"), ("19", "00000000001", "P")],
    ids=["dv-8", "dv-P"],
)
def test_bradesco_nosso_numero_dv_spec_checks(carteira, nosso_numero, dv):
    assert bradesco_nosso_numero_dv(carteira, nosso_numero) == dv


def test_bradesco_nosso_numero_dv_remainder_0_is_0():
    # 19 + 00000000003: 3×2 + 9×7 + 1×2 = 71, 71 % 11 = 5 → 6; + 00000000010: 1×3 + 65 = 68 → 2 → 9;
    # + 00000000008: 8×2 + 65 = 81 → 4 → 7; + 00000000009: 9×2 + 65 = 83 → 6 → 5; + 00000000005: 75 → 9 → 2.
    # Σ = 77 (remainder 0) needs 12 more than 65: 00000000006 → 6×2 = 12.
    assert bradesco_nosso_numero_dv("19", "00000000006") == "0"
    assert bradesco_nosso_numero_dv("19", "00000000003") == "6"
    assert bradesco_nosso_numero_dv("19", "00000000010") == "9"


def test_free_field_bradesco_is_b3():
    assert free_field_bradesco("0031", "04", "00317720028", "0095279") == VECTORS["B3-bradesco"][0][19:]


def test_free_field_bb_layout():
    field = free_field_bb("1234567", "0000000042", "17")
    assert field == "000000" + "1234567" + "0000000042" + "17"
    assert len(field) == 25


def digit_strings(n):
    return st.text(alphabet=string.digits, min_size=n, max_size=n)


itau_carteiras = digit_strings(3).filter(
    lambda c: c not in ITAU_CARTEIRAS_OTHER_DAC and c not in ITAU_CARTEIRAS_OTHER_LAYOUT
)


@st.composite
def free_fields(draw):
    bank = draw(st.sampled_from(["001", "341", "237"]))
    if bank == "001":
        return bank, free_field_bb(draw(digit_strings(7)), draw(digit_strings(10)), draw(digit_strings(2)))
    if bank == "341":
        return bank, free_field_itau(
            draw(itau_carteiras), draw(digit_strings(8)), draw(digit_strings(4)), draw(digit_strings(5))
        )
    return bank, free_field_bradesco(
        draw(digit_strings(4)), draw(digit_strings(2)), draw(digit_strings(11)), draw(digit_strings(7))
    )


amounts = st.integers(min_value=0, max_value=9_999_999_999)
dues = st.one_of(st.none(), st.dates(min_value=date(1997, 10, 8), max_value=date(2099, 12, 31)))


@given(bank_field=free_fields(), amount=amounts, due=dues)
@fast
def test_free_fields_round_trip_through_the_digitable_line(bank_field, amount, due):
    bank, field = bank_field
    code = barcode(bank, amount, due, field)
    assert len(code) == 44 and code[:3] == bank and code[3] == "9"
    assert code[9:19] == f"{amount:010d}" and code[19:] == field
    line = digitable_line(code)
    assert len(line) == 54 and sum(c in string.digits for c in line) == 47
    assert barcode_from_digitable_line(line) == code


# --- a wrong digit in the linha digitável ------------------------------------------------------------------


@given(bank_field=free_fields(), amount=amounts, due=dues, data=st.data())
@fast
def test_a_flipped_digit_is_rejected(bank_field, amount, due, data):
    code = barcode(*bank_field[:1], amount, due, bank_field[1])
    digits = "".join(c for c in digitable_line(code) if c in string.digits)
    position = data.draw(st.integers(min_value=0, max_value=46))
    new = data.draw(st.sampled_from([d for d in string.digits if d != digits[position]]))
    try:
        decoded = barcode_from_digitable_line(digits[:position] + new + digits[position + 1 :])
    except ValueError:
        return
    # Fields 1–3 have their own mod 10 DV, which catches any single substitution; only the last field
    # (fator + amount) relies on the general DV alone, and FEBRABAN's mod 11 writes 1 for results 0, 10
    # and 11, so a flip there can move the sum between those and keep DV 1.
    assert position >= 33 and digits[32] == "1" and decoded != code


def test_the_general_dv_cannot_catch_every_flip_when_it_is_1():
    code = barcode("341", 100001, date(2029, 5, 20), VECTORS["B4-itau-after-reset"][0][19:])
    digits = "".join(c for c in digitable_line(code) if c in string.digits)
    assert digits[32] == "1" and digits[33] == "2"
    other = barcode_from_digitable_line(digits[:33] + "6" + digits[34:])  # fator 2548 → 6548, also DV 1
    assert other != code and other[5:9] == "6548"


@pytest.mark.parametrize("position", range(47))
def test_every_position_of_b2_is_checked(position):
    digits = "".join(c for c in VECTORS["B2-itau"][1] if c in string.digits)  # general DV 6
    flipped = digits[:position] + str((int(digits[position]) + 1) % 10) + digits[position + 1 :]
    with pytest.raises(ValueError, match="check digit|currency"):
        barcode_from_digitable_line(flipped)


def test_field_dv_errors_name_the_field():
    line = VECTORS["B1-bb"][1]
    with pytest.raises(ValueError, match="field 1 check digit"):
        barcode_from_digitable_line(line.replace("00190.50095", "00190.50096"))
    with pytest.raises(ValueError, match="field 2 check digit"):
        barcode_from_digitable_line(line.replace("40144.816069", "40144.816068"))
    with pytest.raises(ValueError, match="field 3 check digit"):
        barcode_from_digitable_line(line.replace("06809.350314", "06809.350315"))
    with pytest.raises(ValueError, match="general check digit"):
        barcode_from_digitable_line(line.replace(" 3 ", " 4 "))


# --- strict input ------------------------------------------------------------------------------------------


B1_LINE = VECTORS["B1-bb"][1]


@pytest.mark.parametrize(
    "line",
    [B1_LINE[:-1], B1_LINE + "0", B1_LINE[:-1] + "O", "", "linha"],
    ids=["46-digits", "48-digits", "letter-O", "empty", "letters"],
)
def test_barcode_from_digitable_line_refuses_malformed_lines(line):
    with pytest.raises(ValueError):
        barcode_from_digitable_line(line)


def test_barcode_from_digitable_line_refuses_non_strings():
    with pytest.raises(TypeError):
        barcode_from_digitable_line(12345)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("01", 100, None, "0" * 25), "bank"),
        (("0011", 100, None, "0" * 25), "bank"),
        (("abc", 100, None, "0" * 25), "bank"),
        (("341", -1, None, "0" * 25), "amount_cents"),
        (("341", 10_000_000_000, None, "0" * 25), "amount_cents"),
        (("341", 100, None, "0" * 24), "free_field"),
        (("341", 100, None, "0" * 26), "free_field"),
        (("341", 100, None, "0" * 24 + "x"), "free_field"),
    ],
)
def test_barcode_refuses_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        barcode(*args)


@pytest.mark.parametrize("amount", [1.0, True, "100", None])
def test_barcode_amount_must_be_int_centavos(amount):
    with pytest.raises(TypeError, match="amount_cents"):
        barcode("341", amount, None, "0" * 25)


def test_barcode_amount_limits():
    assert barcode("341", 9_999_999_999, None, "0" * 25)[9:19] == "9999999999"
    assert barcode("341", 0, None, "0" * 25)[9:19] == "0000000000"


def test_digitable_line_refuses_a_barcode_with_a_wrong_dv_or_currency():
    code = VECTORS["B2-itau"][0]
    with pytest.raises(ValueError, match="general check digit"):
        digitable_line(code[:4] + "7" + code[5:])
    with pytest.raises(ValueError, match="currency"):
        digitable_line(code[:3] + "0" + code[4:])
    with pytest.raises(ValueError, match="44 digits"):
        digitable_line(code[:-1])


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: free_field_itau("10", "12345678", "0057", "12345"), "carteira"),
        (lambda: free_field_itau("110", "1234567", "0057", "12345"), "nosso_numero"),
        (lambda: free_field_itau("110", "12345678", "57", "12345"), "agencia"),
        (lambda: free_field_itau("110", "12345678", "0057", "123456"), "conta"),
        (lambda: free_field_bradesco("031", "04", "00317720028", "0095279"), "agencia"),
        (lambda: free_field_bradesco("0031", "4", "00317720028", "0095279"), "carteira"),
        (lambda: free_field_bradesco("0031", "04", "0031772002", "0095279"), "nosso_numero"),
        (lambda: free_field_bradesco("0031", "04", "00317720028", "95279"), "conta"),
        (lambda: free_field_bb("123456", "0000000042", "17"), "convenio"),
        (lambda: free_field_bb("1234567", "42", "17"), "complemento"),
        (lambda: free_field_bb("1234567", "0000000042", "017"), "carteira"),
        (lambda: bradesco_nosso_numero_dv("19", "2"), "nosso_numero"),
        (lambda: itau_nosso_numero_dac("0057", "12345", "110", "1234567 "), "nosso_numero"),
        (lambda: mod10(""), "digits"),
        (lambda: mod11_general("12a"), "digits"),
    ],
)
def test_identifiers_must_have_their_exact_digits(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# --- next business day (B3/BVMF calendar from the holidays package) ----------------------------------------


def test_the_package_bvmf_calendar_for_2026():
    bvmf = holidays.financial_holidays("BVMF", years=2026)
    assert date(2026, 2, 16) in bvmf  # Carnival Monday
    assert date(2026, 2, 17) in bvmf  # Carnival Tuesday
    assert date(2026, 2, 18) not in bvmf  # Ash Wednesday opens late, but opens
    assert date(2026, 11, 20) in bvmf  # Consciência Negra, a national holiday since 2024
    assert date(2026, 12, 24) in bvmf
    assert date(2026, 12, 25) in bvmf
    assert date(2026, 12, 31) in bvmf
    assert date(2023, 11, 20) not in holidays.financial_holidays("BVMF", years=2023)  # before the 2024 law


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 3, 7), date(2026, 3, 9)),  # Saturday → Monday
        (date(2026, 3, 8), date(2026, 3, 9)),  # Sunday → Monday
        (date(2026, 3, 9), date(2026, 3, 9)),  # a business day stays
        (date(2026, 2, 14), date(2026, 2, 18)),  # Saturday before Carnival → Ash Wednesday
        (date(2026, 2, 16), date(2026, 2, 18)),  # Carnival Monday
        (date(2026, 2, 17), date(2026, 2, 18)),  # Carnival Tuesday
        (date(2026, 11, 20), date(2026, 11, 23)),  # Consciência Negra (Friday) → Monday
        (date(2023, 11, 20), date(2023, 11, 20)),  # a business day in 2023
        (date(2026, 12, 24), date(2026, 12, 28)),  # Christmas Eve, Christmas, weekend
        (date(2026, 12, 25), date(2026, 12, 28)),
        (date(2026, 12, 31), date(2027, 1, 4)),  # last day of the year, New Year, weekend: crosses the year
    ],
)
def test_next_business_day(day, expected):
    assert next_business_day(day) == expected


_bvmf: dict[int, holidays.HolidayBase] = {}


def closed(day: date) -> bool:
    """An independent reading of the calendar: weekend or a BVMF holiday."""
    if day.year not in _bvmf:
        _bvmf[day.year] = holidays.financial_holidays("BVMF", years=day.year)
    return day.weekday() >= 5 or day in _bvmf[day.year]


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2060, 12, 31)))
@fast
def test_next_business_day_is_the_first_open_day_on_or_after(day):
    result = next_business_day(day)
    assert result >= day and not closed(result)
    assert all(closed(day + timedelta(days=n)) for n in range((result - day).days))


def test_next_business_day_refuses_datetimes():
    with pytest.raises(TypeError):
        next_business_day(datetime(2026, 3, 7))  # noqa: DTZ001 - the naive datetime is the bad input
