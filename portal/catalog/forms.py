"""Forms of the catalog: a quantity to put in the cart, or to set a cart line to (customers); families, products and
dated prices (staff)."""

import re

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired, NumberRange, Optional, StopValidation, ValidationError

from portal.catalog.models import BILLING_LABELS, PROVIDER_LABELS, TERM_LABELS
from portal.catalog.service import MAX_POSITION, MAX_QUANTITY, MAX_WINDOW_HOURS, all_families
from portal.shared.forms import max_length, required
from portal.shared.money import parse_brl


class _NumberRequired(InputRequired):
    """InputRequired, not DataRequired: 0 is a number (a quantity that takes a cart line out, a position), not an
    empty field. When something unreadable was typed ("dez"), the field's own message stays alone: no range
    check after it."""

    def __call__(self, form, field):
        typed = field.raw_data[0] if field.raw_data else None
        if field.process_errors and isinstance(typed, str) and typed.strip():
            raise StopValidation()
        super().__call__(form, field)


def number_required(message=None):
    return _NumberRequired(message=message or _l("Preencha este campo."))


def quantity_required():
    return number_required(_l("Informe a quantidade."))


class AddToCartForm(FlaskForm):
    product_id = IntegerField(validators=[InputRequired(message=_l("Produto não encontrado."))])
    # At least 1: adding is on top of what the cart holds, and a negative number would take licenses out.
    quantity = IntegerField(_l("Quantidade"), validators=[
        quantity_required(), NumberRange(min=1, message=_l("Adicione pelo menos 1 licença."))])
    next = HiddenField()  # the page to go back to (a same-site path)


class CartQuantityForm(FlaskForm):
    quantity = IntegerField(_l("Quantidade"), validators=[quantity_required()])


def _stop_if_unreadable(form, field):
    """After Optional(): what was typed is not a number; its own message is enough (no range check)."""
    if field.process_errors:
        raise StopValidation()


def family_choices():
    return [SelectChoice("", "—")] + [
        SelectChoice(f.id, f.name if f.active else _l("%(name)s (inativa)", name=f.name)) for f in all_families()
    ]


def _coerce_id(value):
    return int(value) if value not in (None, "") else None


class FamilyForm(FlaskForm):
    name = StringField(_l("Nome"), validators=[required(), max_length(100)])
    description = StringField(_l("Descrição"), validators=[Optional(), max_length(500)])
    position = IntegerField(
        _l("Posição"), default=0, description=_l("Ordem no catálogo: menor aparece primeiro."),
        validators=[number_required(), NumberRange(min=0, max=MAX_POSITION,
                                                    message=_l("A posição vai de %(min)s a %(max)s."))],
    )
    active = BooleanField(_l("Ativa (aparece no catálogo dos clientes)"), default=True)


class SkuListField(StringField):
    """SKUs separated by commas, semicolons, spaces or lines; `data` is the list of SKUs written."""

    def process_data(self, value):
        self.data = list(value or [])

    def process_formdata(self, valuelist):
        if valuelist:
            self.data = [item for item in re.split(r"[,;\s]+", valuelist[0]) if item]

    def _value(self) -> str:
        return ", ".join(self.data or [])


class ProductForm(FlaskForm):
    sku = StringField(_l("SKU"), validators=[required(), max_length(60)])
    name = StringField(_l("Nome"), validators=[required(), max_length(200)])
    description = TextAreaField(_l("Descrição"), validators=[Optional(), max_length(5000)])
    family_id = SelectField(_l("Família de produtos"), coerce=_coerce_id, choices=family_choices,
                            validators=[InputRequired(message=_l("Escolha a família de produtos."))])
    provider = SelectField(_l("Fornecedor"),
                           choices=[SelectChoice(str(k), v) for k, v in PROVIDER_LABELS.items()])
    offer_id = StringField(
        _l("Oferta no Partner Center"), validators=[Optional(), max_length(120)],
        description=_l("productId:skuId:availabilityId, só para Microsoft CSP; vazio para serviço próprio."),
    )
    term = SelectField(_l("Termo"), choices=[SelectChoice(str(k), v) for k, v in TERM_LABELS.items()])
    billing_frequency = SelectField(_l("Frequência de cobrança"),
                                    choices=[SelectChoice(str(k), v) for k, v in BILLING_LABELS.items()])
    decrease_window_hours = IntegerField(
        _l("Janela de redução (horas)"),
        description=_l("Vazio: 168 para Microsoft (NCE, 7 dias), 0 para serviço próprio (reduções no fim do termo)."),
        validators=[Optional(), _stop_if_unreadable, NumberRange(min=0, max=MAX_WINDOW_HOURS,
                                            message=_l("A janela de redução vai de %(min)s a %(max)s horas."))],
    )
    min_quantity = IntegerField(
        _l("Quantidade mínima"), default=1,
        validators=[number_required(), NumberRange(min=1, max=MAX_QUANTITY,
                                                    message=_l("A quantidade mínima vai de %(min)s a %(max)s."))],
    )
    max_quantity = IntegerField(
        _l("Quantidade máxima"), default=10_000,
        validators=[number_required(), NumberRange(min=1, max=MAX_QUANTITY,
                                                    message=_l("A quantidade máxima vai de %(min)s a %(max)s."))],
    )
    active = BooleanField(_l("Ativo (à venda no catálogo)"), default=True)
    upgrade_to = SkuListField(
        _l("Upgrades na renovação (SKUs)"), validators=[Optional(), max_length(1500)],
        description=_l("SKUs de outros produtos Microsoft para os quais uma assinatura deste produto pode mudar na "
                       "renovação, separados por vírgula. Outro termo do mesmo produto não precisa estar aqui."),
    )

    def validate_max_quantity(self, field):
        if isinstance(self.min_quantity.data, int) and isinstance(field.data, int) \
                and field.data < self.min_quantity.data:
            raise ValidationError(_l("A quantidade máxima não pode ser menor que a mínima."))


class PriceForm(FlaskForm):
    unit_price = StringField(_l("Preço unitário por período (R$)"), validators=[required(), max_length(30)],
                             description=_l("Por licença, por mês ou por ano conforme a cobrança. Ex.: 1.234,56"))
    effective_from = DateField(
        _l("Vale a partir de"), format=["%Y-%m-%d", "%d/%m/%Y"],
        invalid_value_message=_l("Informe a data no formato dd/mm/aaaa."),
        validators=[InputRequired(message=_l("Informe a data de início da vigência."))],
    )

    unit_price_cents: int | None = None

    def validate_unit_price(self, field):
        try:
            cents = parse_brl(field.data or "")
        except ValueError:
            raise ValidationError(_l("Valor inválido: use o formato 1.234,56.")) from None
        if cents < 0:
            raise ValidationError(_l("O preço não pode ser negativo."))
        self.unit_price_cents = cents
