"""Forms of the licenses pages: "Alterar quantidades" (with the cancellation reason) and the confirmation; the staff
"Pedidos" input: the list's filters (read from the query string) and the staff action forms."""

from dataclasses import dataclass
from datetime import date

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired
from wtforms.widgets import HiddenInput

from portal.cancellations.models import MIN_REASON_LENGTH, REASON_LABELS, ReasonCategory
from portal.shared.filters import ListFilters
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


@dataclass
class OrderFilters(ListFilters):
    """The list's filters once read; a value that could not be read is None and explained in `errors`."""

    status: str | None = None  # OrderStatus value
    kind: str | None = None  # OrderKind value
    overdue: bool = False  # "atrasados": open for longer than the promised 30 minutes
    needs_staff: bool = False  # "precisam da equipe": failed for good, or an own service's implantação
    organization: str = ""  # part of the razão social, nome fantasia or CNPJ
    created_from: date | None = None  # business dates, both inclusive
    created_to: date | None = None


def parse_filters(args) -> OrderFilters:
    """Read the filters from `args` (request.args). Never raises: a bad value is ignored and explained."""
    filters = OrderFilters.reading(args, "situacao", "tipo", "atrasados", "equipe", "organizacao", "de", "ate")
    filters.status = filters.choice(
        "situacao", STATUS_SLUGS, _("Situação desconhecida: “%(value)s”. Mostrando pedidos em todas as situações."))
    filters.kind = filters.choice(
        "tipo", KIND_SLUGS, _("Tipo desconhecido: “%(value)s”. Mostrando pedidos de todos os tipos."))
    filters.overdue = filters.flag("atrasados")
    filters.needs_staff = filters.flag("equipe")
    filters.organization = filters.text("organizacao")
    filters.created_from, filters.created_to = filters.period("de", "ate")
    return filters


class CompleteOrderForm(FlaskForm):
    """Staff finished an order by hand; the note says what was done (the service requires ≥ 5 characters)."""

    note = TextAreaField(_l("O que foi feito"), validators=[max_length(1000)],
                         description=_l("Por exemplo: backup configurado no servidor do cliente, ou quantidade "
                                        "alterada diretamente no Partner Center. O cliente recebe um e-mail."))


class OrderActionForm(FlaskForm):
    """A POST button (reenviar): CSRF only."""


class ReferenceForm(FlaskForm):
    """A subscription's (or cart item's) purchase-order number and cost centre. Checked only by the service
    (purchase_orders.clean_references), which explains both fields' problems at once."""

    purchase_order = StringField(_l("Pedido de compra"), render_kw={"maxlength": 60},
                                 description=_l("Por exemplo: 4500012345. Sai nas faturas e na nota fiscal."))
    cost_centre = StringField(_l("Centro de custo"), render_kw={"maxlength": 60},
                              description=_l("Por exemplo: TI-SP. As faturas podem ser agrupadas por ele."))


class NextTermForm(FlaskForm):
    """"Mudar a renovação": the next term's product (its own, another term or billing, an upgrade) and quantity.
    The product's choices are the subscription's (`next_term.options`), set by the view; the service checks both."""

    product_id = SelectField(_l("Produto e termo a partir da renovação"), coerce=int, validate_choice=False)
    quantity = QuantityField(_l("Licenças a partir da renovação"),
                             validators=[InputRequired(message=_l("Preencha este campo."))],
                             render_kw={"min": 1, "inputmode": "numeric"})


class NextTermConfirmForm(FlaskForm):
    """The confirmation's "Agendar" button: the values shown, carried back in hidden fields and checked again."""

    product_id = IntegerField(widget=HiddenInput())
    quantity = IntegerField(widget=HiddenInput())


class NotRenewForm(FlaskForm):
    """"Não renovar": a cancellation at the term end (portal/cancellations), with its mandatory reason."""

    category = SelectField(_l("Motivo do cancelamento"), choices=reason_choices, validate_choice=False)
    reason = TextAreaField(_l("Explique o motivo"), validators=[max_length(MAX_REASON_LENGTH)],
                           render_kw={"rows": 3})

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        # Both problems at once (the cancellation checks them again when it is confirmed).
        if self.category.data not in {category.value for category in ReasonCategory}:
            self.category.errors.append(_("Escolha o motivo do cancelamento."))
            valid = False
        if len((self.reason.data or "").strip()) < MIN_REASON_LENGTH:
            self.reason.errors.append(_("Explique o motivo com pelo menos %(n)d caracteres.", n=MIN_REASON_LENGTH))
            valid = False
        return valid
