"""The decrease window (NCE's "cancellation window"), in one place. Pure: no Flask app, no database.

- Its length: a product's `decrease_window_hours`, by default 168 h (7 days) for Microsoft CSP's new-commerce
  products and 0 for the reseller's own services (their decreases always wait for the term end).
- When it starts: every lot (licenses added together: a purchase, an increase, a renewal) opens its own window
  when it is added (`window_end`).
- What it allows: while a lot's window is open, licenses taken from it leave now with a pró-rata credit
  (`billing.prorata.plan_decrease`); once it closed, a decrease waits for the end of the term, without credit.
- Its words: "7 dias", "168 horas", "reduções só nos primeiros 7 dias".
"""

from datetime import datetime, timedelta

from flask_babel import gettext as _
from flask_babel import ngettext

# Keys are `catalog.models.Provider` values (a StrEnum, so Provider.MICROSOFT_CSP finds "microsoft_csp").
DEFAULT_HOURS = {"microsoft_csp": 168, "own_service": 0}  # NCE: 7 days; own: term end
MAX_HOURS = 24 * 366  # a decrease window longer than a year means a typo


def default_hours(provider: str) -> int:
    """The window of a new product of `provider` when staff leave it blank."""
    return DEFAULT_HOURS[provider]


def window_end(added_at: datetime, hours: int) -> datetime:
    """When the window of a lot added at `added_at` closes (`added_at` itself for a 0 h window)."""
    return added_at + timedelta(hours=hours)


def is_open(window_end_: datetime, at: datetime) -> bool:
    """True while a lot's licenses may still leave now, with credit: strictly before its window's end."""
    return window_end_ > at


def words(hours: int, unit: str = "hours") -> str:
    """A decrease window as people say it: "168 horas", or "7 dias" when asked for days and it is whole days."""
    if unit == "days" and hours % 24 == 0:
        return ngettext("%(num)d dia", "%(num)d dias", hours // 24)
    return ngettext("%(num)d hora", "%(num)d horas", hours)


def limit_words(hours: int, provider: str) -> str:
    """What the window means for a product on the catalog's cards: "reduções só nos primeiros 7 dias"."""
    if hours and hours % 24 == 0:
        return ngettext("reduções só nos primeiros %(num)d dia", "reduções só nos primeiros %(num)d dias",
                        hours // 24)
    if hours:
        return ngettext("reduções só nas primeiras %(num)d hora", "reduções só nas primeiras %(num)d horas", hours)
    if provider == "own_service":
        return _("serviço próprio: reduções no fim do termo")
    return _("reduções no fim do termo")
