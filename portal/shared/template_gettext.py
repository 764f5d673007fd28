"""Templates' `_()`, `gettext()` and `ngettext()`: the translations looked up by locale in a dict.

flask_babel's own callables walk the request context, the domain and the locale on every call, and a page of 50
licenses makes hundreds of calls. Every render (`render_template` through a context processor, a fragment through
`portal.shared.fragments.render_fragment`) binds `_`, `gettext` and `ngettext` to the translations of the locale at
that moment, so a call is a catalog lookup; an e-mail rendered inside `force_locale` during a request gets its own
language, as its render binds again. The bound callables are made once per catalog and kept. Templates rendered
without either (macros imported without context) use the environment's callables, which read the locale on each
call.
"""

from numbers import Number
from typing import Any

from flask import Flask
from flask_babel import get_locale, get_translations
from jinja2 import pass_eval_context
from markupsafe import Markup

from portal.shared.templating import escape_output

_by_locale: dict[Any, Any] = {}
_bound: dict[int, tuple[Any, dict[str, Any]]] = {}


def translations() -> Any:
    """The current locale's catalog (flask_babel's, looked up once per locale)."""
    locale = get_locale()
    found = _by_locale.get(locale)
    if found is None:
        found = _by_locale[locale] = get_translations()
    return found


def bound() -> dict[str, Any]:
    """`_`, `gettext` and `ngettext` for a template render, bound to the current locale's catalog."""
    catalog = translations()
    kept = _bound.get(id(catalog))
    if kept is None or kept[0] is not catalog:
        kept = _bound[id(catalog)] = (catalog, _bind(catalog))
    return kept[1]


def markup_format(text: str, variables: dict[str, Any]) -> Markup:
    """`Markup(text) % variables` — each value escaped (`__html__` honoured), numbers as they are — without Markup's
    per-value helper objects (a page of invoice lines formats a sentence with three values on every line).
    tests/shared/test_template_gettext.py compares both on every kind of value a template passes."""
    escaped = {name: value if isinstance(value, Number) else escape_output(value) for name, value in variables.items()}
    return Markup(str.__mod__(text, escaped))  # noqa: S704 - `text` is our catalog's; every value escaped above


class Sentence(Markup):
    """A translated sentence a view translates once and a template fills on each row (`sentence % {"date": …}`):
    safe as Markup is, its `%` is `markup_format`'s."""

    __slots__ = ()

    def __mod__(self, values: dict[str, Any]) -> Markup:
        return markup_format(self, values)


def _bind(catalog: Any) -> dict[str, Any]:
    # The same contract as Jinja's "newstyle" gettext: the message is always a format string (so "%%" is "%"),
    # marked safe when autoescaping, its variables escaped.
    ugettext, ungettext = catalog.ugettext, catalog.ungettext

    # Only the evaluation context (autoescaping or not) is asked for: a function given the whole context is handed,
    # inside a loop that sets variables, a new context copying every global, on each call.
    @pass_eval_context
    def gettext(eval_ctx, message: str, **variables: Any) -> str:
        text = ugettext(message)
        return markup_format(text, variables) if eval_ctx.autoescape else text % variables

    @pass_eval_context
    def ngettext(eval_ctx, singular: str, plural: str, num: int, **variables: Any) -> str:
        variables.setdefault("num", num)
        text = ungettext(singular, plural, num)
        return markup_format(text, variables) if eval_ctx.autoescape else text % variables

    return {"_": gettext, "gettext": gettext, "ngettext": ngettext}


def install(app: Flask) -> None:
    """The environment's callables (for renders that bind nothing) and the context processor that binds."""
    app.jinja_env.install_gettext_callables(
        gettext=lambda message: translations().ugettext(message),
        ngettext=lambda singular, plural, n: translations().ungettext(singular, plural, n),
        pgettext=lambda context, message: translations().upgettext(context, message),
        npgettext=lambda context, singular, plural, n: translations().unpgettext(context, singular, plural, n),
        newstyle=True,
    )
    app.context_processor(bound)
