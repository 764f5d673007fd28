"""Forms of the customer catalog: a quantity to put in the cart, or to set a cart line to."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField
from wtforms.validators import InputRequired, NumberRange, StopValidation


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
