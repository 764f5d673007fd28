"""Argument checks of the pure modules (pró-rata, periods, boleto): a wrong type is a bug in the caller, said
at once in English for the log — never a message for a page."""

from datetime import date, datetime


def require_int(name: str, value: object) -> int:
    # bool is an int subclass, but True licenses or True centavos is always a bug.
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    return value


def require_date(name: str, value: object) -> date:
    # A datetime is a date subclass; refusing it keeps "which timezone was that?" out of billing.
    if not isinstance(value, date) or isinstance(value, datetime):
        raise TypeError(f"{name} must be a date (a business date), got {type(value).__name__}")
    return value
