"""The "Tokens de API" page's forms: a new token (name, roles, optional expiry, allowed networks) and revoking."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, StringField, TextAreaField
from wtforms.validators import Optional

from portal.accounts.roles import ROLE_LABELS, ROLE_ORDER
from portal.shared.forms import MultiCheckboxField, max_length, required


class TokenForm(FlaskForm):
    name = StringField(_l("Nome"), validators=[required(), max_length(80)],
                       description=_l("Para reconhecer o token depois, por exemplo “ERP financeiro”."))
    roles = MultiCheckboxField(_l("Papéis do token"), choices=[], validate_choice=False,
                               description=_l("O token pode fazer o que estes papéis fazem no portal, nunca mais "
                                              "do que os seus."))
    expires_on = DateField(_l("Válido até (opcional)"), format=["%Y-%m-%d", "%d/%m/%Y"], validators=[Optional()],
                           description=_l("Em branco: vale até ser revogado."))
    allowed_ips = TextAreaField(_l("Endereços IP permitidos (opcional)"), validators=[max_length(1000)],
                                description=_l("Um por linha, endereço ou rede (203.0.113.7, 198.51.100.0/24). Em "
                                               "branco: qualquer endereço."))

    def __init__(self, *args, grantable=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.roles.choices = [(str(role), str(ROLE_LABELS[role])) for role in ROLE_ORDER if role in grantable]


class RevokeForm(FlaskForm):
    """Only the CSRF token: which token is in the URL."""
