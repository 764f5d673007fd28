"""Forms of "Cancelar" and "Rescisão de contrato": the reason, then the password to confirm."""

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, SelectField, TextAreaField

from portal.cancellations.models import MIN_REASON_LENGTH, ReasonCategory
from portal.shared.forms import max_length, required
from portal.subscriptions.forms import MAX_REASON_LENGTH, reason_choices


def _reason_problem(text: str | None) -> str | None:
    if len((text or "").strip()) < MIN_REASON_LENGTH:
        return _("Explique o motivo com pelo menos %(n)d caracteres.", n=MIN_REASON_LENGTH)
    return None


def _reason_field():
    return TextAreaField(_l("Explique o motivo"), validators=[max_length(MAX_REASON_LENGTH)], render_kw={"rows": 4})


class CancelForm(FlaskForm):
    """"Cancelar": the category and the text (both mandatory; the service checks them again)."""

    category = SelectField(_l("Motivo do cancelamento"), choices=reason_choices, validate_choice=False)
    reason = _reason_field()

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        # Both problems at once, so the person fixes the form in one go.
        if self.category.data not in {category.value for category in ReasonCategory}:
            self.category.errors.append(_("Escolha o motivo do cancelamento."))
            valid = False
        problem = _reason_problem(self.reason.data)
        if problem and not self.reason.errors:
            self.reason.errors.append(problem)
            valid = False
        return valid


class PasswordForm(FlaskForm):
    """The password typed again: the confirmation of a cancellation, a rescission or its withdrawal."""

    password = PasswordField(_l("Sua senha"), validators=[required(), max_length(200)],
                             render_kw={"autocomplete": "current-password"})


class RescissionForm(FlaskForm):
    """"Rescisão de contrato": the category is fixed; the text is mandatory."""

    reason = _reason_field()

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        problem = _reason_problem(self.reason.data)
        if problem and not self.reason.errors:
            self.reason.errors.append(problem)
            valid = False
        return valid


class RescissionConfirmForm(PasswordForm):
    """The preview's confirmation: the reason and what was shown travel back with the password."""

    reason = HiddenField()
    fingerprint = HiddenField()
