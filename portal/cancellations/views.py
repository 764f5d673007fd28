"""Customer pages of "Cancelar" (a license) and "Rescisão de contrato": reason → consequences → password."""

from datetime import timedelta
from typing import Any

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from portal.accounts.context import current_actor
from portal.accounts.models import OrganizationStatus
from portal.accounts.roles import Permission
from portal.cancellations import policy, service
from portal.cancellations.forms import CancelForm, PasswordForm, RescissionConfirmForm, RescissionForm
from portal.cancellations.models import MIN_REASON_LENGTH, REASON_LABELS, ReasonCategory
from portal.shared import clock
from portal.shared.errors import NotFound, PermissionDenied, ServiceError
from portal.shared.forms import show_error
from portal.shared.permissions import customer_can, requires
from portal.subscriptions import next_term, presenters, window
from portal.subscriptions import service as subscriptions
from portal.subscriptions.models import Quote, QuoteStatus, Subscription
from portal.subscriptions.quotes import StaleQuote

bp = Blueprint("cancellations", __name__)


@bp.context_processor
def _helpers() -> dict[str, Any]:
    # The licenses pages' macros (templates/subscriptions/_macros.html) read these.
    return {"status_class": presenters.status_class, "order_summary": presenters.order_summary}


@bp.app_context_processor
def _reason_labels() -> dict[str, Any]:
    """`cancellation_category_label(code)` for any page that shows a reason (e.g. "Histórico")."""
    return {"cancellation_category_label": lambda code: str(REASON_LABELS.get(code, code or ""))}


def _subscription_or_404(subscription_id: int) -> Subscription:
    try:
        return subscriptions.get_subscription(g.organization, subscription_id)
    except NotFound:
        abort(404)


def _quote_or_404(token: str) -> Quote:
    try:
        return service.cancellation_quote(g.organization, token)
    except NotFound:
        abort(404)


# ---------------------------------------------------------------- "Cancelar"

def _prefill(form: CancelForm, subscription: Subscription) -> None:
    """Coming back from the consequences (?orcamento=) keeps the category and the text."""
    token = request.args.get("orcamento")
    if not token:
        return
    try:
        earlier = subscriptions.get_quote(g.organization, token)
    except NotFound:
        return
    if earlier.subscription_id == subscription.id and earlier.cancellation_category:
        form.category.data = earlier.cancellation_category
        form.reason.data = earlier.cancellation_reason or ""


@bp.route("/licencas/<int:subscription_id>/cancelar", methods=["GET", "POST"])
@requires(Permission.SUBSCRIPTIONS_CANCEL)
def cancel(subscription_id: int):
    subscription = _subscription_or_404(subscription_id)
    form = CancelForm()
    if request.method == "GET":
        _prefill(form, subscription)
    if form.validate_on_submit():
        try:
            quote = service.preview_cancellation(
                organization=g.organization, subscription=subscription, actor=current_actor(),
                actor_membership=g.membership, category=form.category.data, reason=form.reason.data,
            )
        except PermissionDenied:
            abort(403)
        except ServiceError as error:
            show_error(form, error)
        else:
            return redirect(url_for("cancellations.preview", token=quote.token))
    facts = presenters.facts(subscription)
    in_window, after_window = policy.window_split(facts.open_windows, subscription.quantity)
    return render_template(
        "cancellations/cancel.html", form=form, facts=facts,
        in_window=in_window, after_window=after_window,
        window=window.words(subscription.product.decrease_window_hours, "days"),
        min_reason=MIN_REASON_LENGTH, rescission_label=REASON_LABELS[ReasonCategory.RESCISSION],
    ), 200 if request.method == "GET" else 422


def _preview_page(quote: Quote, form: PasswordForm, status: int = 200):
    subscription = quote.subscription
    lines = presenters.describe_lines(quote)
    confirmed = quote.status == QuoteStatus.CONFIRMED
    return render_template(
        "cancellations/preview.html", quote=quote, subscription=subscription, product=subscription.product,
        lines=lines, facts=presenters.facts(subscription), confirmed=confirmed,
        orders=subscriptions.quote_orders(quote) if confirmed else [],
        request_=service.request_of(quote) if confirmed else None,
        expired=not confirmed and quote.expires_at <= clock.now(),
        valid_until=quote.expires_at - timedelta(seconds=1),
        ends_now=sum(line.quantity for line in lines if line.kind == "credit"),
        at_term_end=sum(line.quantity for line in lines if line.kind == "scheduled"),
        window_days=window.words(subscription.product.decrease_window_hours, "days"),
        window_hours=window.words(subscription.product.decrease_window_hours),
        reason_label=REASON_LABELS.get(quote.cancellation_category), form=form,
        # the change scheduled in "Renovações", which the cancellation withdraws (said before confirming)
        scheduled=None if confirmed else next_term.current_change(subscription),
    ), status


@bp.get("/licencas/cancelamento/<token>")
@requires(Permission.SUBSCRIPTIONS_CANCEL)
def preview(token: str):
    return _preview_page(_quote_or_404(token), PasswordForm())


@bp.post("/licencas/cancelamento/<token>/confirmar")
@requires(Permission.SUBSCRIPTIONS_CANCEL)
def confirm(token: str):
    quote = _quote_or_404(token)
    form = PasswordForm()
    if not form.validate_on_submit():
        return _preview_page(quote, form, 422)
    try:
        service.cancel(organization=g.organization, token=quote.token, password=form.password.data,
                       actor=current_actor(), actor_membership=g.membership)
    except NotFound:
        abort(404)
    except PermissionDenied:
        abort(403)
    except StaleQuote as error:
        flash(error.message, "warning")
        return redirect(url_for("cancellations.cancel", subscription_id=quote.subscription_id, orcamento=quote.token))
    except ServiceError as error:
        show_error(form, error)
        return _preview_page(quote, form, 422)
    flash(_("Cancelamento registrado com o motivo informado. A alteração será refletida em até 30 minutos."),
          "success")
    return redirect(presenters.licenses_url_showing(g.organization, quote.subscription_id))


# ---------------------------------------------------------------- "Rescisão de contrato"

def _rescission_page(form: RescissionForm | None = None, withdraw_form: PasswordForm | None = None,
                     status: int = 200, refusal: str | None = None):
    organization = g.organization
    return render_template(
        "cancellations/rescission.html", form=form or RescissionForm(), withdraw_form=withdraw_form or PasswordForm(),
        rescission=service.current_rescission(organization),
        last=service.latest_rescission(organization) if organization.status == OrganizationStatus.CLOSED else None,
        may_withdraw=customer_can(Permission.RESCISSION_WITHDRAW), refusal=refusal,
        category_label=REASON_LABELS[ReasonCategory.RESCISSION], min_reason=MIN_REASON_LENGTH,
        grace=current_app.config["RESCISSION_GRACE_MINUTES"],
    ), status


def _rescission_preview_page(preview: service.RescissionPreview, form: RescissionConfirmForm, status: int = 200):
    form.reason.data = preview.reason
    form.fingerprint.data = preview.fingerprint
    return render_template(
        "cancellations/rescission_preview.html", preview=preview, form=form,
        category_label=REASON_LABELS[ReasonCategory.RESCISSION],
        grace=current_app.config["RESCISSION_GRACE_MINUTES"],
        window=lambda hours: window.words(hours, "days"),
    ), status


@bp.route("/rescisao", methods=["GET", "POST"])
@requires(Permission.SUBSCRIPTIONS_CANCEL)
def rescission():
    form = RescissionForm()
    if not form.validate_on_submit():
        return _rescission_page(form, status=200 if request.method == "GET" else 422)
    try:
        preview_ = service.preview_rescission(organization=g.organization, actor=current_actor(),
                                              actor_membership=g.membership, reason=form.reason.data)
    except PermissionDenied:
        abort(403)
    except ServiceError as error:
        show_error(form, error)
        return _rescission_page(form, status=422)
    return _rescission_preview_page(preview_, RescissionConfirmForm(formdata=None))


@bp.post("/rescisao/confirmar")
@requires(Permission.SUBSCRIPTIONS_CANCEL)
def rescission_confirm():
    form = RescissionConfirmForm()
    if not form.validate_on_submit():  # the password was missing: the same consequences again, with the message
        return _rescission_again(form, form)
    try:
        service.rescind(organization=g.organization, reason=form.reason.data, fingerprint=form.fingerprint.data,
                        password=form.password.data, actor=current_actor(), actor_membership=g.membership)
    except PermissionDenied:
        abort(403)
    except StaleQuote as error:  # the licenses changed: show what rescinding does now
        flash(error.message, "warning")
        return _rescission_again(form, RescissionConfirmForm(formdata=None))
    except ServiceError as error:
        if error.field == "password":
            show_error(form, error)
            return _rescission_again(form, form)
        flash(error.message, "danger")
        return redirect(url_for("cancellations.rescission"))
    flash(_("Rescisão registrada. Os pedidos só serão enviados ao fornecedor depois do prazo para retirá-la."),
          "success")
    return redirect(url_for("cancellations.rescission"))


def _rescission_again(posted: RescissionConfirmForm, form: RescissionConfirmForm):
    """The consequences as they are now, re-rendered with `form`'s messages (422); if they cannot be shown any
    more (the reason was tampered with, the contract is already in rescission…), back to the rescission page."""
    try:
        preview_ = service.preview_rescission(organization=g.organization, actor=current_actor(),
                                              actor_membership=g.membership, reason=posted.reason.data)
    except PermissionDenied:
        abort(403)
    except ServiceError as error:
        flash(error.message, "danger")
        return redirect(url_for("cancellations.rescission"))
    return _rescission_preview_page(preview_, form, 422)


@bp.post("/rescisao/retirar")
@requires(Permission.RESCISSION_WITHDRAW)  # the Master, who answers for the contract
def withdraw():
    form = PasswordForm()
    if not form.validate_on_submit():
        return _rescission_page(withdraw_form=form, status=422)
    try:
        service.withdraw_rescission(organization=g.organization, password=form.password.data, actor=current_actor(),
                                    actor_membership=g.membership)
    except PermissionDenied:
        abort(403)
    except ServiceError as error:
        if error.field == "password":
            show_error(form, error)
            return _rescission_page(withdraw_form=form, status=422)
        return _rescission_page(withdraw_form=form, status=422, refusal=error.message)
    flash(_("Rescisão retirada. As licenças continuam como antes e nada foi enviado ao fornecedor."), "success")
    return redirect(url_for("subscriptions.licenses"))
