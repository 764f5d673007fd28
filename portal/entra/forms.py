"""Forms of "Entrar com a Microsoft": the tenant to link and the sign-in policy."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectChoice, SelectField, StringField

from portal.accounts.roles import ROLE_LABELS, Role
from portal.shared.forms import max_length, required

JIT_ROLE_ORDER = (Role.SUPORTE, Role.COBRANCA, Role.ADM)  # never Master


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class LinkForm(FlaskForm):
    tenant = StringField(_l("ID do tenant ou domínio"), filters=[_strip], validators=[required(), max_length(253)],
                         description=_l("O ID do locatário (GUID) no Microsoft Entra ID, ou um domínio dele, como "
                                        "empresa.onmicrosoft.com."))


class PolicyForm(FlaskForm):
    require_microsoft = BooleanField(_l("Exigir a entrada com a Microsoft de todos, menos de quem é Master"))
    jit_enabled = BooleanField(_l("Criar automaticamente quem entrar com a Microsoft e ainda não for usuário"))
    jit_role = SelectField(_l("Papel de quem for criado automaticamente"),
                           choices=lambda: [SelectChoice(role.value, ROLE_LABELS[role]) for role in JIT_ROLE_ORDER])
