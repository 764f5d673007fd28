"""Customer pages of licenses: "Licenças", "Alterar quantidades" (quote → confirm) and order status."""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from portal.accounts.context import actor_from_request
from portal.accounts.models import OrganizationStatus
from portal.accounts.roles import Permission
from portal.cancellations import service as cancellations
from portal.cancellations.models import MIN_REASON_LENGTH, REASON_LABELS, ReasonCategory
from portal.catalog.models import BILLING_LABELS, TERM_LABELS, BillingFrequency, Term
from portal.shared import clock
from portal.shared.errors import NotFound, ServiceError
from portal.shared.fragments import render_fragment
from portal.shared.permissions import customer_can, requires
from portal.subscriptions import failures, service
from portal.subscriptions.forms import ChangeQuantityForm, ConfirmForm
from portal.subscriptions.models import (
    ORDER_STATUS_LABELS,
    SUBSCRIPTION_STATUS_LABELS,
    Order,
    OrderKind,
    OrderStatus,
    Quote,
    QuoteKind,
    QuoteStatus,
    Subscription,
    SubscriptionStatus,
)
from portal.subscriptions.service import StaleQuote

bp = Blueprint("subscriptions", __name__)

HISTORY_LIMIT = 200  # ledger rows and orders shown on a license's page, newest first


def _status() -> int:
    """200 for a page shown; 422 when a submitted form comes back with its problems."""
    return 200 if request.method == "GET" else 422


def _actor():
    return actor_from_request(request)


def _form_error(form, error: ServiceError) -> None:
    target = getattr(form, error.field, None) if error.field else None
    if target is not None:
        target.errors = [*target.errors, error.message]
    else:
        flash(error.message, "danger")


def _subscription_or_404(subscription_id: int) -> Subscription:
    try:
        return service.get_subscription(g.organization, subscription_id)
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


# ---------------------------------------------------------------- what the pages show

@dataclass
class LicenseFacts:
    """One subscription as the pages describe it (all money in centavos)."""

    subscription: Subscription
    prices: list[tuple[int, int]]  # (licenses, unit price) per price in use, cheapest first
    recurring_cents: int  # per billing period, each lot at the price it was billed at
    monthly_cents: int  # the same as twelfths for annual billing (display only)
    annual: bool
    latest_order: Order | None = None
    open_windows: list[tuple[int, datetime]] = field(default_factory=list)  # (licenses, window end)

    # The words, translated when a page shows them (not every page does).
    @property
    def billing_label(self) -> str:
        return str(BILLING_LABELS[BillingFrequency(self.subscription.product.billing_frequency)])

    @property
    def term_label(self) -> str:
        return str(TERM_LABELS[Term(self.subscription.product.term)])

    @property
    def term_text(self) -> str:  # "Termo anual"
        return _("Termo %(term)s", term=self.term_label)

    @property
    def unit_price_cents(self) -> int | None:
        """The price per license when every license costs the same; None when lots differ (or none remain)."""
        return self.prices[0][1] if len(self.prices) == 1 else None

    @property
    def scheduled_decrease(self) -> int | None:
        """Licenses that leave at the end of the term (a decrease outside the window), if any."""
        renewal = self.subscription.renewal_quantity
        return None if renewal is None else self.subscription.quantity - renewal

    @property
    def manageable(self) -> bool:
        return self.subscription.status == SubscriptionStatus.ACTIVE


def _facts(subscription: Subscription, latest_order: Order | None = None) -> LicenseFacts:
    """A subscription's facts for its own pages (its lots loaded with it, see `service.get_subscription`)."""
    product = subscription.product
    by_price: dict[int, int] = {}
    open_windows = []
    now = clock.now()
    stock = service.lot_stock(subscription)
    for lot in stock:
        by_price[lot.unit_price_cents] = by_price.get(lot.unit_price_cents, 0) + lot.remaining
        if lot.window_end > now:
            open_windows.append((lot.remaining, lot.window_end))
    recurring = service.stock_cents(stock)
    return LicenseFacts(
        subscription=subscription,
        prices=[(quantity, price) for price, quantity in sorted(by_price.items())],
        recurring_cents=recurring,
        monthly_cents=service.monthly_equivalent(recurring, product),
        annual=product.billing_frequency == BillingFrequency.ANNUAL,
        latest_order=latest_order,
        open_windows=sorted(open_windows, key=lambda item: item[1]),
    )


def window_words(hours: int, unit: str = "hours") -> str:
    """A decrease window as people say it: "168 horas", or "7 dias" when asked for days and it is whole days."""
    if unit == "days" and hours % 24 == 0:
        return ngettext("%(num)d dia", "%(num)d dias", hours // 24)
    return ngettext("%(num)d hora", "%(num)d horas", hours)


@dataclass(frozen=True)
class LineView:
    """A quote line with what its sentence needs, derived from the stored ISO dates."""

    kind: str
    quantity: int
    unit_price_cents: int
    amount_cents: int  # always ≥ 0 here: the sentence says whether it is a charge or a credit
    effective_on: date | None
    first_day: date | None = None  # pró-rata from this day …
    last_day: date | None = None  # … to this day, inclusive (the period's end is exclusive)
    days: int = 0  # days charged or credited: from the effective day to the period's end
    period_days: int = 0  # days in the billing period
    window_end: datetime | None = None


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def describe_lines(quote: Quote) -> list[LineView]:
    views = []
    for line in quote.lines:
        start, end, effective = _day(line.get("period_start")), _day(line.get("period_end")), _day(
            line.get("effective_on"))
        window_end = datetime.fromisoformat(line["window_end"]) if line.get("window_end") else None
        prorated = start is not None and end is not None and effective is not None
        views.append(LineView(
            kind=line["kind"], quantity=line["quantity"], unit_price_cents=line["unit_price_cents"],
            amount_cents=abs(line["amount_cents"]), effective_on=effective,
            first_day=effective if prorated else None, last_day=end - timedelta(days=1) if prorated else None,
            days=(end - effective).days if prorated else 0, period_days=(end - start).days if prorated else 0,
            window_end=window_end,
        ))
    return views


def _next_period_start(lines: list[LineView]) -> date | None:
    return next((line.last_day + timedelta(days=1) for line in lines if line.last_day), None)


def order_summary(order: Order) -> str:
    """What an order does, in words."""
    product = order.subscription.product.name
    if order.kind == OrderKind.PURCHASE:
        return ngettext("Contratação de %(product)s: %(num)d licença", "Contratação de %(product)s: %(num)d licenças",
                        order.quantity, product=product)
    if order.kind == OrderKind.RENEWAL_QUANTITY:
        return ngettext("%(product)s: %(num)d licença a partir da renovação",
                        "%(product)s: %(num)d licenças a partir da renovação", order.quantity, product=product)
    return ngettext("%(product)s: quantidade alterada para %(num)d licença",
                    "%(product)s: quantidade alterada para %(num)d licenças", order.quantity, product=product)


@dataclass(frozen=True)
class TimelineStep:
    at: datetime
    text: str
    status: str


def order_timeline(order: Order) -> list[TimelineStep]:
    """The order's status changes in plain words: no provider messages, codes or retries for customers."""
    steps: list[TimelineStep] = []
    previous = None
    for event in order.events:
        if event.status == previous:
            continue  # retries, polls and waits: the customer only sees the state move
        if previous is None:
            text = _("Pedido recebido.")
        elif event.status == OrderStatus.SENT:
            text = _("Pedido em processamento.")
        elif event.status == OrderStatus.DONE:
            text = _("Pedido concluído.")
        elif event.status == OrderStatus.FAILED:
            text = _("Não conseguimos concluir; nossa equipe já foi avisada.")
        elif event.status == OrderStatus.WITHDRAWN:
            text = _("Pedido retirado: não será enviado.")
        else:
            text = _("Nossa equipe enviou o pedido novamente.")
        steps.append(TimelineStep(at=event.created_at, text=text, status=event.status))
        previous = event.status
    return steps


def _status_class(status: str) -> str:
    return {
        SubscriptionStatus.ACTIVE: "text-bg-success", SubscriptionStatus.PROVISIONING: "text-bg-info",
        SubscriptionStatus.SUSPENDED: "text-bg-warning", SubscriptionStatus.CANCELLED: "text-bg-secondary",
        OrderStatus.PENDING: "text-bg-info", OrderStatus.SENT: "text-bg-info",
        OrderStatus.DONE: "text-bg-success", OrderStatus.FAILED: "text-bg-danger",
    }.get(status, "text-bg-secondary")


def _badges() -> dict[str, tuple[str, str]]:
    """Status → (badge class, label) for subscriptions and orders, translated once for a list page."""
    statuses = {**SUBSCRIPTION_STATUS_LABELS, **ORDER_STATUS_LABELS}
    return {str(status): (_status_class(status), str(label)) for status, label in statuses.items()}


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {"status_class": _status_class, "order_summary": order_summary}


# ---------------------------------------------------------------- "Licenças"

@bp.get("/licencas")
@requires(Permission.LICENSES_READ)
def licenses():
    rows = service.license_rows(g.organization)
    table = None
    if rows:
        table = render_fragment(
            "subscriptions/_licenses_table.html",
            {"rows": rows, "can_manage": customer_can(Permission.LICENSES_MANAGE),
             "can_cancel": customer_can(Permission.SUBSCRIPTIONS_CANCEL),
             "contract_open": g.organization.status not in (OrganizationStatus.RESCINDING, OrganizationStatus.CLOSED),
             "delinquent": g.organization.delinquent_since is not None},
            derive=lambda: _license_table_words(rows),
        )
    return render_template("subscriptions/list.html", table=table)


def _license_table_words(rows: tuple[service.LicenseRow, ...]) -> dict[str, Any]:
    """What the table derives from its rows: translated labels and the totals."""
    monthly = [r for r in rows if not r.annual]
    annual = [r for r in rows if r.annual]
    return {
        "badges": _badges(),
        "term_texts": {term: _("Termo %(term)s", term=str(TERM_LABELS[Term(term)])) for term in {r.term for r in rows}},
        "totals": {"monthly": sum(r.recurring_cents for r in monthly), "annual": sum(r.recurring_cents for r in annual),
                   "monthly_equivalent": sum(r.monthly_cents for r in rows),
                   "any_monthly": bool(monthly), "any_annual": bool(annual)},
    }


@bp.get("/licencas/<int:subscription_id>")
@requires(Permission.LICENSES_READ)
def detail(subscription_id: int):
    subscription = _subscription_or_404(subscription_id)
    history = service.subscription_history(g.organization, subscription, HISTORY_LIMIT)
    orders = service.subscription_orders(g.organization, subscription, HISTORY_LIMIT)
    facts = _facts(subscription, orders[0] if orders else None)
    return render_template("subscriptions/detail.html", facts=facts, history=history, orders=orders,
                           history_limit=HISTORY_LIMIT)


# ---------------------------------------------------------------- "Alterar quantidades"

def _prefill(form: ChangeQuantityForm, subscription: Subscription) -> None:
    """A new form starts from the current quantity, or from an earlier quote being redone (?orcamento=)."""
    form.quantity.data = subscription.quantity
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
                    organization=g.organization, subscription=subscription, actor=_actor(),
                    actor_membership=g.membership, category=form.category.data or None, reason=form.reason.data,
                )
                return redirect(url_for("cancellations.preview", token=quote.token))
            quote = service.quote_quantity_change(
                organization=g.organization, subscription=subscription, new_quantity=form.quantity.data,
                actor=_actor(),
            )
        except ServiceError as error:
            _form_error(form, error)
        else:
            return redirect(url_for("subscriptions.preview", token=quote.token))
    return render_template(
        "subscriptions/change.html", form=form, facts=_facts(subscription),
        window=window_words(subscription.product.decrease_window_hours, "days"),
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
    lines = describe_lines(quote)
    confirmed = quote.status == QuoteStatus.CONFIRMED
    return render_template(
        "subscriptions/preview.html", quote=quote, subscription=subscription, product=subscription.product,
        lines=lines, facts=_facts(subscription), confirmed=confirmed,
        orders=service.quote_orders(quote) if confirmed else [],
        expired=not confirmed and quote.expires_at <= clock.now(),
        valid_until=quote.expires_at - timedelta(seconds=1),
        next_period=_next_period_start(lines),
        quote_monthly=service.monthly_equivalent(quote.recurring_cents, subscription.product),
        window_days=window_words(subscription.product.decrease_window_hours, "days"),
        window_hours=window_words(subscription.product.decrease_window_hours),
    )


@bp.post("/licencas/orcamento/<token>/confirmar")
@requires(Permission.LICENSES_MANAGE)
def confirm(token: str):
    quote = _quote_or_404(token)
    if not ConfirmForm().validate_on_submit():
        return redirect(url_for("subscriptions.preview", token=quote.token))
    redo = url_for("subscriptions.change", subscription_id=quote.subscription_id, orcamento=quote.token)
    try:
        service.confirm_quote(organization=g.organization, token=quote.token, actor=_actor())
    except NotFound:
        abort(404)
    except StaleQuote as error:
        flash(error.message, "warning")
        return redirect(redo)
    except ServiceError as error:
        flash(error.message, "danger")
        return redirect(redo)
    flash(_("Pedido registrado. A alteração será refletida em até 30 minutos."), "success")
    return redirect(url_for("subscriptions.licenses"))


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
    return render_template("subscriptions/order.html", order=found, summary=order_summary(found),
                           timeline=order_timeline(found), customer_action=action)
