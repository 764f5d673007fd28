"""What the licenses pages show, shared by the subscriptions and cancellations views: a subscription's facts,
a quote's lines as sentences need them, an order in words, and the status badges."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import NamedTuple

from flask import url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from portal.accounts.models import Organization
from portal.catalog.models import BILLING_LABELS, TERM_LABELS, BillingFrequency, Term
from portal.shared import clock
from portal.subscriptions.lots import lot_stock, open_windows, stock_cents
from portal.subscriptions.models import (
    ORDER_STATUS_LABELS,
    SUBSCRIPTION_STATUS_LABELS,
    Order,
    OrderKind,
    OrderStatus,
    Quote,
    Subscription,
    SubscriptionStatus,
)
from portal.subscriptions.prices import monthly_equivalent
from portal.subscriptions.service import LicenseRow, license_rows


class LicenseTotals(NamedTuple):
    """"Licenças"' footer: what every subscription costs per period (each lot at the price it was billed at)."""

    monthly: int  # per month, of the subscriptions billed monthly
    annual: int  # per year, of those billed yearly
    monthly_equivalent: int  # both as a monthly figure (twelfths of the annual ones)
    any_monthly: bool
    any_annual: bool

    @classmethod
    def of(cls, rows: Sequence[LicenseRow]) -> "LicenseTotals":
        """The totals of `rows` (`service.license_rows`: every subscription, not only a page's)."""
        monthly = [r for r in rows if not r.annual]
        annual = [r for r in rows if r.annual]
        return cls(monthly=sum(r.recurring_cents for r in monthly), annual=sum(r.recurring_cents for r in annual),
                   monthly_equivalent=sum(r.monthly_cents for r in rows), any_monthly=bool(monthly),
                   any_annual=bool(annual))


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


def facts(subscription: Subscription, latest_order: Order | None = None) -> LicenseFacts:
    """A subscription's facts for its own pages (its lots loaded with it, see `service.get_subscription`)."""
    product = subscription.product
    by_price: dict[int, int] = {}
    stock = lot_stock(subscription)
    for lot in stock:
        by_price[lot.unit_price_cents] = by_price.get(lot.unit_price_cents, 0) + lot.remaining
    recurring = stock_cents(stock)
    return LicenseFacts(
        subscription=subscription,
        prices=[(quantity, price) for price, quantity in sorted(by_price.items())],
        recurring_cents=recurring,
        monthly_cents=monthly_equivalent(recurring, product),
        annual=product.billing_frequency == BillingFrequency.ANNUAL,
        latest_order=latest_order,
        open_windows=open_windows(stock, clock.now()),
    )


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


def next_period_start(lines: list[LineView]) -> date | None:
    return next((line.last_day + timedelta(days=1) for line in lines if line.last_day), None)


def order_summary(order: Order) -> str:
    """What an order does, in words."""
    product = order.subscription.product.name
    if order.kind == OrderKind.PURCHASE:
        return ngettext("Contratação de %(product)s: %(num)d licença", "Contratação de %(product)s: %(num)d licenças",
                        order.quantity, product=product)
    if order.kind == OrderKind.RENEWAL_QUANTITY and order.product_id not in (None, order.subscription.product_id):
        return ngettext("%(product)s: %(num)d licença de %(next)s a partir da renovação",
                        "%(product)s: %(num)d licenças de %(next)s a partir da renovação", order.quantity,
                        product=product, next=order.next_product.name)
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


def status_class(status: str) -> str:
    return {
        SubscriptionStatus.ACTIVE: "text-bg-success", SubscriptionStatus.PROVISIONING: "text-bg-info",
        SubscriptionStatus.SUSPENDED: "text-bg-warning", SubscriptionStatus.CANCELLED: "text-bg-secondary",
        OrderStatus.PENDING: "text-bg-info", OrderStatus.SENT: "text-bg-info",
        OrderStatus.DONE: "text-bg-success", OrderStatus.FAILED: "text-bg-danger",
    }.get(status, "text-bg-secondary")


def badges() -> dict[str, tuple[str, str]]:
    """Status → (badge class, label) for subscriptions and orders, translated once for a list page."""
    statuses = {**SUBSCRIPTION_STATUS_LABELS, **ORDER_STATUS_LABELS}
    return {str(status): (status_class(status), str(label)) for status, label in statuses.items()}


# "Licenças" a page at a time, as "Chamados" (25) and "Faturas" (20): what a request renders stays the same however
# many subscriptions an organization has; the footer's totals still sum them all.
LICENSES_PER_PAGE = 25


def licenses_url_showing(organization: Organization, subscription_id: int) -> str:
    """"Licenças" at the page that lists `subscription_id` (the first page has no ?pagina=): where a quantity change or
    a cancellation confirmed from that list comes back to, its row in sight."""
    ids = [row.subscription_id for row in license_rows(organization)]
    page = ids.index(subscription_id) // LICENSES_PER_PAGE + 1 if subscription_id in ids else 1
    return url_for("subscriptions.licenses", pagina=page) if page > 1 else url_for("subscriptions.licenses")
