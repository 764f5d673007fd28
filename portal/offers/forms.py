"""Purchase offer input: the staff forms (create, send, cancel) and the customer's acceptance form.

License counts are not WTForms fields: one `qty-<product id>` input per product, read by `read_quantities`,
which keeps what was typed so a refused form shows it again.
"""

from collections.abc import Iterable, Mapping

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, SelectField, StringField, TextAreaField
from wtforms.validators import Optional

from portal.shared.forms import max_length, required

MAX_DIGITS = 7  # a license count with more digits is a typo (and would not fit the column after a few more)


def quantity_name(product_id: int) -> str:
    return f"qty-{product_id}"


def read_quantities(formdata: Mapping, product_ids: Iterable[int], *,
                    keep_empty: bool = False) -> tuple[dict[int, object], dict[int, str]]:
    """(product id → count, product id → text typed) for the `qty-<id>` inputs of `product_ids`.

    An empty input means "not offered" (left out) unless `keep_empty`; text that is not a whole number is
    passed on as it is, for the service to refuse with a message next to it."""
    counts: dict[int, object] = {}
    typed: dict[int, str] = {}
    for product_id in product_ids:
        raw = (formdata.get(quantity_name(product_id)) or "").strip()
        typed[product_id] = raw
        if not raw and not keep_empty:
            continue
        counts[product_id] = int(raw) if raw.isdigit() and len(raw) <= MAX_DIGITS else raw
    return counts, typed


class OfferForm(FlaskForm):
    """"Nova oferta de compra" (the products and counts come from `read_quantities`)."""

    partner_office = StringField(_l("Escritório do parceiro"), validators=[required(), max_length(120)],
                                 description=_l("Escolha da lista ou digite o escritório ao qual a oferta fica "
                                                "associada."))
    usage_location = SelectField(_l("Local de uso"), validators=[required()],
                                 description=_l("O país onde o cliente vai usar os serviços."))
    organization_id = SelectField(_l("Organização"), validators=[Optional()],
                                  description=_l("Opcional: só esta organização poderá abrir e aceitar a oferta. "
                                                 "Um cliente novo precisa ser cadastrado antes."))
    delegated_admin = BooleanField(_l("Oferecer administração delegada"),
                                   description=_l("O cliente poderá aceitar a oferta com ou sem a administração "
                                                  "delegada."))
    expires_on = DateField(_l("Válida até"), format=["%Y-%m-%d", "%d/%m/%Y"], validators=[required()])
    message = TextAreaField(_l("Mensagem ao cliente"), validators=[Optional(), max_length(5000)],
                            description=_l("Apresente-se, explique a oferta e como falar com você."))


class SendOfferForm(FlaskForm):
    email_masters = BooleanField(_l("Enviar também por e-mail aos Masters da organização"))


class CancelOfferForm(FlaskForm):
    reason = TextAreaField(_l("Motivo do cancelamento"), validators=[required(), max_length(1000)])


class AcceptOfferForm(FlaskForm):
    """The customer's "Aceitar": the counts come from `read_quantities`."""

    delegated_admin = BooleanField(_l("Aceito a administração delegada"))


class ConfirmOfferForm(FlaskForm):
    delegated_admin = BooleanField()  # carried from the offer page as a hidden value
