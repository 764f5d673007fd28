"""Forms of the onboarding pipeline ("Contratação")."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    EmailField,
    HiddenField,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import Length, NumberRange, Optional, Regexp, ValidationError

from portal.accounts.forms import UFS
from portal.onboarding.service import MAX_INT, MIN_LOST_REASON, TENANT_EXISTING, TENANT_NEW
from portal.shared import cnpj
from portal.shared.forms import email_address, max_length, required

DATE_FORMATS = ["%Y-%m-%d", "%d/%m/%Y"]


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _positive(label):
    return IntegerField(label, validators=[Optional(), NumberRange(min=1, max=MAX_INT,
                                                                   message=_l("Informe um número inteiro positivo."))])


class OpportunityForm(FlaskForm):
    """The opportunity's data: the minimum checklist, the registration data and the Backup em Nuvem sizing.

    Only the company is needed to start; each stage says what else it needs before the opportunity moves on.
    """

    company_name = StringField(_l("Empresa"), filters=[_strip], validators=[required(), max_length(200)])
    contact_name = StringField(_l("Responsável"), filters=[_strip], validators=[Optional(), max_length(200)])
    phone = StringField(_l("Telefone"), filters=[_strip], validators=[Optional(), max_length(30)])
    email = EmailField(_l("E-mail"), filters=[_strip], validators=[Optional(), email_address(), max_length(254)])
    cnpj = StringField(_l("CNPJ"), filters=[_strip], validators=[Optional(), max_length(18)],
                       description=_l("Numérico ou alfanumérico, com ou sem máscara."))
    crm_id = StringField(_l("ID no Adapt CRM"), filters=[_strip], validators=[Optional(), max_length(60)])
    legal_name = StringField(_l("Razão social"), filters=[_strip], validators=[Optional(), max_length(200)])
    trade_name = StringField(_l("Nome fantasia"), filters=[_strip], validators=[Optional(), max_length(200)])
    street = StringField(_l("Logradouro"), filters=[_strip], validators=[Optional(), max_length(200)])
    number = StringField(_l("Número"), filters=[_strip], validators=[Optional(), max_length(20)])
    complement = StringField(_l("Complemento"), filters=[_strip], validators=[Optional(), max_length(100)])
    district = StringField(_l("Bairro"), filters=[_strip], validators=[Optional(), max_length(100)])
    city = StringField(_l("Cidade"), filters=[_strip], validators=[Optional(), max_length(100)])
    state = SelectField(_l("UF"), choices=[SelectChoice("", "—")] + [SelectChoice(uf) for uf in UFS],
                        validators=[Optional()])
    postal_code = StringField(
        _l("CEP"), filters=[_strip],
        validators=[Optional(), Regexp(r"^\d{5}-?\d{3}$", message=_l("Informe o CEP com 8 dígitos."))])
    billing_day = IntegerField(
        _l("Dia de faturamento"),
        validators=[Optional(), NumberRange(min=1, max=31, message=_l("O dia de faturamento vai de 1 a 31."))])
    first_payment_date = DateField(_l("Data da 1ª mensalidade"), format=DATE_FORMATS, validators=[Optional()],
                                   invalid_value_message=_l("Informe a data no formato dd/mm/aaaa."))
    disk_space_gb = _positive(_l("Espaço em disco (GB)"))
    installation_sites = _positive(_l("Quantidade de locais de instalação"))
    windows_server_licenses = _positive(_l("Quantidade de licenças de Windows Server"))
    windows_server_version = StringField(_l("Versão do Windows Server"), filters=[_strip],
                                         validators=[Optional(), max_length(40)],
                                         description=_l("Como o cliente informou, por exemplo 2019 ou 2012 R2."))
    notes = TextAreaField(_l("Observações (vão no card de passagem)"), filters=[_strip],
                          validators=[Optional(), max_length(10_000)], render_kw={"rows": 3})
    tenant_mode = SelectField(_l("Tenant Microsoft do cliente"), validators=[Optional()], choices=[
        SelectChoice("", "—"), SelectChoice(TENANT_EXISTING, _l("O cliente já tem um tenant")),
        SelectChoice(TENANT_NEW, _l("Criar um novo tenant na Microsoft"))])
    tenant_reference = StringField(
        _l("ID do tenant ou domínio"), filters=[_strip], validators=[Optional(), max_length(253)],
        description=_l("Tenant existente: o ID (GUID) ou um domínio dele, como contoso.onmicrosoft.com. Novo "
                       "tenant: o domínio a criar, como acme.onmicrosoft.com."))

    def validate_cnpj(self, field):
        if field.data and not cnpj.is_valid(field.data):
            raise ValidationError(_l("CNPJ inválido: confira os dígitos verificadores."))


def _coerce_id(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class ItemForm(FlaskForm):
    product_id = SelectField(_l("Produto"), coerce=_coerce_id, choices=[], validate_choice=False,
                             validators=[required()])
    quantity = IntegerField(_l("Quantidade"), validators=[
        required(), NumberRange(min=1, max=MAX_INT, message=_l("Informe um número inteiro positivo."))])


class AdvanceForm(FlaskForm):
    to = HiddenField(validators=[required()])
    note = TextAreaField(_l("Observação (opcional)"), filters=[_strip], validators=[Optional(), max_length(2000)],
                         render_kw={"rows": 2})


class LoseForm(FlaskForm):
    reason = TextAreaField(
        _l("Motivo da perda"), filters=[_strip], render_kw={"rows": 2},
        validators=[required(), Length(min=MIN_LOST_REASON, max=2000, message=_l(
            "Explique o motivo com pelo menos %(min)d caracteres.", min=MIN_LOST_REASON))])


class ImplantationDoneForm(FlaskForm):
    note = TextAreaField(_l("O que foi feito (opcional)"), filters=[_strip], render_kw={"rows": 2},
                         validators=[Optional(), max_length(2000)])


class ActionForm(FlaskForm):
    """A button that only needs the CSRF token."""
