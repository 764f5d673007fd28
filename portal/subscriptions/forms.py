"""Forms of the licenses pages: "Alterar quantidades" (with the cancellation reason) and the confirmation."""

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectChoice, SelectField, TextAreaField
from wtforms.validators import InputRequired

from portal.cancellations.models import MIN_REASON_LENGTH, REASON_LABELS, ReasonCategory
from portal.shared.forms import max_length

MAX_REASON_LENGTH = 2000  # characters of free text kept with a cancellation request


class QuantityField(IntegerField):
    """A whole number of licenses; anything else ("dez", "2,5", "1e3") gets one clear message."""

    def process_formdata(self, valuelist):
        if not valuelist:
            return
        try:
            self.data = int(valuelist[0].strip())
        except ValueError as exc:  # also a number too long for int() to read
            self.data = None
            raise ValueError(_("Informe a quantidade em números inteiros, por exemplo 12.")) from exc


def reason_choices():
    return [SelectChoice("", _l("Escolha o motivo")),
            *(SelectChoice(str(category), REASON_LABELS[category]) for category in ReasonCategory)]


class ChangeQuantityForm(FlaskForm):
    # InputRequired, not DataRequired: 0 is a quantity (a cancellation), not an empty field.
    quantity = QuantityField(_l("Nova quantidade de licenças"),
                             validators=[InputRequired(message=_l("Preencha este campo."))],
                             render_kw={"min": 0, "inputmode": "numeric"})
    # Only read when the new quantity is 0 (a cancellation), where both are mandatory.
    category = SelectField(_l("Motivo do cancelamento"), choices=reason_choices, validate_choice=False)
    reason = TextAreaField(_l("Explique o motivo"), validators=[max_length(MAX_REASON_LENGTH)],
                           render_kw={"rows": 3})

    @property
    def cancels(self) -> bool:
        return self.quantity.data == 0 and not self.quantity.errors

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        if not self.cancels:
            return valid
        # Both problems at once, so the person fixes the form in one go (the service checks them again).
        if self.category.data not in {category.value for category in ReasonCategory}:
            self.category.errors.append(_("Escolha o motivo do cancelamento."))
            valid = False
        if len((self.reason.data or "").strip()) < MIN_REASON_LENGTH:
            self.reason.errors.append(
                _("Explique o motivo com pelo menos %(n)d caracteres.", n=MIN_REASON_LENGTH))
            valid = False
        return valid


class ConfirmForm(FlaskForm):
    """The "Confirmar" button: CSRF only (the quote's token in the URL is the idempotency key)."""
