"""Money as integer centavos (BRL) and its display. Pure: no Flask, no database."""

from decimal import Decimal
from fractions import Fraction

Centavos = int


def round_half_up(value: Fraction | Decimal | int) -> Centavos:
    """Round an exact amount of centavos to a whole centavo, halves away from zero (ROUND_HALF_UP).

    Exact at any size: integer arithmetic on the fraction, never the ambient Decimal precision.
    """
    if isinstance(value, bool) or not isinstance(value, int | Fraction | Decimal):
        raise TypeError(f"an exact amount (int, Fraction or Decimal) is needed, not {type(value).__name__}")
    if isinstance(value, int):
        return value
    exact = Fraction(value)
    numerator, denominator = abs(exact.numerator), exact.denominator
    magnitude = (2 * numerator + denominator) // (2 * denominator)
    return magnitude if exact >= 0 else -magnitude


def format_brl(centavos: Centavos, locale: str = "pt_BR") -> str:
    """`123456` → `R$ 1.234,56` (pt_BR) or `R$1,234.56` (en); negatives get a leading minus."""
    if not isinstance(centavos, int) or isinstance(centavos, bool):
        raise TypeError("money is an int of centavos")
    sign = "-" if centavos < 0 else ""
    reais, cents = divmod(abs(centavos), 100)
    if locale.startswith("pt"):
        return f"{sign}R$ {reais:_},{cents:02d}".replace("_", ".")  # "_": Python's own thousands grouping
    return f"{sign}R${reais:,}.{cents:02d}"


def parse_brl(text: str) -> Centavos:
    """Parse what a Brazilian user types (`1.234,56`, `R$ 10`, `10,5`) into centavos; ValueError if unreadable."""
    cleaned = text.strip().replace("R$", "").replace("\xa0", "").replace(" ", "")
    negative = cleaned.startswith("-")
    cleaned = cleaned.lstrip("-")
    if not cleaned:
        raise ValueError("empty amount")
    if "," in cleaned:
        whole, _, frac = cleaned.rpartition(",")
    else:
        whole, frac = cleaned, ""
    if "." in whole:  # dots only as thousands separators: 1.234.567 (never 1.2.3 nor 1234.56)
        groups = whole.split(".")
        if not (1 <= len(groups[0]) <= 3 and all(len(group) == 3 for group in groups[1:])):
            raise ValueError(f"not an amount: {text!r}")
        whole = "".join(groups)
    if not whole.isdigit() and whole != "" or (frac and (not frac.isdigit() or len(frac) > 2)):
        raise ValueError(f"not an amount: {text!r}")
    value = int(whole or "0") * 100 + int(frac.ljust(2, "0") or "0")
    return -value if negative else value
