"""Form pieces every room uses: translated validator messages and a checkbox list."""

from flask_babel import lazy_gettext as _l
from wtforms import SelectMultipleField
from wtforms.validators import DataRequired, Email, Length
from wtforms.widgets import CheckboxInput, ListWidget


def required():
    return DataRequired(message=_l("Preencha este campo."))


def email_address():
    return Email(message=_l("Informe um e-mail válido."), check_deliverability=False)


def max_length(n: int):
    return Length(max=n, message=_l("Use no máximo %(max)d caracteres."))


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()
