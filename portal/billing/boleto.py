"""Boleto de cobrança (specs/boleto.md): fator, campo livre, 44-digit barcode and linha digitável. Pure."""

# Pure by rule 1: no Flask, no database, no clock. Money is int centavos (rule 4); due dates are business
# dates (America/Sao_Paulo). Every identifier here is a string of digits whose length is part of the
# layout, so inputs are checked exactly instead of being padded: a bank refuses a wrong digit, and a
# silently padded agência or conta would produce a barcode that pays someone else's account.

import functools
import string
from datetime import date, timedelta

from portal.shared.arguments import require_date

__all__ = [
    "barcode",
    "barcode_from_digitable_line",
    "bradesco_nosso_numero_dv",
    "digitable_line",
    "due_date",
    "due_factor",
    "free_field_bb",
    "free_field_bradesco",
    "free_field_itau",
    "itau_nosso_numero_dac",
    "mod10",
    "mod11_general",
    "next_business_day",
]

CURRENCY_REAL = "9"  # barcode position 4
MAX_AMOUNT_CENTS = 9_999_999_999  # ten digits of centavos: R$ 99.999.999,99

# Fator de vencimento: days since FATOR_BASE; 9999 was 2025-02-21, then the count restarted at 1000 and
# runs through 9999 in cycles of FATOR_CYCLE days. FATOR_1000 is the day whose fator was first 1000.
FATOR_BASE = date(1997, 10, 7)
FATOR_1000 = date(2000, 7, 3)
FATOR_CYCLE = 9000
NO_DUE_DATE = "0000"
# Decoding window around the reference date (8 500 days, shorter than a cycle, so at most one candidate).
DECODE_BEFORE = timedelta(days=3000)
DECODE_AFTER = timedelta(days=5500)

# Itaú carteiras whose rules specs/boleto.md does not describe (the Itaú manual gives them another DAC
# input or another campo livre); refused rather than encoded with the wrong rule.
ITAU_CARTEIRAS_OTHER_DAC = frozenset({"112", "126", "131", "146", "150", "168"})  # DAC over carteira+NN only
ITAU_CARTEIRAS_OTHER_LAYOUT = frozenset({"106", "107", "122", "142", "143", "195", "196", "198"})  # seu número


# --- checks ------------------------------------------------------------------------------------------------


def _digits(name: str, value: object, length: int) -> str:
    """Return value when it is exactly `length` ASCII digits; otherwise raise."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str of {length} digits, got {type(value).__name__}")
    # str.isdigit() accepts "²" and Arabic-Indic digits; only 0-9 belong in a barcode.
    if len(value) != length or not all(c in string.digits for c in value):
        raise ValueError(f"{name} must be exactly {length} digits (0-9), got {value!r}")
    return value


def _some_digits(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str of digits, got {type(value).__name__}")
    if not value or not all(c in string.digits for c in value):
        raise ValueError(f"{name} must be one or more digits (0-9), got {value!r}")
    return value


def _require_amount(amount_cents: object) -> int:
    # bool is an int subclass, but True centavos is always a bug.
    if not isinstance(amount_cents, int) or isinstance(amount_cents, bool):
        raise TypeError(f"amount_cents must be an int (centavos), got {type(amount_cents).__name__}")
    if not 0 <= amount_cents <= MAX_AMOUNT_CENTS:
        raise ValueError(f"amount_cents must be between 0 and {MAX_AMOUNT_CENTS}, got {amount_cents}")
    return amount_cents


# --- check digits ------------------------------------------------------------------------------------------


def mod10(digits: str) -> int:
    """Módulo 10: from the right, weights 2,1,2,1,…; the digits of each product are added (18 → 1+8)."""
    _some_digits("digits", digits)
    total = 0
    for i, c in enumerate(reversed(digits)):
        product = int(c) * (2 if i % 2 == 0 else 1)
        total += product // 10 + product % 10  # product ≤ 18, so this is its digit sum
    return (10 - total % 10) % 10


def _mod11_sum(digits: str, max_weight: int) -> int:
    """Σ digit × weight, weights 2,3,…,max_weight,2,3,… from the right."""
    return sum(int(c) * (2 + i % (max_weight - 1)) for i, c in enumerate(reversed(digits)))


def mod11_general(digits: str) -> int:
    """The barcode's general DV: weights 2..9 from the right, 11 − sum % 11, and 0, 10, 11 become 1 (never 0)."""
    _some_digits("digits", digits)
    dv = 11 - _mod11_sum(digits, 9) % 11
    return 1 if dv in (0, 10, 11) else dv


def bradesco_nosso_numero_dv(carteira: str, nosso_numero: str) -> str:
    """Bradesco's printed nosso número DV: mod 11, weights 2..7 over carteira+NN; remainder 1 → "P", 0 → "0"."""
    _digits("carteira", carteira, 2)
    _digits("nosso_numero", nosso_numero, 11)
    remainder = _mod11_sum(carteira + nosso_numero, 7) % 11
    if remainder == 1:
        return "P"
    if remainder == 0:
        return "0"
    return str(11 - remainder)


def _check_itau_carteira(carteira: str) -> None:
    if carteira in ITAU_CARTEIRAS_OTHER_DAC or carteira in ITAU_CARTEIRAS_OTHER_LAYOUT:
        raise ValueError(f"Itaú carteira {carteira} uses rules not covered by specs/boleto.md")


def itau_nosso_numero_dac(agencia: str, conta: str, carteira: str, nosso_numero: str) -> str:
    """Itaú's DAC of the nosso número: mod 10 of agência(4)+conta(5)+carteira(3)+nosso número(8)."""
    _digits("agencia", agencia, 4)
    _digits("conta", conta, 5)
    _digits("carteira", carteira, 3)
    _digits("nosso_numero", nosso_numero, 8)
    _check_itau_carteira(carteira)
    return str(mod10(agencia + conta + carteira + nosso_numero))


# --- fator de vencimento -----------------------------------------------------------------------------------


def due_factor(due: date) -> str:
    """The 4-digit fator de vencimento of a due date, with the 2025-02-22 restart at 1000 ("1000")."""
    require_date("due", due)
    days = (due - FATOR_BASE).days
    if days <= 0:
        raise ValueError(f"due date {due} is not after {FATOR_BASE}, where the fator count starts")
    # Days 1..999 (until 2000-07-02) are the original fatores 0001..0999; they never recur after the reset.
    factor = days if days <= 9999 else (days - 1000) % FATOR_CYCLE + 1000
    return f"{factor:04d}"


def due_date(factor: str, reference: date) -> date | None:
    """The due date a fator means, the one within [reference − 3000 days, reference + 5500 days]; "0000" → None."""
    _digits("factor", factor, 4)
    require_date("reference", reference)
    if factor == NO_DUE_DATE:
        return None
    low, high = reference - DECODE_BEFORE, reference + DECODE_AFTER
    value = int(factor)
    if value < 1000:
        # Only the first count (1997-10-08 .. 2000-07-02) used fatores below 1000.
        candidates = [FATOR_BASE + timedelta(days=value)]
    else:
        first = FATOR_1000 + timedelta(days=value - 1000)
        # k = 0, 1, … up to the window's end; the window is shorter than a cycle, so at most one fits.
        k_max = max(0, (high - first).days // FATOR_CYCLE)
        candidates = [first + timedelta(days=FATOR_CYCLE * k) for k in range(k_max + 1)]
    for candidate in candidates:
        if low <= candidate <= high:
            return candidate
    raise ValueError(f"fator {factor} names no date between {low} and {high} (reference {reference})")


# --- barcode and linha digitável ---------------------------------------------------------------------------


def barcode(bank: str, amount_cents: int, due: date | None, free_field: str) -> str:
    """The 44-digit barcode: bank(3) + 9 + general DV + fator(4) + amount(10) + campo livre(25).

    `due` is encoded as given; moving it off a weekend or holiday (next_business_day) is the caller's
    decision, taken before the date is printed anywhere. None means no due date (fator 0000).
    """
    _digits("bank", bank, 3)
    _require_amount(amount_cents)
    factor = NO_DUE_DATE if due is None else due_factor(due)
    _digits("free_field", free_field, 25)
    body = bank + CURRENCY_REAL + factor + f"{amount_cents:010d}" + free_field  # 43 digits, DV goes at [4]
    return body[:4] + str(mod11_general(body)) + body[4:]


def _check_barcode(code: str) -> str:
    _digits("barcode", code, 44)
    if code[3] != CURRENCY_REAL:
        raise ValueError(f"barcode currency must be {CURRENCY_REAL} (real), got {code[3]}")
    expected = mod11_general(code[:4] + code[5:])
    if int(code[4]) != expected:
        raise ValueError(f"barcode general check digit is {code[4]}, expected {expected}")
    return code


def digitable_line(barcode: str) -> str:
    """The linha digitável, formatted `AAAAA.AAAAX BBBBB.BBBBBY CCCCC.CCCCCZ K FFFFVVVVVVVVVV`."""
    code = _check_barcode(barcode)
    field1 = code[0:4] + code[19:24]
    field2 = code[24:34]
    field3 = code[34:44]
    field1 += str(mod10(field1))
    field2 += str(mod10(field2))
    field3 += str(mod10(field3))
    return f"{field1[:5]}.{field1[5:]} {field2[:5]}.{field2[5:]} {field3[:5]}.{field3[5:]} {code[4]} {code[5:19]}"


def barcode_from_digitable_line(line: str) -> str:
    """The 44-digit barcode of a linha digitável written with any punctuation or spaces; ValueError on a bad DV."""
    if not isinstance(line, str):
        raise TypeError(f"line must be a str, got {type(line).__name__}")
    if any(c.isalnum() and c not in string.digits for c in line):
        raise ValueError(f"linha digitável may hold only digits, spaces and punctuation, got {line!r}")
    digits = "".join(c for c in line if c in string.digits)
    if len(digits) != 47:
        raise ValueError(f"linha digitável must have 47 digits, got {len(digits)}")
    fields = ((1, digits[0:9], digits[9]), (2, digits[10:20], digits[20]), (3, digits[21:31], digits[31]))
    for number, body, dv in fields:
        expected = mod10(body)
        if int(dv) != expected:
            raise ValueError(f"linha digitável field {number} check digit is {dv}, expected {expected}")
    code = digits[0:4] + digits[32] + digits[33:47] + digits[4:9] + digits[10:20] + digits[21:31]
    return _check_barcode(code)


# --- campo livre (25 digits, bank-specific) ----------------------------------------------------------------


def free_field_bb(convenio: str, complemento: str, carteira: str) -> str:
    """Banco do Brasil, convênio of 7 digits: 000000 + convênio(7) + complemento do nosso número(10) + carteira(2)."""
    _digits("convenio", convenio, 7)
    _digits("complemento", complemento, 10)
    _digits("carteira", carteira, 2)
    return "000000" + convenio + complemento + carteira


def free_field_itau(carteira: str, nosso_numero: str, agencia: str, conta: str) -> str:
    """Itaú: carteira(3) + nosso número(8) + DAC + agência(4) + conta(5) + DAC(agência+conta) + 000."""
    dac = itau_nosso_numero_dac(agencia, conta, carteira, nosso_numero)  # validates all four
    return carteira + nosso_numero + dac + agencia + conta + str(mod10(agencia + conta)) + "000"


def free_field_bradesco(agencia: str, carteira: str, nosso_numero: str, conta: str) -> str:
    """Bradesco: agência(4) + carteira(2) + nosso número(11) + conta(7) + 0 (the nosso número DV is not in it)."""
    _digits("agencia", agencia, 4)
    _digits("carteira", carteira, 2)
    _digits("nosso_numero", nosso_numero, 11)
    _digits("conta", conta, 7)
    return agencia + carteira + nosso_numero + conta + "0"


# --- business days -----------------------------------------------------------------------------------------


@functools.cache
def _bvmf_holidays(year: int) -> frozenset[date]:
    # Imported here so the barcode functions do not pay for loading the holidays package.
    import holidays

    return frozenset(holidays.financial_holidays("BVMF", years=year))


def _is_business_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _bvmf_holidays(day.year)


def next_business_day(day: date) -> date:
    """`day` itself when it is a business day, else the next one (weekends and B3/BVMF holidays move forward)."""
    require_date("day", day)
    while not _is_business_day(day):
        day += timedelta(days=1)
    return day
