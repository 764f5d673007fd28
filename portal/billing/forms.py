"""Input of the "Faturas" pages: the list's filters (from the query string), the billing contacts form and the
2ª via confirmation."""

from dataclasses import dataclass, field

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, StringField

from portal.billing.models import INVOICE_STATUS_LABELS
from portal.shared.dates import MAX_YEAR, MIN_YEAR
from portal.shared.forms import email_address, max_length, required

# Query-string values (Portuguese, as customers read them in the URL) → display_status values.
STATUS_SLUGS = {
    "aberta": "open",
    "vencida": "overdue",
    "paga": "paid",
    "cancelada": "cancelled",
}
STATUS_CHOICES = [(slug, INVOICE_STATUS_LABELS[value]) for slug, value in STATUS_SLUGS.items()]


@dataclass
class InvoiceFilters:
    """The list's filters once read; a value that could not be read is None and explained in `errors`."""

    year: int | None = None
    status: str | None = None  # "open" (not yet due), "overdue", "paid", "cancelled"
    raw: dict[str, str] = field(default_factory=dict)  # what was typed, shown back in the form
    errors: dict[str, str] = field(default_factory=dict)  # field name → translated message

    def query_args(self) -> dict[str, str]:
        """The URL arguments of the filters in use (for the pager); ignored ones are left out."""
        return {name: value for name, value in self.raw.items() if value and name not in self.errors}


def parse_filters(args) -> InvoiceFilters:
    """Read `ano` and `situacao` from `args` (request.args). Never raises: a bad value is ignored and explained."""
    raw = {name: (args.get(name) or "").strip() for name in ("ano", "situacao")}
    filters = InvoiceFilters(raw=raw)
    if raw["ano"]:
        if raw["ano"].isascii() and raw["ano"].isdigit() and MIN_YEAR <= int(raw["ano"]) <= MAX_YEAR:
            filters.year = int(raw["ano"])
        else:
            filters.errors["ano"] = _("“%(value)s” não é um ano: use quatro algarismos, como 2026. "
                                      "Mostrando faturas de todos os anos.", value=raw["ano"][:40])
    if raw["situacao"]:
        filters.status = STATUS_SLUGS.get(raw["situacao"].lower())
        if filters.status is None:
            filters.errors["situacao"] = _("Situação desconhecida: “%(value)s”. Mostrando faturas em todas as "
                                           "situações.", value=raw["situacao"][:40])
    return filters


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class BillingContactForm(FlaskForm):
    email = EmailField(_l("E-mail"), filters=[_strip], validators=[required(), email_address(), max_length(254)])
    name = StringField(_l("Nome ou setor (opcional)"), filters=[_strip], validators=[max_length(200)],
                       description=_l("Por exemplo: Contas a pagar."))


class ActionForm(FlaskForm):
    """A POST button (remover): CSRF only."""


class SecondCopyForm(FlaskForm):
    """The confirmation of a 2ª via: the amount and due date that were shown, so a change is noticed."""

    total_cents = HiddenField()
    new_due = HiddenField()
