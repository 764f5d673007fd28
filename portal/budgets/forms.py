"""The budget page's form: the organization's monthly budget and one per product family, typed as "1.234,56"."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import ValidationError

from portal.shared.money import parse_brl

MAX_TYPED = 30  # characters; a longer value is refused unread


class MoneyField(StringField):
    """An amount of reais typed as a Brazilian writes it ("1.234,56", "R$ 900", "1500"); `data` is centavos, or
    None when left blank. What was typed stays in the field when it comes back with an error."""

    def process_formdata(self, valuelist):
        text = ((valuelist[0] if valuelist else "") or "").strip()
        self.data = None
        if not text:
            return
        if len(text) > MAX_TYPED:
            raise ValueError(_l("Valor inválido: use o formato 1.234,56."))
        try:
            self.data = parse_brl(text)
        except ValueError as exc:
            raise ValueError(_l("Valor inválido: use o formato 1.234,56.")) from exc

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        if self.data is None:
            return ""
        reais, cents = divmod(self.data, 100)
        return f"{reais:,}".replace(",", ".") + f",{cents:02d}"


def _not_negative(form, field):
    if field.data is not None and field.data <= 0:
        raise ValidationError(_l("Informe um valor maior que zero, ou deixe em branco para não ter orçamento."))


class BudgetForm(FlaskForm):
    total = MoneyField(_l("Orçamento mensal da organização"), validators=[_not_negative],
                       description=_l("Em reais, por exemplo 12.500,00. Em branco: sem orçamento."))


def family_field(family_id: int) -> str:
    return f"family_{family_id}"


def budget_form(families, **kwargs) -> BudgetForm:
    """The form with one optional field per family (`family_<id>`, labelled with the family's name)."""

    class Form(BudgetForm):
        pass

    for family in families:
        setattr(Form, family_field(family.id), MoneyField(family.name, validators=[_not_negative]))
    return Form(**kwargs)
