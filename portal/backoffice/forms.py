"""Backoffice forms."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, IntegerField, SelectChoice, SelectField, StringField
from wtforms.validators import NumberRange, Optional, Regexp, ValidationError

from portal.shared import cnpj
from portal.shared.forms import email_address, max_length, required

UFS = [
    "AC", "AL", "AP", "AM", "BA", "CE", "DF", "ES", "GO", "MA", "MT", "MS", "MG", "PA",
    "PB", "PR", "PE", "PI", "RJ", "RN", "RS", "RO", "RR", "SC", "SP", "SE", "TO",
]


class OrganizationForm(FlaskForm):
    legal_name = StringField(_l("Razão social"), validators=[required(), max_length(200)])
    trade_name = StringField(_l("Nome fantasia"), validators=[required(), max_length(200)])
    cnpj = StringField(_l("CNPJ"), validators=[required(), max_length(18)],
                       description=_l("Numérico ou alfanumérico, com ou sem máscara."))
    street = StringField(_l("Logradouro"), validators=[required(), max_length(200)])
    number = StringField(_l("Número"), validators=[required(), max_length(20)])
    complement = StringField(_l("Complemento"), validators=[Optional(), max_length(100)])
    district = StringField(_l("Bairro"), validators=[required(), max_length(100)])
    city = StringField(_l("Cidade"), validators=[required(), max_length(100)])
    state = SelectField(_l("UF"), choices=[SelectChoice("", "—")] + [SelectChoice(uf) for uf in UFS],
                        validators=[required()])
    postal_code = StringField(
        _l("CEP"),
        validators=[required(), Regexp(r"^\s*\d{5}-?\d{3}\s*$", message=_l("Informe o CEP com 8 dígitos."))],
    )
    billing_day = IntegerField(
        _l("Dia de faturamento"),
        validators=[required(), NumberRange(min=1, max=31, message=_l("O dia de faturamento vai de 1 a 31."))],
    )
    master_name = StringField(_l("Nome do primeiro Master"), validators=[required(), max_length(200)])
    master_email = EmailField(_l("E-mail do primeiro Master"),
                              validators=[required(), email_address(), max_length(254)])

    def validate_cnpj(self, field):
        if not cnpj.is_valid(field.data or ""):
            raise ValidationError(_l("CNPJ inválido: confira os dígitos verificadores."))


class TenantForm(FlaskForm):
    tenant_id = StringField(_l("ID do tenant Microsoft (customer id no Partner Center)"),
                            filters=[lambda value: value.strip() if isinstance(value, str) else value],
                            validators=[Optional(), max_length(36)],
                            description=_l("Um GUID, como 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0. "
                                           "Vazio desfaz a ligação."))
