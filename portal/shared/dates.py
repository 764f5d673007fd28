"""Dates as people type them in the backoffice: `31/12/2026`, or `2026-12-31` as a date input sends it."""

import re
from datetime import date

from flask_babel import gettext as _

MIN_YEAR, MAX_YEAR = 2000, 2999  # outside these years a date is a typo, and day + 1 must not overflow
_DAY_FIRST = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$", re.ASCII)  # 31/12/2026, as typed
_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$", re.ASCII)  # 2026-12-31, as a date input sends it


class YearOutOfRange(ValueError):
    """A real date, but outside MIN_YEAR..MAX_YEAR."""


def parse_day(value: str) -> date:
    """The date typed; ValueError for anything else (31/02 included), YearOutOfRange outside the years."""
    value = value.strip()
    match = _DAY_FIRST.match(value)
    if match:
        day, month, year = (int(part) for part in match.groups())
    else:
        match = _ISO.match(value)
        if not match:
            raise ValueError(value)
        year, month, day = (int(part) for part in match.groups())
    found = date(year, month, day)
    if not MIN_YEAR <= found.year <= MAX_YEAR:
        raise YearOutOfRange(value)
    return found


def filter_day(value: str) -> tuple[date | None, str | None]:
    """A list filter's date: (the date, None), or (None, why the filter is ignored, for the page)."""
    try:
        return parse_day(value), None
    except YearOutOfRange:
        return None, _("Use uma data entre %(first)s e %(last)s. Este filtro foi ignorado.",
                       first=f"01/01/{MIN_YEAR}", last=f"31/12/{MAX_YEAR}")
    except ValueError:
        return None, _("“%(value)s” não é uma data válida: use dd/mm/aaaa. Este filtro foi ignorado.",
                       value=value[:40])
