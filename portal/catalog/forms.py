"""Forms of the customer catalog: a quantity to put in the cart, or to set a cart line to."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField
from wtforms.validators import InputRequired


def quantity_required():
    # InputRequired, not DataRequired: 0 is a quantity (it takes a cart line out), not an empty field.
    return InputRequired(message=_l("Informe a quantidade."))


class AddToCartForm(FlaskForm):
    product_id = IntegerField(validators=[InputRequired(message=_l("Produto não encontrado."))])
    quantity = IntegerField(_l("Quantidade"), validators=[quantity_required()])
    next = HiddenField()  # the page to go back to (a same-site path)


class CartQuantityForm(FlaskForm):
    quantity = IntegerField(_l("Quantidade"), validators=[quantity_required()])
