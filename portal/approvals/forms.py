"""The approvals pages' forms: the Master's rules, a decision with its comment, the requester's withdrawal."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, TextAreaField
from wtforms.validators import Length, ValidationError

from portal.approvals.service import MAX_COMMENT
from portal.budgets.forms import MoneyField


def _not_negative(form, field):
    if field.data is not None and field.data < 0:
        raise ValidationError(_l("Informe um valor positivo, ou deixe em branco para não usar este limite."))


class RulesForm(FlaskForm):
    monthly = MoneyField(_l("Valor mensal acima de"), validators=[_not_negative],
                         description=_l("Compras e aumentos que somam mais que isso por mês (preços anuais em "
                                        "doze avos) esperam a aprovação. Em reais, por exemplo 2.000,00. Em "
                                        "branco: sem este limite."))
    one_off = MoneyField(_l("Pró-rata acima de"), validators=[_not_negative],
                         description=_l("O valor proporcional cobrado na próxima fatura. Em branco: sem este "
                                        "limite."))
    new_family = BooleanField(_l("Qualquer produto de uma família nova"),
                              description=_l("Uma compra numa família de produtos de que a organização ainda não "
                                             "tem assinatura."))


class DecisionForm(FlaskForm):
    comment = TextAreaField(_l("Comentário"), validators=[Length(max=MAX_COMMENT)],
                            description=_l("Obrigatório para recusar; quem pediu recebe por e-mail."))


class WithdrawForm(FlaskForm):
    pass
