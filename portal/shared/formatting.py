"""Display helpers in the current UI language: money (`R$ 1.234,56`) and dates (`22/11/2026`)."""

import functools
from datetime import date, datetime, timedelta

from babel.dates import format_date as babel_format_date
from flask_babel import get_locale
from flask_babel import gettext as _

from portal.shared import clock
from portal.shared.money import format_brl


def _locale() -> str:
    locale = get_locale()
    return "pt_BR" if locale is None else _locale_name(locale)


@functools.lru_cache(maxsize=16)
def _locale_name(locale) -> str:
    return str(locale)  # babel builds the identifier on every str(); money and dates ask for it per value


def format_money(centavos: int) -> str:
    return format_brl(centavos, _locale())


def format_date(value: date | datetime | None) -> str:
    """`22/11/2026` in Portuguese, `11/22/2026` in English; datetimes are shown in business time."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = clock.to_business(value).date()
    if _locale().startswith("pt"):
        return value.strftime("%d/%m/%Y")
    return babel_format_date(value, format="MM/dd/yyyy", locale="en")


def period_last_day(end_exclusive: date) -> date:
    """Periods are stored [start, end): the last day they include, the one people read."""
    return end_exclusive - timedelta(days=1)


def format_period(start: date | None, end_exclusive: date | None) -> str:
    """The one way a stored period [start, end) is shown (pages, PDFs, e-mails): `03/12/2026 a 02/01/2027`, its
    first and last included days (the template filter `period`: `{{ start|period(end) }}`)."""
    if start is None or end_exclusive is None:
        return ""
    return _("%(start)s a %(end)s", start=format_date(start), end=format_date(period_last_day(end_exclusive)))


def format_datetime(value: datetime | None) -> str:
    """`22/11/2026 14:05` in business time (America/Sao_Paulo)."""
    if value is None:
        return ""
    local = clock.to_business(value)
    return f"{format_date(local.date())} {local:%H:%M}"


def duration_label(delta: timedelta) -> str:
    """"42 min", "2 h 10 min", "3 h", "3 d 4 h": how long, for staff scanning a queue or a list."""
    minutes = max(int(delta.total_seconds() // 60), 0)
    if minutes < 1:
        return _("menos de 1 min")
    if minutes < 60:
        return _("%(m)d min", m=minutes)
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return _("%(h)d h %(m)02d min", h=hours, m=minutes) if minutes else _("%(h)d h", h=hours)
    days, hours = divmod(hours, 24)
    return _("%(d)d d %(h)d h", d=days, h=hours) if hours else _("%(d)d d", d=days)


# A CSV cell starting with one of these is a formula to a spreadsheet: what a person typed must not run.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_text(value: str | None) -> str:
    """Text for a CSV cell that a spreadsheet shows as typed: a leading formula character gets a quote before it."""
    value = value or ""
    return f"'{value}" if value.startswith(_FORMULA_START) else value
