"""Customer pages of approvals: the Master's rules and queue ("Aprovações"), a request's page (decide, withdraw)
and the requester's own requests."""

from datetime import timedelta

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal.accounts.context import current_actor
from portal.accounts.roles import Permission
from portal.approvals import service
from portal.approvals.forms import DecisionForm, RulesForm, WithdrawForm
from portal.approvals.models import APPROVAL_STATUS_LABELS, ApprovalStatus
from portal.shared import clock
from portal.shared.errors import NotFound, ServiceError
from portal.shared.formatting import format_money
from portal.shared.forms import show_error
from portal.shared.permissions import customer_can, requires

bp = Blueprint("approvals", __name__)


@bp.context_processor
def _helpers():
    return {"status_labels": APPROVAL_STATUS_LABELS, "summary": service.summary, "Status": ApprovalStatus}


def _request_or_404(request_id: int):
    try:
        return service.get_request(g.organization, request_id)
    except NotFound:
        abort(404)


@bp.get("/aprovacoes")
@requires(Permission.PURCHASES_APPROVE)
def queue():
    return render_template("approvals/queue.html", queue=service.queue(g.organization),
                           rules=service.rules_of(g.organization.id))


@bp.route("/aprovacoes/regras", methods=["GET", "POST"])
@requires(Permission.PURCHASES_APPROVE)
def rules():
    current = service.rules_of(g.organization.id)
    form = RulesForm(monthly=current.monthly_cents, one_off=current.one_off_cents, new_family=current.new_family)
    if form.validate_on_submit():
        try:
            service.set_rules(g.organization, monthly_cents=form.monthly.data, one_off_cents=form.one_off.data,
                              new_family=form.new_family.data, actor=current_actor())
        except ServiceError as error:
            show_error(form, error)
        else:
            flash(_("Regras de aprovação salvas."), "success")
            return redirect(url_for("approvals.rules"))
    return render_template("approvals/rules.html", form=form), 200 if request.method == "GET" else 422


@bp.get("/aprovacoes/minhas")
@requires(Permission.LICENSES_MANAGE)
def mine():
    return render_template("approvals/mine.html", requests=service.requests_of(g.organization, current_user))


def _detail_page(approval, form: DecisionForm, status: int = 200):
    quote = approval.quote
    return render_template(
        "approvals/detail.html", approval=approval, quote=quote, form=form,
        monthly_cents=service.added_monthly_cents(quote), lines=service.lines_of(quote),
        withdraw_form=WithdrawForm(), orders=service.orders_of(approval),
        may_decide=customer_can(Permission.PURCHASES_APPROVE) and approval.status == ApprovalStatus.WAITING,
        may_withdraw=approval.requested_by_id == current_user.id and approval.status == ApprovalStatus.WAITING,
        quote_expired=quote.expires_at <= clock.now(), valid_until=quote.expires_at - timedelta(seconds=1),
    ), status


@bp.get("/aprovacoes/<int:request_id>")
@requires(Permission.LICENSES_MANAGE)
def detail(request_id: int):
    return _detail_page(_request_or_404(request_id), DecisionForm())


@bp.post("/aprovacoes/<int:request_id>/aprovar")
@requires(Permission.PURCHASES_APPROVE)
def approve(request_id: int):
    approval = _request_or_404(request_id)
    form = DecisionForm()
    if not form.validate_on_submit():
        return _detail_page(approval, form, 422)
    try:
        decision = service.approve(organization=g.organization, request_id=approval.id, actor=current_actor(),
                                   comment=form.comment.data)
    except service.AlreadyDecided as error:
        flash(error.message, "warning")
        return redirect(url_for("approvals.detail", request_id=approval.id))
    except ServiceError as error:
        show_error(form, error)
        return _detail_page(_request_or_404(request_id), form, 422)
    if decision.repriced:
        flash(_("O orçamento tinha expirado e foi refeito com a pró-rata de hoje: de %(before)s para %(after)s na "
                "próxima fatura. Confira os novos valores e aprove de novo para confirmar o pedido.",
                before=format_money(decision.previous_charge_cents),
                after=format_money(decision.request.quote.charge_cents)), "warning")
    else:
        flash(_("Compra aprovada e pedido registrado. A alteração será refletida em até 30 minutos."), "success")
    return redirect(url_for("approvals.detail", request_id=approval.id))


@bp.post("/aprovacoes/<int:request_id>/recusar")
@requires(Permission.PURCHASES_APPROVE)
def refuse(request_id: int):
    approval = _request_or_404(request_id)
    form = DecisionForm()
    if not form.validate_on_submit():
        return _detail_page(approval, form, 422)
    try:
        service.refuse(organization=g.organization, request_id=approval.id, actor=current_actor(),
                       comment=form.comment.data)
    except service.AlreadyDecided as error:
        flash(error.message, "warning")
        return redirect(url_for("approvals.detail", request_id=approval.id))
    except ServiceError as error:
        show_error(form, error)
        return _detail_page(_request_or_404(request_id), form, 422)
    flash(_("Compra recusada. Avisamos quem pediu."), "success")
    return redirect(url_for("approvals.detail", request_id=approval.id))


@bp.post("/aprovacoes/<int:request_id>/retirar")
@requires(Permission.LICENSES_MANAGE)
def withdraw(request_id: int):
    approval = _request_or_404(request_id)
    if not WithdrawForm().validate_on_submit():
        return redirect(url_for("approvals.detail", request_id=approval.id))
    try:
        service.withdraw(organization=g.organization, request_id=approval.id, actor=current_actor())
    except ServiceError as error:
        flash(error.message, "warning")
    else:
        flash(_("Pedido de aprovação retirado. Nada foi pedido."), "success")
    return redirect(url_for("approvals.detail", request_id=approval.id))
