"""Input of the "Faturas" pages: the list's filters (from the query string), the billing contacts form and the
2ª via confirmation."""

from dataclasses import dataclass

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, StringField
from wtforms.validators import ValidationError

from portal.billing.models import INVOICE_STATUS_LABELS
from portal.shared.filters import ListFilters
from portal.shared.forms import MultiCheckboxField, email_address, max_length, required

# Query-string values (Portuguese, as customers read them in the URL) → display_status values.
STATUS_SLUGS = {
    "aberta": "open",
    "vencida": "overdue",
    "paga": "paid",
    "cancelada": "cancelled",
}
STATUS_CHOICES = [(slug, INVOICE_STATUS_LABELS[value]) for slug, value in STATUS_SLUGS.items()]


@dataclass
class InvoiceFilters(ListFilters):
    """The list's filters once read; a value that could not be read is None and explained in `errors`."""

    year: int | None = None
    status: str | None = None  # "open" (not yet due), "overdue", "paid", "cancelled"
    cost_centre: str | None = None  # invoices with at least one line of this cost centre (exact, as typed on it)
    by_cost_centre: bool = False  # the CSV: one row per (invoice, cost centre)


GROUPINGS = {"centro_de_custo": True}


def parse_filters(args) -> InvoiceFilters:
    """Read `ano`, `situacao`, `centro_de_custo` (and, for the CSV, `agrupar`) from `args` (request.args). Never
    raises: a bad value is ignored and explained."""
    filters = InvoiceFilters.reading(args, "ano", "situacao", "centro_de_custo", "agrupar")
    filters.year = ListFilters.year(filters, "ano")  # the reader (the dataclass field `year` hides it)
    filters.status = filters.choice("situacao", STATUS_SLUGS, _("Situação desconhecida: “%(value)s”. Mostrando "
                                                                "faturas em todas as situações."))
    filters.cost_centre = filters.text("centro_de_custo")[:60] or None
    filters.by_cost_centre = bool(filters.choice("agrupar", GROUPINGS, _("Agrupamento desconhecido: “%(value)s”. "
                                                                         "Uma linha por fatura.")))
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


class ReminderRecipientsForm(FlaskForm):
    """The Master's choice of who receives the reminders of the régua de cobrança: a checkbox per user (the
    view sets the choices: the organization's users; the service refuses anyone else)."""

    users = MultiCheckboxField(_l("Recebem os lembretes de vencimento"), coerce=int, validate_choice=False)


class AccountantForm(FlaskForm):
    """The accountant who receives the monthly pack, and the day of the following month it is sent."""

    email = EmailField(_l("E-mail do contador"), filters=[_strip],
                       validators=[required(), email_address(), max_length(254)])
    day = StringField(_l("Dia do envio"), filters=[_strip], validators=[required()],
                       description=_l("De 1 a 28: nesse dia de cada mês o contador recebe o pacote do mês anterior."),
                       render_kw={"min": 1, "max": 28, "inputmode": "numeric"})

    def validate_day(self, field):
        if not (field.data or "").isdigit() or not 1 <= int(field.data) <= 28:
            raise ValidationError(_("Escolha um dia entre 1 e 28."))

    @property
    def day_number(self) -> int | None:
        return int(self.day.data) if (self.day.data or "").isdigit() else None
