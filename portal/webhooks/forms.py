"""The webhook pages' forms: a new endpoint (address, description, events) and the bare form of a POST button."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectChoice, StringField
from wtforms.validators import Optional

from portal.shared.forms import MultiCheckboxField, max_length, required
from portal.webhooks.addresses import MAX_URL
from portal.webhooks.models import EVENT_TYPES
from portal.webhooks.service import MAX_DESCRIPTION


class EndpointForm(FlaskForm):
    url = StringField(_l("Endereço (URL)"), validators=[required(), max_length(MAX_URL)],
                      description=_l("Começa com https://; o servidor precisa estar na internet pública."))
    description = StringField(_l("Descrição (opcional)"), validators=[Optional(), max_length(MAX_DESCRIPTION)])
    # validate_choice off: the service refuses unknown names with its own message
    events = MultiCheckboxField(_l("Eventos"), validate_choice=False,
                                choices=[SelectChoice(name, label) for name, label in EVENT_TYPES.items()])


class ActionForm(FlaskForm):
    """CSRF only: testar, trocar segredo, ativar, desativar, excluir, reenviar."""
