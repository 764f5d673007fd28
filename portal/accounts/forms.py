"""Forms of the accounts room: sign-in, two-factor, passwords, invitations, users, profile; the staff forms of an
organization and its Microsoft tenant."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
    TelField,
)
from wtforms.validators import EqualTo, NumberRange, Optional, Regexp, ValidationError

from portal.accounts.roles import ROLE_LABELS, ROLE_ORDER
from portal.shared import cnpj
from portal.shared.forms import MultiCheckboxField, email_address, max_length, required


def _strip(value):
    # A pasted address often carries spaces around it; they are not part of the e-mail.
    return value.strip() if isinstance(value, str) else value


def role_choices():
    return [SelectChoice(str(role), ROLE_LABELS[role]) for role in ROLE_ORDER]


class LoginForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[required(), max_length(254)])
    password = PasswordField(_l("Senha"), validators=[required(), max_length(200)])


class TwoFactorForm(FlaskForm):
    code = StringField(
        _l("Código de verificação ou código de recuperação"), validators=[required(), max_length(20)]
    )


class EnrolTotpForm(FlaskForm):
    code = StringField(_l("Código de 6 dígitos do aplicativo"), validators=[required(), max_length(10)])


class ForgotPasswordForm(FlaskForm):
    email = EmailField(_l("E-mail"), filters=[_strip], validators=[required(), email_address(), max_length(254)])


def _new_password_fields():
    password = PasswordField(_l("Nova senha"), validators=[required(), max_length(200)])
    confirm = PasswordField(
        _l("Repita a nova senha"),
        validators=[required(), EqualTo("password", message=_l("As senhas não conferem."))],
    )
    return password, confirm


class ResetPasswordForm(FlaskForm):
    password, confirm = _new_password_fields()


class AcceptInvitationForm(FlaskForm):
    name = StringField(_l("Nome completo"), validators=[required(), max_length(200)])
    phone = TelField(_l("Telefone"), validators=[Optional(), max_length(30)])
    password, confirm = _new_password_fields()


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(_l("Senha atual"), validators=[required(), max_length(200)])
    password, confirm = _new_password_fields()


class ProfileForm(FlaskForm):
    name = StringField(_l("Nome completo"), validators=[required(), max_length(200)])
    phone = TelField(_l("Telefone"), validators=[Optional(), max_length(30)])
    language = SelectField(
        _l("Idioma"),
        choices=[
            SelectChoice("", _l("Português (padrão)")),
            SelectChoice("pt_BR", "Português (Brasil)"),
            SelectChoice("en", "English"),
        ],
    )
    # Customers only (the template shows it to them): renewal reminders of Master and Adm.
    renewal_reminders = BooleanField(_l("Receber lembretes de renovação por e-mail (30 e 7 dias antes do prazo)"))
    # "1" when the page showed the box: an unticked box sends nothing, so only then does its absence mean "off".
    reminders_shown = HiddenField()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_submitted():
            self.reminders_shown.data = "1"

    def reminders_choice(self) -> bool | None:
        return bool(self.renewal_reminders.data) if self.reminders_shown.data == "1" else None


class ConfirmPasswordForm(FlaskForm):
    password = PasswordField(_l("Sua senha"), validators=[required(), max_length(200)])


class InviteForm(FlaskForm):
    email = EmailField(_l("E-mail"), filters=[_strip], validators=[required(), email_address(), max_length(254)])
    name = StringField(_l("Nome"), validators=[required(), max_length(200)])
    roles = MultiCheckboxField(_l("Papéis"), choices=role_choices)

    def validate_roles(self, field):
        if not field.data:
            from wtforms.validators import ValidationError

            raise ValidationError(_l("Escolha pelo menos um papel."))


class RolesForm(FlaskForm):
    roles = MultiCheckboxField(_l("Papéis"), choices=role_choices)

    validate_roles = InviteForm.validate_roles


class SecurityForm(FlaskForm):
    require_2fa = BooleanField(_l("Exigir verificação em duas etapas de todos os usuários"))


class ActionForm(FlaskForm):
    """An empty form for POST buttons: CSRF only."""


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


class CityCodeForm(FlaskForm):
    city_code = StringField(_l("Código IBGE do município"),
                            filters=[lambda value: value.strip() if isinstance(value, str) else value],
                            validators=[Optional(),
                                        Regexp(r"^\d{7}$", message=_l("Informe os 7 dígitos do código IBGE."))],
                            description=_l("7 dígitos, como 3550308 (São Paulo). "
                                           "A NFS-e exige o município do tomador."))


class TenantForm(FlaskForm):
    tenant_id = StringField(_l("ID do tenant Microsoft (customer id no Partner Center)"),
                            filters=[lambda value: value.strip() if isinstance(value, str) else value],
                            validators=[Optional(), max_length(36)],
                            description=_l("Um GUID, como 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0. "
                                           "Vazio desfaz a ligação."))
