"""Backoffice "Régua de cobrança": the reminders sent around the due date of open invoices (issue 15, point 8).

Finance lists the steps, adds, edits, (de)activates and removes them, and previews the e-mail a step sends.
Who: billing:manage (financeiro, admin), as the other money pages. The view calls billing/dunning.py only;
each change is an audit event (billing:dunning_schedule:changed, with before and after).
"""

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, StringField, TextAreaField
from wtforms.validators import InputRequired, NumberRange, StopValidation

from portal.accounts.context import current_actor
from portal.accounts.roles import StaffPermission
from portal.backoffice import bp
from portal.billing import dunning
from portal.shared import clock
from portal.shared.errors import NotFound, ServiceError
from portal.shared.forms import max_length, required, show_error
from portal.shared.permissions import staff_requires


def _stop_if_unreadable(_form, field):
    """"dez" typed as the day: WTForms' own message ("não é um número inteiro válido") is enough."""
    if field.process_errors:
        raise StopValidation()


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class StepForm(FlaskForm):
    offset_days = IntegerField(
        _l("Dia em relação ao vencimento"),
        validators=[InputRequired(message=_l("Informe o dia da etapa.")), _stop_if_unreadable,
                    NumberRange(min=dunning.MIN_OFFSET, max=dunning.MAX_OFFSET,
                                message=_l("Informe um dia entre -60 (antes do vencimento) e +90 (depois)."))],
        description=_l("Ex.: -5 (5 dias antes), 0 (no vencimento), 3 (3 dias depois)."))
    subject = StringField(_l("Assunto do e-mail"), filters=[_strip],
                          validators=[required(), max_length(dunning.MAX_SUBJECT)])
    message = TextAreaField(
        _l("Mensagem"), filters=[_strip], validators=[required(), max_length(dunning.MAX_MESSAGE)],
        description=_l("Marcadores preenchidos para cada fatura: {fatura} (número), {empresa}, {vencimento}, "
                       "{valor} (em aberto) e {prazo} (“em 3 dias”, “hoje”, “ontem”, “há 7 dias”). A linha "
                       "digitável, o Pix copia e cola, o boleto em PDF e o link da fatura vão em todo lembrete."))
    active = BooleanField(_l("Ativa (enviar este lembrete)"), default=True)


class ActionForm(FlaskForm):
    """A POST button (ativar, desativar, remover): CSRF only."""


def _save(form: StepForm, step_id: int | None = None) -> bool:
    values = {"offset_days": form.offset_days.data, "subject": form.subject.data or "",
              "message": form.message.data or "", "active": form.active.data, "actor": current_actor()}
    try:
        if step_id is None:
            step = dunning.add_step(**values)
            flash(_("Etapa “%(label)s” adicionada à régua.", label=dunning.step_label(step.offset_days)), "success")
        else:
            step = dunning.update_step(step_id, **values)
            flash(_("Etapa “%(label)s” salva.", label=dunning.step_label(step.offset_days)), "success")
    except ServiceError as error:
        show_error(form, error)
        return False
    return True


@bp.route("/regua-de-cobranca", methods=["GET", "POST"])
@staff_requires(StaffPermission.BILLING_MANAGE)
def dunning_schedule():
    form = StepForm()
    if form.validate_on_submit() and _save(form):
        return redirect(url_for("backoffice.dunning_schedule"))
    return render_template("backoffice/dunning.html", steps=dunning.steps(), form=form, action_form=ActionForm(),
                           label=dunning.step_label), 422 if form.errors else 200


def _step_or_404(step_id: int):
    try:
        return dunning.get_step(step_id)
    except NotFound:
        abort(404)


@bp.route("/regua-de-cobranca/<int:step_id>", methods=["GET", "POST"])
@staff_requires(StaffPermission.BILLING_MANAGE)
def dunning_step(step_id: int):
    step = _step_or_404(step_id)
    form = StepForm(obj=step)
    try:
        if form.validate_on_submit() and _save(form, step.id):
            return redirect(url_for("backoffice.dunning_schedule"))
    except NotFound:  # removed by someone else meanwhile
        abort(404)
    return render_template("backoffice/dunning_step.html", step=step, form=form,
                           label=dunning.step_label), 422 if form.errors else 200


@bp.post("/regua-de-cobranca/<int:step_id>/ativa")
@staff_requires(StaffPermission.BILLING_MANAGE)
def dunning_toggle(step_id: int):
    step = _step_or_404(step_id)
    if ActionForm().validate_on_submit():
        step = dunning.set_active(step.id, not step.active, actor=current_actor())
        message = (_("Etapa “%(label)s” ativada.", label=dunning.step_label(step.offset_days)) if step.active
                   else _("Etapa “%(label)s” desativada: este lembrete não é mais enviado.",
                          label=dunning.step_label(step.offset_days)))
        flash(message, "success")
    else:
        flash(_("A página expirou. Tente de novo."), "danger")
    return redirect(url_for("backoffice.dunning_schedule"))


@bp.post("/regua-de-cobranca/<int:step_id>/remover")
@staff_requires(StaffPermission.BILLING_MANAGE)
def dunning_remove(step_id: int):
    step = _step_or_404(step_id)
    label = dunning.step_label(step.offset_days)
    if ActionForm().validate_on_submit():
        dunning.remove_step(step.id, actor=current_actor())
        flash(_("Etapa “%(label)s” removida da régua.", label=label), "success")
    else:
        flash(_("A página expirou. Tente de novo."), "danger")
    return redirect(url_for("backoffice.dunning_schedule"))


@bp.get("/regua-de-cobranca/<int:step_id>/previa")
@staff_requires(StaffPermission.BILLING_MANAGE)
def dunning_preview(step_id: int):
    step = _step_or_404(step_id)
    return render_template("backoffice/dunning_preview.html", step=step, label=dunning.step_label,
                           preview=dunning.preview(step, today=clock.today()))
