"""Forms of the agreements room: a Master's acceptance, staff attestation and publishing a version."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import DateField, EmailField, SelectChoice, SelectField, StringField, TelField, TextAreaField
from wtforms.validators import InputRequired, Optional

from portal.agreements.models import AGREEMENT_KIND_LABELS
from portal.agreements.service import KIND_ORDER, MAX_BODY, MAX_LINK, MAX_NAME, MAX_PHONE, MAX_TITLE
from portal.shared.forms import MultiCheckboxField, email_address, max_length, required

DATE_FORMATS = ["%Y-%m-%d", "%d/%m/%Y"]


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _coerce_id(value):
    return int(value) if value not in (None, "") and str(value).isdigit() and len(str(value)) <= 10 else None


class AcceptForm(FlaskForm):
    """One "Li e aceito" checkbox per current version (choices set by the view) and the Master's phone."""

    versions = MultiCheckboxField(_l("Li e aceito"), coerce=int, choices=[],
                                  validate_choice=False)  # the service says which versions are current
    phone = TelField(_l("Telefone"), filters=[_strip], validators=[Optional(), max_length(MAX_PHONE)],
                     description=_l("Com DDD. Vai junto com o aceite para a Microsoft (opcional)."))


class AttestForm(FlaskForm):
    version_id = SelectField(_l("Versão do contrato"), coerce=_coerce_id, choices=[], validate_choice=False,
                             validators=[InputRequired(message=_l("Escolha a versão do contrato."))])
    first_name = StringField(_l("Nome"), filters=[_strip], validators=[required(), max_length(MAX_NAME)])
    last_name = StringField(_l("Sobrenome"), filters=[_strip], validators=[required(), max_length(MAX_NAME)])
    email = EmailField(_l("E-mail"), filters=[_strip], validators=[required(), email_address(), max_length(254)])
    phone = TelField(_l("Telefone (opcional)"), filters=[_strip], validators=[Optional(), max_length(MAX_PHONE)])
    accepted_on = DateField(
        _l("Data do aceite"), format=DATE_FORMATS, invalid_value_message=_l("Informe a data no formato dd/mm/aaaa."),
        validators=[InputRequired(message=_l("Informe a data do aceite."))],
        description=_l("Quando o cliente aceitou; nunca uma data futura."),
    )


def kind_choices():
    return [SelectChoice(str(kind), AGREEMENT_KIND_LABELS[kind]) for kind in KIND_ORDER]


class PublishForm(FlaskForm):
    kind = SelectField(_l("Contrato"), choices=kind_choices)
    title = StringField(_l("Título"), filters=[_strip], validators=[required(), max_length(MAX_TITLE)])
    body = TextAreaField(_l("Texto"), validators=[Optional(), max_length(MAX_BODY)], render_kw={"rows": 12},
                         description=_l("O texto que o Master lê antes de aceitar (ou um resumo, com o PDF)."))
    pdf = FileField(_l("PDF do contrato (opcional)"),
                    description=_l("Até 10 MB. Se buscar o modelo na Microsoft, escolha o arquivo depois."))
    link = StringField(_l("Link (opcional)"), filters=[_strip], validators=[Optional(), max_length(MAX_LINK)],
                       description=_l("Ex.: https://aka.ms/customeragreement"))
    effective_from = DateField(
        _l("Vigência a partir de"), format=DATE_FORMATS,
        invalid_value_message=_l("Informe a data no formato dd/mm/aaaa."),
        validators=[InputRequired(message=_l("Informe a data de início da vigência."))],
        description=_l("Hoje ou depois. A versão vigente passa a ser exigida dos clientes nesse dia."),
    )
    provider_template_id = StringField(
        _l("templateId na Microsoft (só para o MCA)"), filters=[_strip], validators=[Optional(), max_length(60)],
        description=_l("Vazio: o portal pergunta à Microsoft ao enviar cada aceite."),
    )
