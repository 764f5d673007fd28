"""Forms of the licenses pages: "Alterar quantidades" (with the cancellation reason) and the confirmation; the staff
"Pedidos" input: the list's filters (read from the query string) and the staff action forms."""

from dataclasses import dataclass, field
from datetime import date

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectChoice, SelectField, TextAreaField
from wtforms.validators import InputRequired

from portal.cancellations.models import MIN_REASON_LENGTH, REASON_LABELS, ReasonCategory
from portal.shared.dates import filter_day
from portal.shared.forms import max_length
from portal.subscriptions.models import OrderKind, OrderStatus

MAX_REASON_LENGTH = 2000  # characters of free text kept with a cancellation request


class QuantityField(IntegerField):
    """A whole number of licenses; anything else ("dez", "2,5", "1e3") gets one clear message."""

    def process_formdata(self, valuelist):
        if not valuelist:
            return
        try:
            self.data = int(valuelist[0].strip())
        except ValueError as exc:  # also a number too long for int() to read
            self.data = None
            raise ValueError(_("Informe a quantidade em números inteiros, por exemplo 12.")) from exc


def reason_choices():
    return [SelectChoice("", _l("Escolha o motivo")),
            *(SelectChoice(str(category), REASON_LABELS[category]) for category in ReasonCategory)]


class ChangeQuantityForm(FlaskForm):
    # InputRequired, not DataRequired: 0 is a quantity (a cancellation), not an empty field.
    quantity = QuantityField(_l("Nova quantidade de licenças"),
                             validators=[InputRequired(message=_l("Preencha este campo."))],
                             render_kw={"min": 0, "inputmode": "numeric"})
    # Only read when the new quantity is 0 (a cancellation), where both are mandatory.
    category = SelectField(_l("Motivo do cancelamento"), choices=reason_choices, validate_choice=False)
    reason = TextAreaField(_l("Explique o motivo"), validators=[max_length(MAX_REASON_LENGTH)],
                           render_kw={"rows": 3})

    @property
    def cancels(self) -> bool:
        return self.quantity.data == 0 and not self.quantity.errors

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        if not self.cancels:
            return valid
        # Both problems at once, so the person fixes the form in one go (the service checks them again).
        if self.category.data not in {category.value for category in ReasonCategory}:
            self.category.errors.append(_("Escolha o motivo do cancelamento."))
            valid = False
        if len((self.reason.data or "").strip()) < MIN_REASON_LENGTH:
            self.reason.errors.append(
                _("Explique o motivo com pelo menos %(n)d caracteres.", n=MIN_REASON_LENGTH))
            valid = False
        return valid


class ConfirmForm(FlaskForm):
    """The "Confirmar" button: CSRF only (the quote's token in the URL is the idempotency key)."""


# Query-string values (Portuguese, as staff read them in the URL) → the stored values.
STATUS_SLUGS = {
    "pendente": OrderStatus.PENDING,
    "enviado": OrderStatus.SENT,
    "concluido": OrderStatus.DONE,
    "concluído": OrderStatus.DONE,
    "falhou": OrderStatus.FAILED,
}
KIND_SLUGS = {
    "quantidade": OrderKind.QUANTITY_CHANGE,
    "renovacao": OrderKind.RENEWAL_QUANTITY,
    "renovação": OrderKind.RENEWAL_QUANTITY,
    "compra": OrderKind.PURCHASE,
}
# The choices shown in the form, in this order: (slug, label).
STATUS_CHOICES = [("pendente", _l("pendente")), ("enviado", _l("enviado")), ("concluido", _l("concluído")),
                  ("falhou", _l("falhou"))]
KIND_CHOICES = [("quantidade", _l("alteração de quantidade")), ("renovacao", _l("quantidade na renovação")),
                ("compra", _l("compra"))]
_TRUE = {"1", "on", "sim", "true"}
_FALSE = {"", "0", "off", "nao", "não", "false"}
MAX_SEARCH = 200  # characters of the organization search that are used


@dataclass
class OrderFilters:
    """The list's filters once read; a value that could not be read is None and explained in `errors`."""

    status: str | None = None  # OrderStatus value
    kind: str | None = None  # OrderKind value
    overdue: bool = False  # "atrasados": open for longer than the promised 30 minutes
    needs_staff: bool = False  # "precisam da equipe": failed for good, or an own service's implantação
    organization: str = ""  # part of the razão social, nome fantasia or CNPJ
    created_from: date | None = None  # business dates, both inclusive
    created_to: date | None = None
    # What was typed, to show back in the form (valid or not).
    raw: dict[str, str] = field(default_factory=dict)
    # Field name → translated message for each value that was ignored.
    errors: dict[str, str] = field(default_factory=dict)

    def query_args(self) -> dict[str, str]:
        """The URL arguments of the filters in use (for the pager): those that were ignored are left out."""
        return {name: value for name, value in self.raw.items() if value and name not in self.errors}


def _flag(filters: OrderFilters, name: str, value: str) -> bool:
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered not in _FALSE:
        filters.errors[name] = _("Valor não reconhecido: “%(value)s”. Este filtro foi ignorado.", value=value[:40])
    return False


def parse_filters(args) -> OrderFilters:
    """Read the filters from `args` (request.args). Never raises: a bad value is ignored and explained."""
    raw = {name: (args.get(name) or "").strip()
           for name in ("situacao", "tipo", "atrasados", "equipe", "organizacao", "de", "ate")}
    filters = OrderFilters(raw=raw)
    if raw["situacao"]:
        filters.status = STATUS_SLUGS.get(raw["situacao"].lower())
        if filters.status is None:
            filters.errors["situacao"] = _(
                "Situação desconhecida: “%(value)s”. Mostrando pedidos em todas as situações.",
                value=raw["situacao"][:40])
    if raw["tipo"]:
        filters.kind = KIND_SLUGS.get(raw["tipo"].lower())
        if filters.kind is None:
            filters.errors["tipo"] = _("Tipo desconhecido: “%(value)s”. Mostrando pedidos de todos os tipos.",
                                       value=raw["tipo"][:40])
    filters.overdue = _flag(filters, "atrasados", raw["atrasados"])
    filters.needs_staff = _flag(filters, "equipe", raw["equipe"])
    filters.organization = raw["organizacao"][:MAX_SEARCH]
    for name, attribute in (("de", "created_from"), ("ate", "created_to")):
        if not raw[name]:
            continue
        day, error = filter_day(raw[name])
        if error:
            filters.errors[name] = error
            continue
        setattr(filters, attribute, day)
    if filters.created_from and filters.created_to and filters.created_from > filters.created_to:
        filters.errors["ate"] = _("A data final é anterior à inicial. Este filtro foi ignorado.")
        filters.created_to = None
    return filters


class CompleteOrderForm(FlaskForm):
    """Staff finished an order by hand; the note says what was done (the service requires ≥ 5 characters)."""

    note = TextAreaField(_l("O que foi feito"), validators=[max_length(1000)],
                         description=_l("Por exemplo: backup configurado no servidor do cliente, ou quantidade "
                                        "alterada diretamente no Partner Center. O cliente recebe um e-mail."))


class OrderActionForm(FlaskForm):
    """A POST button (reenviar): CSRF only."""
