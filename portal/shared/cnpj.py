"""CNPJ, numeric and alphanumeric (IN RFB 2.229/2024), per ../shared/specs/cnpj.md. Pure.

The check is written out from the spec; tests/unit/test_cnpj.py cross-checks it against python-stdnum.
"""

import re

_STRICT = re.compile(r"^[0-9A-Z]{12}[0-9]{2}$")
_WEIGHTS_1 = (5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)
_WEIGHTS_2 = (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)


def compact(value: str) -> str:
    """Drop the mask and spaces and upper-case: `12.abc.345/01de-35` → `12ABC34501DE35`."""
    return re.sub(r"[\s./-]", "", value or "").upper()


def _check_digit(chars: str, weights: tuple[int, ...]) -> int:
    # Each character's value is ord(c) - 48: digits 0–9, A=17 … Z=42.
    remainder = sum((ord(c) - 48) * w for c, w in zip(chars, weights, strict=True)) % 11
    return 0 if remainder < 2 else 11 - remainder


def is_valid(value: str) -> bool:
    number = compact(value)
    if not _STRICT.match(number) or len(set(number)) == 1:
        return False
    dv1 = _check_digit(number[:12], _WEIGHTS_1)
    dv2 = _check_digit(number[:12] + str(dv1), _WEIGHTS_2)
    return number[12:] == f"{dv1}{dv2}"


def format(value: str) -> str:  # noqa: A001 - the spec names it `format`
    """`12ABC34501DE35` → `12.ABC.345/01DE-35`."""
    n = compact(value)
    return f"{n[:2]}.{n[2:5]}.{n[5:8]}/{n[8:12]}-{n[12:]}"
