"""The base of every list's filters: read from the URL, never raise, explain what was ignored.

A list's filters are a dataclass deriving from `ListFilters`; its parser reads the arguments with the
readers below, each of which returns None (or False, or "") for a value it cannot use and records why in
`errors` under the argument's name. Templates show `raw` back in the form and `errors` with the macros of
`templates/_filters.html`.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Self, TypeVar

from flask_babel import gettext as _

from portal.shared.dates import MAX_YEAR, MIN_YEAR, filter_day

MAX_SEARCH = 200  # characters of a free-text search that are used
_TRUE = {"1", "on", "sim", "true"}
_FALSE = {"", "0", "off", "nao", "não", "false"}
T = TypeVar("T")


@dataclass
class ListFilters:
    raw: dict[str, str] = field(default_factory=dict)  # what was typed, shown back in the form
    errors: dict[str, str] = field(default_factory=dict)  # argument name → translated message (ignored)

    @classmethod
    def reading(cls, args: Mapping[str, Any], *names: str, **values: Any) -> Self:
        """An instance holding `names` from `args` (request.args), stripped and cut to MAX_SEARCH characters."""
        raw = {name: (args.get(name) or "").strip()[:MAX_SEARCH] for name in names}
        return cls(raw=raw, **values)

    def query_args(self) -> dict[str, str]:
        """The URL arguments of the filters in use (for the pager and tabs): ignored ones are left out."""
        return {name: value for name, value in self.raw.items() if value and name not in self.errors}

    def text(self, name: str) -> str:
        return self.raw.get(name, "")

    def choice(self, name: str, choices: Mapping[str, T], message: str, *, lower: bool = True) -> T | None:
        """The value `choices` maps the argument to, or None. An unknown value is explained by `message`: a
        translated text with a `%(value)s` placeholder, e.g. `_("Situação desconhecida: “%(value)s”.")`."""
        typed = self.raw.get(name, "")
        if not typed:
            return None
        value = choices.get(typed.lower() if lower else typed)
        if value is None:
            self.errors[name] = message % {"value": typed[:40]}
        return value

    def year(self, name: str) -> int | None:
        typed = self.raw.get(name, "")
        if not typed:
            return None
        if typed.isascii() and typed.isdigit() and MIN_YEAR <= int(typed) <= MAX_YEAR:
            return int(typed)
        self.errors[name] = _("“%(value)s” não é um ano: use quatro algarismos, como 2026. Este filtro foi "
                              "ignorado.", value=typed[:40])
        return None

    def flag(self, name: str) -> bool:
        typed = self.raw.get(name, "").lower()
        if typed in _TRUE:
            return True
        if typed not in _FALSE:
            self.errors[name] = _("Valor não reconhecido: “%(value)s”. Este filtro foi ignorado.",
                                  value=self.raw[name][:40])
        return False

    def day(self, name: str) -> date | None:
        typed = self.raw.get(name, "")
        if not typed:
            return None
        day, error = filter_day(typed)
        if error:
            self.errors[name] = error
        return day

    def period(self, start: str, end: str) -> tuple[date | None, date | None]:
        """Two dates, both inclusive; an end before the start is ignored and explained."""
        first, last = self.day(start), self.day(end)
        if first and last and first > last:
            self.errors[end] = _("A data final é anterior à inicial. Este filtro foi ignorado.")
            last = None
        return first, last
