"""Forms of "Uso de licenças": "Atualizar agora" (CSRF only) and a Master's rule for one SKU."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField
from wtforms.validators import InputRequired, NumberRange

from portal.licence_usage.service import MAX_BUFFER


class RefreshForm(FlaskForm):
    pass


class WholeNumberField(IntegerField):
    """A whole number of licences; anything else gets one clear message."""

    def process_formdata(self, valuelist):
        if not valuelist:
            return
        try:
            self.data = int(valuelist[0].strip() or "0")
        except ValueError as exc:
            self.data = None
            raise ValueError(_l("Informe um número inteiro de licenças, por exemplo 2.")) from exc


class RuleForm(FlaskForm):
    excluded = BooleanField(_l("Deixar fora do uso de licenças"))
    buffer = WholeNumberField(_l("Folga (licenças)"), default=0,
                              validators=[InputRequired(message=_l("Preencha este campo.")),
                                          NumberRange(min=0, max=MAX_BUFFER,
                                                      message=_l("A folga vai de 0 a %(max)s licenças."))],
                              render_kw={"min": 0, "max": MAX_BUFFER, "inputmode": "numeric"})
