"""Customer pages of licenses: "Licenças", "Alterar quantidades" (quote → confirm) and order status."""

from datetime import timedelta
from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import escape

from portal.accounts.context import current_actor
from portal.accounts.models import OrganizationStatus
from portal.accounts.roles import Permission
from portal.approvals import service as approvals
from portal.cancellations import service as cancellations
from portal.cancellations.models import MIN_REASON_LENGTH, REASON_LABELS, ReasonCategory
from portal.catalog.models import BILLING_LABELS, TERM_LABELS, BillingFrequency, Term
from portal.licence_usage import service as licence_usage
from portal.shared import clock
from portal.shared.errors import NotFound, ServiceError
from portal.shared.forms import show_error
from portal.shared.fragments import render_fragment
from portal.shared.paging import page_of, requested_page
from portal.shared.permissions import customer_can, requires
from portal.shared.template_gettext import Sentence
from portal.subscriptions import (
    failures,
    next_term,
    next_term_changes,
    presenters,
    purchase_orders,
    renewal_calendar,
    service,
    window,
)
from portal.subscriptions.confirmation import AwaitingApproval
from portal.subscriptions.forms import (
    ChangeQuantityForm,
    ConfirmForm,
    NextTermConfirmForm,
    NextTermForm,
    NotRenewForm,
    ReferenceForm,
)
from portal.subscriptions.models import (
    NextTermChange,
    OrderStatus,
    Quote,
    QuoteKind,
    QuoteStatus,
    Subscription,
)
from portal.subscriptions.quotes import StaleQuote

bp = Blueprint("subscriptions", __name__)

HISTORY_LIMIT = 200  # ledger rows and orders shown on a license's page, newest first
# "Renovações" a page at a time, as "Licenças" (presenters.LICENSES_PER_PAGE), "Chamados" (25) and "Faturas" (20).
RENEWALS_PER_PAGE = 25


def _status() -> int:
    """200 for a page shown; 422 when a submitted form comes back with its problems."""
    return 200 if request.method == "GET" else 422


def _subscription_or_404(subscription_id: int) -> Subscription:
    try:
        return service.get_subscription(g.organization, subscription_id)
    except NotFound:
        abort(404)


def _license_or_404(subscription_id: int) -> tuple[Subscription, NextTermChange | None]:
    """A license's page: the subscription and the change scheduled for its next term."""
    try:
        return service.get_subscription_and_next_term(g.organization, subscription_id)
    except NotFound:
        abort(404)


def _quote_or_404(token: str, *, with_subscription: bool = False) -> Quote:
    """A quantity-change quote of the current organization (checkout quotes belong to the catalog pages)."""
    try:
        quote = service.get_quote(g.organization, token, with_subscription=with_subscription)
    except NotFound:
        abort(404)
    if quote.kind != QuoteKind.QUANTITY_CHANGE:
        abort(404)
    return quote


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {"status_class": presenters.status_class, "order_summary": presenters.order_summary}


# ---------------------------------------------------------------- "Licenças"

@bp.get("/licencas")
@requires(Permission.LICENSES_READ)
def licenses():
    rows = service.license_rows(g.organization)
    shown = page_of(rows, requested_page(), presenters.LICENSES_PER_PAGE)
    table = None
    if rows:
        table = render_fragment(
            "subscriptions/_licenses_table.html",
            {"rows": shown.items, "totals": presenters.LicenseTotals.of(rows),
             "can_manage": customer_can(Permission.LICENSES_MANAGE),
             "can_cancel": customer_can(Permission.SUBSCRIPTIONS_CANCEL),
             "contract_open": g.organization.status not in (OrganizationStatus.RESCINDING, OrganizationStatus.CLOSED),
             "delinquent": g.organization.delinquent_since is not None,
             "usage": licence_usage.summaries(g.organization)},
            derive=lambda: _license_table_words(shown.items),
        )
    return render_template("subscriptions/list.html", table=table, shown=shown)


def _license_table_words(rows: tuple[service.LicenseRow, ...]) -> dict[str, Any]:
    """What the table derives from the rows it shows: translated labels."""
    return {
        # The rows' sentences with a value, translated once per table: `pattern % {...}` in the template is what
        # `_()` gives (Markup, its values escaped), without a translation lookup per row.
        "renews_on": Sentence(_("renova em %(date)s")),
        "order_number": Sentence(_("Pedido nº %(id)d")),
        "equivalent_monthly": Sentence(_("equivale a %(value)s por mês")),
        "badges": presenters.badges(),
        "term_texts": {term: _("Termo %(term)s", term=str(TERM_LABELS[Term(term)])) for term in {r.term for r in rows}},
    }


@bp.get("/licencas/<int:subscription_id>")
@requires(Permission.LICENSES_READ)
def detail(subscription_id: int):
    subscription, change = _license_or_404(subscription_id)
    form = ReferenceForm(formdata=None, purchase_order=subscription.purchase_order,
                         cost_centre=subscription.cost_centre)
    return _detail_page(subscription, change, form)


def _detail_page(subscription: Subscription, change: NextTermChange | None, form: ReferenceForm):
    history = service.subscription_history(g.organization, subscription, HISTORY_LIMIT)
    orders = service.subscription_orders(g.organization, subscription, HISTORY_LIMIT)
    facts = presenters.facts(subscription, orders[0] if orders else None)
    usage = licence_usage.overview(g.organization).by_subscription.get(subscription.id)
    return render_template("subscriptions/detail.html", facts=facts, history=history, orders=orders,
                           history_limit=HISTORY_LIMIT, reference_form=form, usage=usage,
                           renewal=_renewal_facts(subscription, change), action_form=ConfirmForm()), _status()


def _renewal_facts(subscription: Subscription, change: NextTermChange | None) -> dict[str, Any]:
    """The renewal's box of a license's pages: "decidir até", the change scheduled (`change`, read with the
    subscription or by `next_term.current_change`), whether it may change now."""
    schedulable = True
    try:
        next_term.ensure_schedulable(subscription, clock.now())
    except ServiceError:
        schedulable = False
    return {"decide_by": next_term.decide_by(subscription), "change": change,
            "schedulable": schedulable, "long_term": next_term.is_long_term(subscription.product),
            "microsoft": subscription.product.is_microsoft}


@bp.post("/licencas/<int:subscription_id>/pedido-de-compra")
@requires(Permission.LICENSES_MANAGE)
def reference(subscription_id: int):
    """The subscription's purchase-order number and cost centre (printed on its invoice lines from then on)."""
    subscription, change = _license_or_404(subscription_id)
    form = ReferenceForm()
    if form.validate_on_submit():
        try:
            purchase_orders.set_subscription_reference(
                organization=g.organization, subscription=subscription, purchase_order=form.purchase_order.data,
                cost_centre=form.cost_centre.data, actor=current_actor())
        except NotFound:
            abort(404)
        except ServiceError as error:
            show_error(form, error)
        else:
            flash(_("Pedido de compra e centro de custo salvos. Valem para as próximas faturas."), "success")
            return redirect(url_for("subscriptions.detail", subscription_id=subscription.id))
    return _detail_page(subscription, change, form)


# ---------------------------------------------------------------- "Alterar quantidades"

def _prefill(form: ChangeQuantityForm, subscription: Subscription) -> None:
    """A new form starts from the current quantity, from "reduzir N" of "Uso de licenças" (?reduzir=N: the current
    quantity less N), or from an earlier quote being redone (?orcamento=)."""
    form.quantity.data = subscription.quantity
    reduce = request.args.get("reduzir", "")
    if reduce.isdigit() and 0 < int(reduce) <= subscription.quantity:
        form.quantity.data = subscription.quantity - int(reduce)
    token = request.args.get("orcamento")
    if not token:
        return
    try:
        earlier = service.get_quote(g.organization, token)
    except NotFound:
        return
    if earlier.subscription_id == subscription.id and earlier.new_quantity is not None:
        form.quantity.data = earlier.new_quantity
        form.category.data = earlier.cancellation_category or ""
        form.reason.data = earlier.cancellation_reason or ""


@bp.route("/licencas/<int:subscription_id>/alterar", methods=["GET", "POST"])
@requires(Permission.LICENSES_MANAGE)
def change(subscription_id: int):
    subscription = _subscription_or_404(subscription_id)
    form = ChangeQuantityForm()
    # "Inadimplente": only decreases are accepted (billing.payments.ensure_not_delinquent), so the field says so.
    most = subscription.quantity if g.organization.delinquent_since is not None else subscription.product.max_quantity
    form.quantity.render_kw = {**form.quantity.render_kw, "max": most}
    if request.method == "GET":
        _prefill(form, subscription)
    if form.validate_on_submit():
        try:
            if form.cancels:  # zero is a cancellation: the consequences and the password are asked there
                quote = cancellations.preview_cancellation(
                    organization=g.organization, subscription=subscription, actor=current_actor(),
                    actor_membership=g.membership, category=form.category.data or None, reason=form.reason.data,
                )
                return redirect(url_for("cancellations.preview", token=quote.token))
            quote = service.quote_quantity_change(
                organization=g.organization, subscription=subscription, new_quantity=form.quantity.data,
                actor=current_actor(),
            )
        except ServiceError as error:
            show_error(form, error)
        else:
            return redirect(url_for("subscriptions.preview", token=quote.token))
    return render_template(
        "subscriptions/change.html", form=form, facts=presenters.facts(subscription),
        window=window.words(subscription.product.decrease_window_hours, "days"),
        rescission_label=REASON_LABELS[ReasonCategory.RESCISSION], min_reason=MIN_REASON_LENGTH,
    ), _status()


@bp.get("/licencas/orcamento/<token>")
@requires(Permission.LICENSES_MANAGE)
def preview(token: str):
    quote = _quote_or_404(token, with_subscription=True)  # with what the page shows, loaded at once
    if service.is_cancellation(quote):
        return redirect(url_for("cancellations.preview", token=quote.token))
    subscription = quote.subscription
    if subscription is None:
        abort(404)
    lines = presenters.describe_lines(quote)
    confirmed = quote.status == QuoteStatus.CONFIRMED
    # The provider erases a change scheduled for the renewal when the quantity changes mid-term: say so (the portal
    # sends it again once this change is done).
    scheduled = None if confirmed else next_term.current_change(subscription)
    return render_template(
        "subscriptions/preview.html", quote=quote, subscription=subscription, product=subscription.product,
        lines=lines, facts=presenters.facts(subscription), confirmed=confirmed,
        orders=service.quote_orders(quote) if confirmed else [],
        expired=not confirmed and quote.expires_at <= clock.now(),
        valid_until=quote.expires_at - timedelta(seconds=1),
        next_period=presenters.next_period_start(lines),
        quote_monthly=service.monthly_equivalent(quote.recurring_cents, subscription.product),
        window_days=window.words(subscription.product.decrease_window_hours, "days"),
        window_hours=window.words(subscription.product.decrease_window_hours),
        scheduled=scheduled, approval=None if confirmed else approvals.waiting_for(g.organization, quote),
    )


@bp.post("/licencas/orcamento/<token>/confirmar")
@requires(Permission.LICENSES_MANAGE)
def confirm(token: str):
    quote = _quote_or_404(token)
    if not ConfirmForm().validate_on_submit():
        return redirect(url_for("subscriptions.preview", token=quote.token))
    redo = url_for("subscriptions.change", subscription_id=quote.subscription_id, orcamento=quote.token)
    try:
        service.confirm_quote(organization=g.organization, token=quote.token, actor=current_actor())
    except NotFound:
        abort(404)
    except AwaitingApproval as waiting:
        flash(waiting.message, "warning")
        return redirect(url_for("approvals.detail", request_id=waiting.request.id))
    except StaleQuote as error:
        flash(error.message, "warning")
        return redirect(redo)
    except ServiceError as error:
        flash(error.message, "danger")
        return redirect(redo)
    flash(_("Pedido registrado. A alteração será refletida em até 30 minutos."), "success")
    return redirect(presenters.licenses_url_showing(g.organization, quote.subscription_id))


# ---------------------------------------------------------------- orders

@bp.get("/pedidos/<int:order_id>")
@requires(Permission.LICENSES_READ)
def order(order_id: int):
    try:
        found = service.get_order(g.organization, order_id)
    except NotFound:
        abort(404)
    # A failure the customer can act on says what to do; any other says only that the team is on it (failures.py).
    action = failures.cause_of(found.error_code).customer_action if found.status == OrderStatus.FAILED else None
    return render_template("subscriptions/order.html", order=found, summary=presenters.order_summary(found),
                           timeline=presenters.order_timeline(found), customer_action=action)


# ---------------------------------------------------------------- "Renovações"

@bp.get("/renovacoes")
@requires(Permission.LICENSES_READ)
def renewals():
    """The renewals calendar: terms of a year or more; monthly rollovers too with ?mensais=1."""
    include_monthly = request.args.get("mensais") == "1"
    rows = renewal_calendar.upcoming_renewals(g.organization, clock.today(), include_monthly=include_monthly)
    shown = page_of(rows, requested_page(), RENEWALS_PER_PAGE)
    return render_template("subscriptions/renewals.html", shown=shown, include_monthly=include_monthly,
                           words=_renewal_words(), can_manage=customer_can(Permission.LICENSES_MANAGE))


def _renewal_words() -> dict[str, Any]:
    """"Renovações"' words translated once a page, not once a row: patterns the template fills with `%` (Markup,
    escaped once here, so the values filled in are escaped as a template's `_()` escapes them), and "termo anual"
    … per term."""
    return {"term": {term: _("termo %(term)s", term=str(label)) for term, label in TERM_LABELS.items()},
            "ends": Sentence(escape(_("Não renova: termina em %(date)s"))),
            "renews_as": Sentence(escape(_("Renova como %(product)s"))),
            "today": Sentence(escape(_("hoje %(num)d →"))), "of_product": Sentence(escape(_("de %(product)s"))),
            "closed": Sentence(escape(_("prazo encerrado em %(when)s")))}


def _next_term_form(subscription: Subscription, form: NextTermForm) -> NextTermForm:
    form.product_id.choices = [
        (p.id, _("%(product)s (atual)", product=p.name) if p.id == subscription.product_id
         else _("%(product)s — termo %(term)s, cobrança %(billing)s", product=p.name, term=TERM_LABELS[Term(p.term)],
                billing=BILLING_LABELS[BillingFrequency(p.billing_frequency)]))
        for p in next_term.options(subscription)]
    return form


def _next_term_page(subscription: Subscription, form: NextTermForm, not_renew: NotRenewForm):
    return render_template(
        "subscriptions/next_term.html", form=form, not_renew=not_renew, facts=presenters.facts(subscription),
        renewal=_renewal_facts(subscription, next_term.current_change(subscription)), min_reason=MIN_REASON_LENGTH,
        cancel_allowed=customer_can(Permission.SUBSCRIPTIONS_CANCEL),
    ), _status()


@bp.route("/licencas/<int:subscription_id>/renovacao", methods=["GET", "POST"])
@requires(Permission.LICENSES_MANAGE)
def next_term_change(subscription_id: int):
    """"Mudar a renovação": the form (GET), then the confirmation of what was chosen (POST), nothing saved yet."""
    subscription = _subscription_or_404(subscription_id)
    form = _next_term_form(subscription, NextTermForm())
    if request.method == "GET":
        change = next_term.current_change(subscription)
        form.product_id.data = change.product_id if change else subscription.product_id
        form.quantity.data = change.quantity if change else (
            subscription.renewal_quantity or subscription.quantity)
    elif form.validate_on_submit():
        try:
            plan = next_term_changes.preview(organization=g.organization, subscription=subscription,
                                             product_id=form.product_id.data, quantity=form.quantity.data)
        except ServiceError as error:
            show_error(form, error)
        else:
            confirm_form = NextTermConfirmForm(formdata=None, product_id=plan.product.id, quantity=plan.quantity)
            return render_template("subscriptions/next_term_confirm.html", plan=plan, form=confirm_form,
                                   facts=presenters.facts(subscription), term_labels=TERM_LABELS,
                                   billing_labels=BILLING_LABELS, current=next_term.current_change(subscription))
    return _next_term_page(subscription, form, NotRenewForm(formdata=None))


@bp.post("/licencas/<int:subscription_id>/renovacao/agendar")
@requires(Permission.LICENSES_MANAGE)
def schedule_next_term(subscription_id: int):
    subscription = _subscription_or_404(subscription_id)
    confirm_form = NextTermConfirmForm()
    form = _next_term_form(subscription, NextTermForm(formdata=None))
    if not confirm_form.validate_on_submit():
        flash(_("Não conseguimos ler a mudança confirmada. Escolha de novo."), "warning")
        return redirect(url_for("subscriptions.next_term_change", subscription_id=subscription.id))
    try:
        next_term_changes.schedule(organization=g.organization, subscription=subscription,
                                   product_id=confirm_form.product_id.data, quantity=confirm_form.quantity.data,
                                   actor=current_actor())
    except ServiceError as error:
        form.product_id.data, form.quantity.data = confirm_form.product_id.data, confirm_form.quantity.data
        show_error(form, error)
        if not (form.product_id.errors or form.quantity.errors):
            flash(error.message, "danger")
        return _next_term_page(_subscription_or_404(subscription_id), form, NotRenewForm(formdata=None))
    flash(_("Mudança agendada para a renovação. Ela será enviada ao fornecedor em até 30 minutos."), "success")
    return redirect(url_for("subscriptions.detail", subscription_id=subscription.id))


@bp.post("/licencas/<int:subscription_id>/renovacao/retirar")
@requires(Permission.LICENSES_MANAGE)
def withdraw_next_term(subscription_id: int):
    subscription = _subscription_or_404(subscription_id)
    if ConfirmForm().validate_on_submit():
        try:
            next_term_changes.withdraw(organization=g.organization, subscription=subscription, actor=current_actor())
        except ServiceError as error:
            flash(error.message, "danger")
        else:
            flash(_("Mudança retirada: a licença renova como está. O fornecedor é avisado em até 30 minutos."),
                  "success")
    return redirect(url_for("subscriptions.detail", subscription_id=subscription.id))


@bp.post("/licencas/<int:subscription_id>/renovacao/nao-renovar")
@requires(Permission.SUBSCRIPTIONS_CANCEL)
def not_renew(subscription_id: int):
    """"Não renovar": a cancellation like any other (portal/cancellations), with its reason and the password."""
    subscription = _subscription_or_404(subscription_id)
    not_renew_form = NotRenewForm()
    if not_renew_form.validate_on_submit():
        try:
            quote = cancellations.preview_cancellation(
                organization=g.organization, subscription=subscription, actor=current_actor(),
                actor_membership=g.membership, category=not_renew_form.category.data or None,
                reason=not_renew_form.reason.data)
        except ServiceError as error:
            show_error(not_renew_form, error)
        else:
            return redirect(url_for("cancellations.preview", token=quote.token))
    form = _next_term_form(subscription, NextTermForm(formdata=None))
    form.product_id.data, form.quantity.data = subscription.product_id, subscription.quantity
    return _next_term_page(subscription, form, not_renew_form)
