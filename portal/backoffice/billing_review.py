"""Backoffice "Rascunhos para revisão" (BILLING_REVIEW=true): the billing run's drafts, corrected and approved by
finance before anything reaches the customer. Approving takes the invoice number and issues the invoice through the
one issuing path (billing/run.py `approve_draft`); approving several at once asks for a confirmation first."""

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField, TextAreaField

from portal.accounts.context import current_actor
from portal.accounts.roles import StaffPermission
from portal.backoffice import bp
from portal.billing import review
from portal.billing.models import InvoiceDraft, InvoiceDraftStatus
from portal.billing.settings import BillingSettings
from portal.shared import clock
from portal.shared.errors import ServiceError
from portal.shared.forms import max_length, required, show_error
from portal.shared.money import parse_brl
from portal.shared.permissions import staff_requires

LINE_KIND_LABELS = {"recurring": _l("mensalidade"), "prorata": _l("pró-rata"), "adjustment": _l("desconto")}


def _settings() -> BillingSettings:
    return BillingSettings.from_config(current_app.config)


class LineForm(FlaskForm):
    description = StringField(_l("Descrição"), validators=[required(), max_length(review.MAX_DESCRIPTION)])


class DiscountForm(FlaskForm):
    amount = StringField(_l("Valor do desconto (R$)"), validators=[required(), max_length(20)],
                         description=_l("Formato 1.234,56. Nunca mais que o subtotal: o total não fica negativo."))
    reason = TextAreaField(_l("Motivo do desconto"), validators=[required(), max_length(review.MAX_REASON)],
                           description=_l("Obrigatório; fica na trilha de auditoria (o cliente vê só “Desconto”)."))


class ApproveForm(FlaskForm):
    confirm = HiddenField()


# ---------------------------------------------------------------- the list

@bp.get("/faturas/rascunhos")
@staff_requires(StaffPermission.BILLING_MANAGE)
def invoice_drafts():
    settings = _settings()
    rows = review.pending_drafts(today=clock.today(), lead_days=settings.review_lead_days)
    return render_template("backoffice/invoice_drafts.html", rows=rows, form=ApproveForm(formdata=None),
                           step="list", review_on=settings.review, lead_days=settings.review_lead_days)


def _selected_ids() -> list[int]:
    ids = []
    for value in request.form.getlist("draft"):
        if value.isdigit() and len(value) < 12:
            ids.append(int(value))
    return sorted(set(ids))


@bp.post("/faturas/rascunhos/aprovar")
@staff_requires(StaffPermission.BILLING_MANAGE)
def invoice_drafts_approve():
    """Step 1: the selected drafts, to confirm. Step 2 (confirm=1): approve each of them."""
    form = ApproveForm()
    if not form.validate_on_submit():
        flash(_("O formulário expirou. Tente de novo."), "danger")
        return redirect(url_for("backoffice.invoice_drafts"))
    ids = _selected_ids()
    if not ids:
        flash(_("Selecione ao menos um rascunho para aprovar."), "warning")
        return redirect(url_for("backoffice.invoice_drafts"))
    settings = _settings()
    if form.confirm.data != "1":
        selected = [draft for draft in review.drafts_by_id(ids) if draft.status == InvoiceDraftStatus.PENDING]
        form.confirm.data = "1"
        return render_template("backoffice/invoice_drafts.html", step="confirm", selected=selected, form=form,
                               total=sum(draft.total_cents for draft in selected), review_on=settings.review,
                               lead_days=settings.review_lead_days)
    outcome = review.approve_many(ids, settings=settings, actor=current_actor())
    if outcome.issued:
        flash(ngettext("%(num)d fatura emitida.", "%(num)d faturas emitidas.", len(outcome.issued)), "success")
    if outcome.already:
        flash(ngettext("%(num)d rascunho já tinha sido aprovado: nada emitido de novo.",
                       "%(num)d rascunhos já tinham sido aprovados: nada emitido de novo.", len(outcome.already)),
              "info")
    for draft_id, message in outcome.failed:
        flash(_("Rascunho nº %(id)d: %(message)s", id=draft_id, message=message), "danger")
    return redirect(url_for("backoffice.invoice_drafts"))


# ---------------------------------------------------------------- one draft

def _draft_or_404(draft_id: int) -> InvoiceDraft:
    found = review.draft(draft_id)
    if found is None:
        abort(404)
    return found


def _render(found: InvoiceDraft, *, line_forms: dict | None = None, discount_form: DiscountForm | None = None,
            status: int = 200):
    settings = _settings()
    forms = {line.id: LineForm(formdata=None, prefix=f"line-{line.id}", description=line.description)
             for line in found.lines}
    forms.update(line_forms or {})
    return render_template(
        "backoffice/invoice_draft.html", draft=found, line_forms=forms,
        discount_form=discount_form or DiscountForm(formdata=None, prefix="discount"),
        approve_form=ApproveForm(formdata=None), kind_labels=LINE_KIND_LABELS,
        late=review.is_late(found, clock.today(), settings.review_lead_days), lead_days=settings.review_lead_days,
        invoice=review.invoice_of(found),
    ), status


@bp.get("/faturas/rascunhos/<int:draft_id>")
@staff_requires(StaffPermission.BILLING_MANAGE)
def invoice_draft(draft_id: int):
    return _render(_draft_or_404(draft_id))


@bp.post("/faturas/rascunhos/<int:draft_id>/linhas/<int:line_id>")
@staff_requires(StaffPermission.BILLING_MANAGE)
def invoice_draft_line(draft_id: int, line_id: int):
    found = _draft_or_404(draft_id)
    if all(line.id != line_id for line in found.lines):
        abort(404)
    form = LineForm(prefix=f"line-{line_id}")
    if form.validate_on_submit():
        try:
            review.edit_line(draft_id, line_id, description=form.description.data, actor=current_actor())
        except ServiceError as error:
            show_error(form, error)
        else:
            flash(_("Descrição da linha corrigida."), "success")
            return redirect(url_for("backoffice.invoice_draft", draft_id=draft_id))
    return _render(_draft_or_404(draft_id), line_forms={line_id: form}, status=422)


@bp.post("/faturas/rascunhos/<int:draft_id>/desconto")
@staff_requires(StaffPermission.BILLING_MANAGE)
def invoice_draft_discount(draft_id: int):
    _draft_or_404(draft_id)
    form = DiscountForm(prefix="discount")
    if form.validate_on_submit():
        try:
            cents = parse_brl(form.amount.data or "")
        except ValueError:
            form.amount.errors = [*form.amount.errors, _("Valor não reconhecido: use o formato 1.234,56.")]
        else:
            try:
                review.add_discount(draft_id, amount_cents=cents, reason=form.reason.data, actor=current_actor())
            except ServiceError as error:
                show_error(form, error)
            else:
                flash(_("Desconto incluído no rascunho."), "success")
                return redirect(url_for("backoffice.invoice_draft", draft_id=draft_id))
    return _render(_draft_or_404(draft_id), discount_form=form, status=422)


@bp.post("/faturas/rascunhos/<int:draft_id>/aprovar")
@staff_requires(StaffPermission.BILLING_MANAGE)
def invoice_draft_approve(draft_id: int):
    _draft_or_404(draft_id)
    if not ApproveForm().validate_on_submit():
        flash(_("O formulário expirou. Tente de novo."), "danger")
        return redirect(url_for("backoffice.invoice_draft", draft_id=draft_id))
    try:
        outcome = review.approve(draft_id, settings=_settings(), actor=current_actor())
    except ServiceError as error:
        flash(error.message, "danger")
        return redirect(url_for("backoffice.invoice_draft", draft_id=draft_id))
    if outcome.created:
        flash(_("Rascunho aprovado: fatura emitida."), "success")
    else:
        flash(_("Este rascunho já tinha sido aprovado: nada foi emitido de novo."), "info")
    return redirect(url_for("backoffice.invoice", invoice_id=outcome.invoice_id))
