"""Forms of the accounts room: sign-in, two-factor, passwords, invitations, users, profile."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectChoice, SelectField, StringField, TelField
from wtforms.validators import EqualTo, Optional

from portal.accounts.roles import ROLE_LABELS, ROLE_ORDER
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
