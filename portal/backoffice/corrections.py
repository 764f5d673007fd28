"""Backoffice "Corrigir fatura": cancel-and-reissue (before a real nota fiscal) or a credit note (finance)."""

from flask import abort, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField

from portal.accounts.context import current_actor
from portal.accounts.roles import StaffPermission
from portal.backoffice import bp
from portal.billing import corrections
from portal.billing import service as billing
from portal.billing.models import Invoice, InvoiceKind, InvoiceStatus
from portal.billing.settings import BillingSettings
from portal.shared.errors import ServiceError
from portal.shared.forms import max_length, required, show_error
from portal.shared.money import parse_brl
from portal.shared.permissions import staff_requires


class ReissueForm(FlaskForm):
    reason = TextAreaField(_l("Motivo do cancelamento"), validators=[required(), max_length(1000)])


class CreditNoteForm(FlaskForm):
    amount = StringField(_l("Valor a creditar (R$)"), validators=[required(), max_length(20)],
                         description=_l("Formato 1.234,56. Vira crédito da organização nas próximas faturas."))
    reason = TextAreaField(_l("Motivo da nota de crédito"), validators=[required(), max_length(1000)])


def _invoice(invoice_id: int) -> Invoice:
    invoice = billing.invoice(invoice_id)
    if invoice is None or invoice.kind != InvoiceKind.REGULAR:
        abort(404)
    return invoice


def _render(invoice: Invoice, reissue_form: ReissueForm, credit_form: CreditNoteForm, status: int = 200):
    return render_template(
        "backoffice/invoice_correct.html", invoice=invoice, reissue_form=reissue_form, credit_form=credit_form,
        credited=corrections.credited_cents(invoice),
        can_reissue=(invoice.status == InvoiceStatus.OPEN and not invoice.payments
                     and (invoice.fiscal_document is None or invoice.fiscal_document.simulated)),
        replacement=corrections.replacement_of(invoice),
    ), status


@bp.get("/faturas/<int:invoice_id>/corrigir")
@staff_requires(StaffPermission.BILLING_MANAGE)
def correct_invoice(invoice_id: int):
    return _render(_invoice(invoice_id), ReissueForm(prefix="reissue"), CreditNoteForm(prefix="credit"))


@bp.post("/faturas/<int:invoice_id>/reemitir")
@staff_requires(StaffPermission.BILLING_MANAGE)
def reissue_invoice(invoice_id: int):
    invoice = _invoice(invoice_id)
    form = ReissueForm(prefix="reissue")
    if form.validate_on_submit():
        try:
            issued = corrections.cancel_and_reissue(invoice, reason=form.reason.data,
                                                    settings=BillingSettings.from_config(current_app.config),
                                                    actor=current_actor())
        except ServiceError as error:
            show_error(form, error)
        else:
            if issued.invoice is None:
                flash(_("Fatura cancelada. Não havia nada a faturar de novo para esse dia."), "warning")
                return redirect(url_for("backoffice.invoice", invoice_id=invoice.id))
            flash(_("Fatura %(old)s cancelada e substituída pela %(new)s.", old=invoice.display_number,
                    new=issued.invoice.display_number), "success")
            return redirect(url_for("backoffice.invoice", invoice_id=issued.invoice.id))
    return _render(_invoice(invoice_id), form, CreditNoteForm(prefix="credit"), 422)


@bp.post("/faturas/<int:invoice_id>/nota-de-credito")
@staff_requires(StaffPermission.BILLING_MANAGE)
def credit_note(invoice_id: int):
    invoice = _invoice(invoice_id)
    form = CreditNoteForm(prefix="credit")
    if form.validate_on_submit():
        try:
            amount = parse_brl(form.amount.data)
        except ValueError:
            form.amount.errors.append(_("Valor não reconhecido: use o formato 1.234,56."))
        else:
            try:
                note = corrections.issue_credit_note(invoice, amount_cents=amount, reason=form.reason.data,
                                                     actor=current_actor())
            except ServiceError as error:
                show_error(form, error)
            else:
                flash(_("Nota de crédito %(number)s emitida; o valor é crédito da organização.",
                        number=note.display_number), "success")
                return redirect(url_for("backoffice.invoice", invoice_id=invoice.id))
    return _render(_invoice(invoice_id), ReissueForm(prefix="reissue"), form, 422)
