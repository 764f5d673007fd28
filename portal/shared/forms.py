"""Form pieces every room uses: translated validator messages and a checkbox list.

WTForms' own messages ("Not a valid choice.", "Not a valid integer value.", CSRF errors…) follow the
UI language without a catalog of ours: Flask-WTF loads WTForms' bundled catalogs (domain "wtforms")
for the current locale, and pt_BR falls back to WTForms' "pt" ("Escolha inválida."). Flask-WTF reads that
catalog from disk again on every request that makes a form with a number field (its messages are looked up as the
field is made): here it is read once per locale (`wtforms_translations`, installed over Flask-WTF's own).
"""

from babel import support
from flask import current_app, flash, request
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf import i18n as flask_wtf_i18n
from markupsafe import Markup, escape
from wtforms import SelectMultipleField
from wtforms.validators import DataRequired, Email, Length, StopValidation
from wtforms.widgets import CheckboxInput, ListWidget
from wtforms.widgets import core as _widgets

_QUOTE, _ESCAPED_QUOTE = Markup('"'), Markup("&quot;")


def html_params(**attributes) -> Markup:
    """WTForms' `html_params` — every widget's attributes, `name="value"` sorted by name, `True` bare, `False`
    left out — with the same output, three times faster: WTForms formats each attribute through `Markup.format`
    (Python's `string.Formatter`, ~15 µs an attribute), and a form page renders a few hundred attributes
    (tests/unit/test_forms_html_params.py compares both on every kind of value). Installed over WTForms' own
    below: where its widgets look it up on each call, and as the `Input` and `Button` widgets' own."""
    params = []
    for key, value in sorted(attributes.items()):
        key = _widgets.clean_key(key)
        if value is True:
            params.append(escape(key))
        elif value is not False:
            params.append(f'{escape(key)}="{escape(value).replace(_QUOTE, _ESCAPED_QUOTE)}"')
    return Markup(" ".join(params))  # noqa: S704 - every part escaped above


wtforms_html_params = _widgets.html_params
_widgets.html_params = html_params
_widgets.Input.html_params = _widgets.Button.html_params = staticmethod(html_params)

_wtforms_catalogs: dict[str, support.Translations] = {}


def wtforms_translations() -> support.Translations | None:
    """Flask-WTF's `_get_translations` (WTForms' catalog for the request's locale; None outside a request or
    without Flask-Babel), with the catalog kept per locale instead of loaded from disk on each request."""
    if not request or "babel" not in current_app.extensions:
        return None
    locale = get_locale()
    if locale is None:
        return None
    name = str(locale)
    found = _wtforms_catalogs.get(name)
    if found is None:
        found = _wtforms_catalogs[name] = support.Translations.load(
            flask_wtf_i18n.messages_path(), [locale], domain="wtforms")
    return found


flask_wtf_i18n._get_translations = wtforms_translations


class _Required(DataRequired):
    """DataRequired that does not hide a conversion error: "dez" typed in a number field is not an empty field.

    DataRequired sees the field's data (None when the input could not be read) and replaces the field's own
    message (e.g. "Not a valid integer value.", translated by WTForms) with "Preencha este campo.".
    When something was typed, keep the field's message and stop the chain (so range checks add nothing).
    """

    def __call__(self, form, field):
        typed = field.raw_data[0] if field.raw_data else None
        if field.process_errors and (typed.strip() if isinstance(typed, str) else typed):
            raise StopValidation()  # no message of its own: the field's process error stays
        super().__call__(form, field)


def required():
    return _Required(message=_l("Preencha este campo."))


def email_address():
    return Email(message=_l("Informe um e-mail válido."), check_deliverability=False)


def max_length(n: int):
    return Length(max=n, message=_l("Use no máximo %(max)d caracteres."))


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def show_error(form, error) -> None:
    """Put a service's refusal (a `ServiceError`) on the form: each message on its field, one without a field
    (or naming a field the form does not have) at the top of the page. The form keeps everything typed."""
    for name, messages in error.errors.items():
        target = getattr(form, name, None) if name else None
        if target is not None and hasattr(target, "errors"):
            target.errors = [*target.errors, *messages]
        else:
            for message in messages:
                flash(message, "danger")
