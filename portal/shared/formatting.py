"""Display helpers in the current UI language: money (`R$ 1.234,56`) and dates (`22/11/2026`)."""

import functools
from datetime import date, datetime, timedelta

from babel.dates import format_date as babel_format_date
from flask.globals import _cv_app
from flask_babel import get_locale
from flask_babel import gettext as _

from portal.shared import clock
from portal.shared.money import format_brl


def _locale() -> str:
    # Pages format hundreds of values: the locale flask_babel already chose for this request (or set by
    # force_locale) is read straight from the application context's `g`, where flask_babel keeps it, and its
    # name is remembered beside it for as long as it is that same Locale object; the first call of a request,
    # or one outside any context, asks flask_babel.
    context = _cv_app.get(None)
    kept = getattr(context.g, "_flask_babel", None) if context is not None else None
    locale = getattr(kept, "babel_locale", None)
    if locale is None:
        locale = get_locale()
        if locale is None:
            return "pt_BR"
    else:
        named = getattr(kept, "_portal_locale_name", None)
        if named is not None and named[0] is locale:
            return named[1]
    name = _locale_name(locale)
    if kept is not None:
        kept._portal_locale_name = (locale, name)
    return name


def current_locale_name() -> str:
    """The current UI language's name ("pt_BR", "en"), cheaply: for caches of words translated once per language."""
    return _locale()


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
    return _day(value, _locale())


def _day(value: date, locale: str) -> str:
    if locale.startswith("pt"):
        return f"{value.day:02d}/{value.month:02d}/{value.year:04d}"  # strftime("%d/%m/%Y"), a third of its time
    return babel_format_date(value, format="MM/dd/yyyy", locale="en")


def period_last_day(end_exclusive: date) -> date:
    """Periods are stored [start, end): the last day they include, the one people read."""
    return end_exclusive - timedelta(days=1)


def format_period(start: date | None, end_exclusive: date | None) -> str:
    """The one way a stored period [start, end) is shown (pages, PDFs, e-mails): `03/12/2026 a 02/01/2027`, its
    first and last included days (the template filter `period`: `{{ start|period(end) }}`)."""
    if start is None or end_exclusive is None:
        return ""
    locale = _locale()
    return _period_pattern(locale) % {"start": _day(start, locale), "end": _day(end_exclusive - _ONE_DAY, locale)}


_ONE_DAY = timedelta(days=1)


@functools.lru_cache(maxsize=16)
def _period_pattern(locale: str) -> str:
    """"%(start)s a %(end)s" in `locale` (the current one: the argument only keys the cache)."""
    return _("%(start)s a %(end)s")


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
