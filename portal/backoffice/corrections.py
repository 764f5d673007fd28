"""Backoffice "Corrigir fatura": cancel-and-reissue (its NFS-e cancelled first or substituted), a credit note, or
the cancellation of the NFS-e of an already cancelled invoice that still stands (finance)."""

from flask import abort, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectChoice, SelectField, StringField, TextAreaField

from portal.accounts.context import current_actor
from portal.accounts.roles import StaffPermission
from portal.backoffice import bp
from portal.billing import corrections, fiscal
from portal.billing import service as billing
from portal.billing.models import FiscalStatus, Invoice, InvoiceKind
from portal.billing.settings import BillingSettings
from portal.shared.errors import ServiceError
from portal.shared.forms import max_length, required, show_error
from portal.shared.money import parse_brl
from portal.shared.permissions import staff_requires

NOTE_REASONS = [SelectChoice(1, _l("Erro na emissão")), SelectChoice(2, _l("Serviço não prestado")),
                SelectChoice(9, _l("Outros"))]


class ReissueForm(FlaskForm):
    reason = TextAreaField(_l("Motivo do cancelamento"), validators=[required(), max_length(1000)])
    # Asked only when the invoice has a note the portal cancels first (the national cancellation's cMotivo).
    reason_code = SelectField(_l("Motivo para a nota fiscal"), choices=NOTE_REASONS, coerce=int, default=1)
    confirm = BooleanField(_l("Entendo que a nota fiscal também é cancelada e que isso não pode ser desfeito."))


class NoteCancelForm(FlaskForm):
    reason_code = SelectField(_l("Motivo"), choices=NOTE_REASONS, coerce=int, default=1)
    reason = TextAreaField(_l("Explique o motivo"), validators=[required(), max_length(1000)])
    confirm = BooleanField(_l("Entendo que o cancelamento da nota fiscal não pode ser desfeito."))


class CreditNoteForm(FlaskForm):
    amount = StringField(_l("Valor a creditar (R$)"), validators=[required(), max_length(20)],
                         description=_l("Formato 1.234,56. Vira crédito da organização nas próximas faturas."))
    reason = TextAreaField(_l("Motivo da nota de crédito"), validators=[required(), max_length(1000)])


def _invoice(invoice_id: int) -> Invoice:
    invoice = billing.invoice(invoice_id)
    if invoice is None or invoice.kind != InvoiceKind.REGULAR:
        abort(404)
    return invoice


def _render(invoice: Invoice, reissue_form: ReissueForm | None = None, credit_form: CreditNoteForm | None = None,
            note_form: NoteCancelForm | None = None, status: int = 200):
    note = invoice.fiscal_document
    return render_template(
        "backoffice/invoice_correct.html", invoice=invoice, credited=corrections.credited_cents(invoice),
        reissue_form=reissue_form or ReissueForm(prefix="reissue"),
        credit_form=credit_form or CreditNoteForm(prefix="credit"),
        note_form=note_form or NoteCancelForm(prefix="note"),
        can_reissue=corrections.can_reissue(invoice), replacement=corrections.replacement_of(invoice),
        note=note if note is not None and note.status == FiscalStatus.ISSUED else None,
        substitutes=fiscal.substitutes(current_app.extensions["fiscal_issuer"], note),
        standing_note=corrections.standing_note(invoice),
        substitution_pending=corrections.substitution_pending(invoice),
    ), status


def _confirmed(form: ReissueForm | NoteCancelForm) -> bool:
    if form.confirm.data:
        return True
    form.confirm.errors.append(_("Confirme para continuar."))
    return False


@bp.get("/faturas/<int:invoice_id>/corrigir")
@staff_requires(StaffPermission.BILLING_MANAGE)
def correct_invoice(invoice_id: int):
    return _render(_invoice(invoice_id))


@bp.post("/faturas/<int:invoice_id>/reemitir")
@staff_requires(StaffPermission.BILLING_MANAGE)
def reissue_invoice(invoice_id: int):
    invoice = _invoice(invoice_id)
    form = ReissueForm(prefix="reissue")
    note = invoice.fiscal_document
    with_note = note is not None and note.status == FiscalStatus.ISSUED
    if form.validate_on_submit() and (not with_note or _confirmed(form)):
        try:
            issued = corrections.cancel_and_reissue(invoice, reason=form.reason.data,
                                                    reason_code=form.reason_code.data,
                                                    settings=BillingSettings.from_config(current_app.config),
                                                    actor=current_actor())
        except ServiceError as error:
            show_error(form, error)
        else:
            return _reissued(invoice, issued)
    return _render(_invoice(invoice_id), reissue_form=form, status=422)


def _reissued(invoice: Invoice, issued: corrections.Reissued):
    if issued.note_error:
        flash(_("Fatura cancelada, sem nada a faturar de novo para esse dia; a nota fiscal não foi cancelada: "
                "%(error)s Tente de novo abaixo.", error=issued.note_error), "danger")
        return redirect(url_for("backoffice.correct_invoice", invoice_id=invoice.id))
    if issued.invoice is None:
        flash(_("Fatura cancelada. Não havia nada a faturar de novo para esse dia."), "warning")
        return redirect(url_for("backoffice.invoice", invoice_id=invoice.id))
    flash(_("Fatura %(old)s cancelada e substituída pela %(new)s.", old=invoice.display_number,
            new=issued.invoice.display_number), "success")
    old = issued.substituting
    if old is not None and old.status == FiscalStatus.ISSUED:
        flash(_("A nota fiscal nº %(number)s continua válida até a nota da fatura %(new)s ser autorizada: esta a "
                "substitui, e a anterior é cancelada pela Sefin.", number=old.number,
                new=issued.invoice.display_number), "info")
    elif old is not None:
        flash(_("A nota fiscal nº %(number)s foi cancelada por substituição.", number=old.number), "info")
    return redirect(url_for("backoffice.invoice", invoice_id=issued.invoice.id))


@bp.post("/faturas/<int:invoice_id>/cancelar-nota-fiscal")
@staff_requires(StaffPermission.BILLING_MANAGE)
def cancel_note(invoice_id: int):
    invoice = _invoice(invoice_id)
    if corrections.standing_note(invoice) is None:  # the page offers no such form: say why instead of a bare 422
        flash(_("Só a nota fiscal de uma fatura cancelada que continua válida pode ser cancelada aqui."), "warning")
        return redirect(url_for("backoffice.correct_invoice", invoice_id=invoice.id))
    form = NoteCancelForm(prefix="note")
    if form.validate_on_submit() and _confirmed(form):
        try:
            note = corrections.cancel_standing_note(invoice, reason_code=form.reason_code.data,
                                                    reason=form.reason.data, actor=current_actor())
        except ServiceError as error:
            show_error(form, error)
        else:
            flash(_("Nota fiscal nº %(number)s cancelada.", number=note.number), "success")
            return redirect(url_for("backoffice.invoice", invoice_id=invoice.id))
    return _render(_invoice(invoice_id), note_form=form, status=422)


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
    return _render(_invoice(invoice_id), credit_form=form, status=422)
