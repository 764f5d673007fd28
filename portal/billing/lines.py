"""What an invoice holds: drafting its lines from the billable facts (the ledger, lots, subscriptions and credit
of an organization), a purchase's first invoice, and THE one text of an invoice line (page, PDF, e-mail).

An invoice holds, for its billing day D and the coming period [D, E):
- recurring lines, in advance, for the licenses in use (each lot at the price it was billed at), except
  lots already charged for [D, E) by a pró-rata line (bought on D itself);
- the pró-rata charges of the quantity ledger not invoiced yet (specs/prorata.md, rule 1);
- annual-billed subscriptions: the year, in advance, when they renewed since the last invoice;
- credit from the organization's credit ledger, never more than the subtotal (rule 6).
"""

from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Protocol

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import Date, Integer, bindparam, case, exists, func, or_, select

from portal.billing.models import CreditEntry, Invoice, InvoiceKind, InvoiceLine, InvoiceStatus, LineKind
from portal.billing.prorata import prorated_amount
from portal.catalog.models import BillingFrequency, Product
from portal.extensions import db
from portal.shared import clock, periods
from portal.shared.formatting import format_money, format_period
from portal.subscriptions.models import (
    ChangeKind,
    Lot,
    LotDraw,
    Order,
    OrderKind,
    OrderStatus,
    QuantityChange,
    Subscription,
    SubscriptionStatus,
)

BILLABLE = (SubscriptionStatus.ACTIVE, SubscriptionStatus.PROVISIONING)


# ---------------------------------------------------------------- the lines

@dataclass(slots=True)
class LineDraft:
    kind: LineKind
    description: str
    quantity: int
    unit_price_cents: int
    amount_cents: int
    period_start: date | None = None
    period_end: date | None = None
    subscription_id: int | None = None
    change_id: int | None = None
    purchase_order: str = ""  # the subscription's, when the line is drafted (kept on the line)
    cost_centre: str = ""


@dataclass
class Draft:
    billing_date: date
    period: tuple[date, date]
    lines: list[LineDraft] = field(default_factory=list)
    credit_available_cents: int = 0

    @property
    def subtotal_cents(self) -> int:
        return sum(line.amount_cents for line in self.lines)

    @property
    def credit_cents(self) -> int:
        return min(max(self.credit_available_cents, 0), max(self.subtotal_cents, 0))

    @property
    def total_cents(self) -> int:
        return self.subtotal_cents - self.credit_cents


class Billable(Protocol):
    """What drafting needs of an organization: an `Organization`, or a row of (id, billing_day)."""

    id: int
    billing_day: int


@dataclass(slots=True)
class LotFacts:
    id: int
    change_id: int
    quantity: int  # licenses added
    unit_price_cents: int
    added_at: datetime
    drawn: int = 0  # licenses taken out of it since (sum of its draws)

    @property
    def remaining(self) -> int:
        return self.quantity - self.drawn


@dataclass(slots=True)
class SubscriptionFacts:
    id: int
    status: str
    product_name: str
    billing_frequency: str
    lots: list[LotFacts] = field(default_factory=list)  # by id
    # Billing waits for the provider: True while the subscription's purchase order is not done.
    unconfirmed: bool = False
    # Business date billing starts: the later of `Subscription.billing_starts_on` (the contract's first monthly
    # payment) and the day the provider confirmed the purchase; None when the subscription has no such date.
    starts_on: date | None = None
    purchase_order: str = ""
    cost_centre: str = ""


@dataclass(frozen=True, slots=True)
class ChangeFacts:
    id: int
    subscription_id: int
    kind: str
    delta: int
    charge_cents: int
    effective_on: date
    period_start: date | None
    period_end: date | None


@dataclass(slots=True)
class BillingFacts:
    """What an organization's invoice for a billing day is drafted from (read in bulk, plain values)."""

    credit_cents: int = 0  # credit ledger balance
    subscriptions: list[SubscriptionFacts] = field(default_factory=list)  # by id
    changes: list[ChangeFacts] = field(default_factory=list)  # not invoiced yet, effective by the day; by id


# The statements `load_billing_facts` runs, built once (building a statement costs more than running it for one
# organization: the customer's home drafts its next invoice on every view); bound parameters `ids`, `on`.
_IDS = bindparam("ids", expanding=True)
_FACTS_CREDIT = (select(CreditEntry.organization_id, func.sum(CreditEntry.amount_cents))
                 .where(CreditEntry.organization_id.in_(_IDS)).group_by(CreditEntry.organization_id))
# Each subscription's purchase orders, summed up: how many are not done (done means completed), and when the last
# done one completed.
_PURCHASES = (
    select(Order.subscription_id,
           func.sum(case((or_(Order.status != OrderStatus.DONE, Order.completed_at.is_(None)), 1), else_=0))
           .label("not_done"),
           func.max(case((Order.status == OrderStatus.DONE, Order.completed_at))).label("completed_at"))
    .where(Order.organization_id.in_(_IDS), Order.kind == OrderKind.PURCHASE)
    .group_by(Order.subscription_id)
    .subquery()
)
_FACTS_SUBSCRIPTIONS = (
    select(Subscription.id, Subscription.organization_id, Subscription.status, Product.name,
           Product.billing_frequency, Subscription.billing_starts_on, Subscription.purchase_order,
           Subscription.cost_centre, _PURCHASES.c.not_done, _PURCHASES.c.completed_at)
    .join(Product, Product.id == Subscription.product_id)
    .outerjoin(_PURCHASES, _PURCHASES.c.subscription_id == Subscription.id)
    .where(Subscription.organization_id.in_(_IDS)).order_by(Subscription.id)
)
_DRAWN = (
    select(LotDraw.lot_id, func.sum(LotDraw.quantity).label("drawn"))
    .join(Lot, Lot.id == LotDraw.lot_id).join(Subscription, Subscription.id == Lot.subscription_id)
    .where(Subscription.organization_id.in_(_IDS)).group_by(LotDraw.lot_id)
    .subquery()
)
_FACTS_LOTS = (
    select(Lot.id, Lot.subscription_id, Lot.change_id, Lot.quantity, Lot.unit_price_cents, Lot.added_at,
           _DRAWN.c.drawn)
    .join(Subscription, Subscription.id == Lot.subscription_id)
    .outerjoin(_DRAWN, _DRAWN.c.lot_id == Lot.id)
    .where(Subscription.organization_id.in_(_IDS)).order_by(Lot.id)
)
# A change is invoiced once a line of one of its organization's invoices (not cancelled) points at it.
_INVOICED = (
    select(InvoiceLine.id).join(Invoice, Invoice.id == InvoiceLine.invoice_id)
    .where(InvoiceLine.change_id == QuantityChange.id, Invoice.organization_id == QuantityChange.organization_id,
           Invoice.status != InvoiceStatus.CANCELLED)
)
_FACTS_CHANGES = (
    select(QuantityChange.id, QuantityChange.organization_id, QuantityChange.subscription_id,
           QuantityChange.kind, QuantityChange.delta, QuantityChange.charge_cents, QuantityChange.effective_on,
           QuantityChange.period_start, QuantityChange.period_end)
    .where(QuantityChange.organization_id.in_(_IDS), QuantityChange.effective_on <= bindparam("on", type_=Date),
           or_(QuantityChange.charge_cents > 0, QuantityChange.kind == ChangeKind.RENEWAL),
           ~exists(_INVOICED))
    .order_by(QuantityChange.id)
)


def load_billing_facts(organization_ids: Sequence[int], on: date) -> dict[int, BillingFacts]:
    """The facts of every organization in `organization_ids` for billing day `on`, in four queries whatever
    their number (credit balances, subscriptions with their products and purchase orders, lots with what was drawn
    from them, uninvoiced changes)."""
    facts = {organization_id: BillingFacts() for organization_id in organization_ids}
    if not facts:
        return facts
    ids = {"ids": list(facts)}
    session = db.session
    for organization_id, balance in session.execute(_FACTS_CREDIT, ids):
        facts[organization_id].credit_cents = int(balance or 0)
    subscriptions: dict[int, SubscriptionFacts] = {}
    for row in session.execute(_FACTS_SUBSCRIPTIONS, ids):
        # Billing waits while a purchase order is not done; with a billing start, it starts no earlier than the
        # day the provider confirmed the purchase (the last one done, in business time).
        starts_on = row.billing_starts_on
        if starts_on is not None and row.completed_at is not None:
            starts_on = max(starts_on, clock.to_business(row.completed_at).date())
        subscription = SubscriptionFacts(row.id, row.status, row.name, row.billing_frequency,
                                         unconfirmed=bool(row.not_done), starts_on=starts_on,
                                         purchase_order=row.purchase_order or "", cost_centre=row.cost_centre or "")
        subscriptions[row.id] = subscription
        facts[row.organization_id].subscriptions.append(subscription)
    for row in session.execute(_FACTS_LOTS, ids):
        subscriptions[row.subscription_id].lots.append(
            LotFacts(row.id, row.change_id, row.quantity, row.unit_price_cents, row.added_at, int(row.drawn or 0)))
    for row in session.execute(_FACTS_CHANGES, {**ids, "on": on}):
        facts[row.organization_id].changes.append(ChangeFacts(
            row.id, row.subscription_id, row.kind, row.delta, row.charge_cents, row.effective_on,
            row.period_start, row.period_end))
    return facts


# Inside a batch of the billing run: the facts already read for the batch's organizations, keyed by
# (organization id, billing day), so `draft_invoice` drafts from them instead of querying again.
_BATCH_FACTS: ContextVar[dict[tuple[int, date], BillingFacts] | None] = ContextVar("billing_batch_facts",
                                                                                  default=None)


def draft_invoice(organization: Billable, on: date) -> Draft:
    """Everything the invoice of `organization` for billing day `on` would hold (reads only).

    Both ways of issuing draft through here (a batch of the run with the facts it read for all its
    organizations, a single organization with its own), so they cannot disagree on what an invoice holds.
    """
    preloaded = _BATCH_FACTS.get()
    facts = preloaded.get((organization.id, on)) if preloaded is not None else None
    if facts is None:
        facts = load_billing_facts([organization.id], on)[organization.id]
    return draft_from_facts(organization.billing_day, facts, on)


def billable_facts(billing_day: int, facts: BillingFacts, on: date) -> BillingFacts:
    """What may be billed on `on`: nothing of a subscription whose purchase the provider has not confirmed, or
    whose billing starts after `on`; from its start on, its changes before the start are not billed, except the
    initial purchase, charged pró-rata from the start (monthly billing; nothing when the start opens a period,
    whose recurring line covers it) or, billed yearly, as it was, on the start."""
    waiting = {s.id for s in facts.subscriptions if s.unconfirmed or (s.starts_on is not None and s.starts_on > on)}
    starts = {s.id: s for s in facts.subscriptions if s.starts_on is not None and s.id not in waiting}
    if not waiting and not starts:
        return facts
    changes = []
    for change in facts.changes:
        subscription = starts.get(change.subscription_id)
        if change.subscription_id in waiting:
            continue
        if subscription is not None and change.effective_on < subscription.starts_on:
            if change.kind != ChangeKind.INITIAL:
                continue  # a change before the start: the recurring lines from the start cover its licenses
            start = subscription.starts_on
            if subscription.billing_frequency == BillingFrequency.MONTHLY:
                period_start, period_end = periods.monthly_period(billing_day, start)
                lot = next((lot for lot in subscription.lots if lot.change_id == change.id), None)
                if start == period_start or lot is None:
                    continue
                change = ChangeFacts(change.id, change.subscription_id, change.kind, change.delta,
                                     prorated_amount(lot.unit_price_cents, change.delta, period_start, period_end,
                                                     start), start, period_start, period_end)
            else:
                change = ChangeFacts(change.id, change.subscription_id, change.kind, change.delta,
                                     change.charge_cents, start, change.period_start, change.period_end)
        changes.append(change)
    return BillingFacts(credit_cents=facts.credit_cents, changes=changes,
                        subscriptions=[s for s in facts.subscriptions if s.id not in waiting])


def draft_from_facts(billing_day: int, facts: BillingFacts, on: date) -> Draft:
    facts = billable_facts(billing_day, facts, on)
    period = periods.monthly_period(billing_day, on)
    draft = Draft(billing_date=on, period=period, credit_available_cents=facts.credit_cents)
    by_id = {s.id: s for s in facts.subscriptions}
    charged_for_period = set()  # lots whose pró-rata already covers [D, E)
    for change in facts.changes:
        subscription = by_id[change.subscription_id]
        lot = next((lot for lot in subscription.lots if lot.change_id == change.id), None)
        if change.kind == ChangeKind.RENEWAL:
            if subscription.billing_frequency != BillingFrequency.ANNUAL or lot is None:
                continue  # monthly billing renews through the recurring lines
            end = periods.add_years(change.effective_on)
            draft.lines.append(LineDraft(LineKind.RECURRING, subscription.product_name, lot.quantity,
                                         lot.unit_price_cents, lot.quantity * lot.unit_price_cents,
                                         change.effective_on, end, subscription.id, change.id,
                                         subscription.purchase_order, subscription.cost_centre))
            continue
        unit = lot.unit_price_cents if lot is not None else 0
        draft.lines.append(LineDraft(LineKind.PRORATA, subscription.product_name, change.delta, unit,
                                     change.charge_cents, change.effective_on, change.period_end,
                                     subscription.id, change.id, subscription.purchase_order,
                                     subscription.cost_centre))
        if lot is not None and change.period_start == period[0]:
            charged_for_period.add(lot.id)
    # Monthly recurring lines go in at the position given by the number of recurring lines so far (the
    # annual renewals above count too), each one moving that position on by one.
    recurring = sum(1 for line in draft.lines if line.kind == LineKind.RECURRING)
    for subscription in facts.subscriptions:
        if subscription.status not in BILLABLE or subscription.billing_frequency != BillingFrequency.MONTHLY:
            continue
        by_price: dict[int, int] = {}
        for lot in subscription.lots:
            remaining = lot.remaining
            if clock.to_business(lot.added_at).date() > on:
                continue  # bought after the billing day (re-running a past day)
            if remaining > 0 and lot.id not in charged_for_period:
                by_price[lot.unit_price_cents] = by_price.get(lot.unit_price_cents, 0) + remaining
        for price, quantity in sorted(by_price.items()):
            draft.lines.insert(recurring, LineDraft(LineKind.RECURRING, subscription.product_name, quantity, price,
                                                    quantity * price, period[0], period[1], subscription.id,
                                                    purchase_order=subscription.purchase_order,
                                                    cost_centre=subscription.cost_centre))
            recurring += 1
    return draft


# ---------------------------------------------------------------- a purchase's first invoice

def existing_invoice(organization_id: int, on: date) -> Invoice | None:
    return db.session.scalar(select(Invoice).where(
        Invoice.organization_id == organization_id, Invoice.billing_date == on, Invoice.kind == InvoiceKind.REGULAR,
        Invoice.replaces_id.is_(None)))



@dataclass(frozen=True, slots=True)
class Purchase:
    """A product bought and not invoiced yet, as a checkout quote line holds it (what the run will find)."""

    product_name: str
    billing_frequency: str
    quantity: int
    unit_price_cents: int  # per license per billing period
    charge_cents: int  # the pró-rata of [effective_on, period_end)
    effective_on: date
    period_start: date
    period_end: date  # exclusive


def purchase_billing_date(organization_id: int, billing_day: int, effective_on: date, *, as_of: datetime) -> date:
    """The billing day whose invoice first carries a purchase effective on `effective_on`, as the run sees it at
    `as_of`: that day itself when it is the organization's billing day and its invoice was not issued before
    `as_of` (bought before that day's run); otherwise the next billing day."""
    if periods.is_billing_day(billing_day, effective_on):
        issued = existing_invoice(organization_id, effective_on)
        if issued is None or issued.issued_at > as_of:
            return effective_on
    return periods.monthly_period(billing_day, effective_on)[1]


def draft_purchase(organization: Billable, purchases: Sequence[Purchase], *, as_of: datetime) -> Draft:
    """The lines of `purchases` on the first invoice that carries them, drafted by the billing run's own
    `draft_from_facts` from the facts the purchase will leave (a subscription, its ledger change and its lot),
    so the checkout review and the invoice are one rule: a purchase on the billing day before its run is one
    full period of pró-rata; any other day, the pró-rata plus the first period in advance. Credit is left out
    (it belongs to the organization, not to the purchase)."""
    if not purchases:
        raise ValueError("no purchase to draft")
    on = max(purchase_billing_date(organization.id, organization.billing_day, purchase.effective_on, as_of=as_of)
             for purchase in purchases)
    facts = BillingFacts()
    for number, purchase in enumerate(purchases, start=1):
        key = -number  # not a row id: nothing else is in these facts
        facts.subscriptions.append(SubscriptionFacts(
            id=key, status=SubscriptionStatus.PROVISIONING, product_name=purchase.product_name,
            billing_frequency=purchase.billing_frequency,
            lots=[LotFacts(id=key, change_id=key, quantity=purchase.quantity,
                           unit_price_cents=purchase.unit_price_cents,
                           added_at=datetime.combine(purchase.effective_on, time(12), clock.BUSINESS_TZ))]))
        if purchase.charge_cents > 0:  # as `load_billing_facts` reads the ledger: only changes that charge
            facts.changes.append(ChangeFacts(
                id=key, subscription_id=key, kind=ChangeKind.INITIAL, delta=purchase.quantity,
                charge_cents=purchase.charge_cents, effective_on=purchase.effective_on,
                period_start=purchase.period_start, period_end=purchase.period_end))
    return draft_from_facts(organization.billing_day, facts, on)



# ---------------------------------------------------------------- the text of a line

@dataclass(frozen=True)
class LineView:
    """An invoice line with what its sentence needs."""

    kind: str
    description: str
    quantity: int
    unit_price_cents: int
    amount_cents: int
    first_day: date | None = None  # inclusive
    period_end: date | None = None  # exclusive, as stored (shown through `format_period`)
    days: int = 0  # pró-rata: days charged
    period_days: int = 0  # pró-rata: days in the billing period
    purchase_order: str = ""  # as the line was billed ("" = none)
    cost_centre: str = ""

    @property
    def reference(self) -> str:
        """"Pedido de compra 4500012345 · Centro de custo TI-SP" (either part alone; "" when neither)."""
        parts = []
        if self.purchase_order:
            parts.append(_("Pedido de compra %(number)s", number=self.purchase_order))
        if self.cost_centre:
            parts.append(_("Centro de custo %(centre)s", centre=self.cost_centre))
        return " · ".join(parts)


def line_views(lines: Sequence[InvoiceLine]) -> list[LineView]:
    """The invoice's lines as the page, the PDF and the e-mail describe them: the days charged are the line's own
    period [period_start, period_end); the days of the billing period are its ledger change's period."""
    change_ids = [line.change_id for line in lines if line.change_id is not None]
    changes = {}
    if change_ids:
        changes = {c.id: c for c in db.session.scalars(select(QuantityChange).where(QuantityChange.id.in_(change_ids)))}
    views = []
    for line in lines:
        change = changes.get(line.change_id)
        views.append(_line_view(line, change.period_start if change else None, change.period_end if change else None))
    return views


_LINE_COLUMNS = (InvoiceLine.kind, InvoiceLine.description, InvoiceLine.quantity, InvoiceLine.unit_price_cents,
                 InvoiceLine.amount_cents, InvoiceLine.period_start, InvoiceLine.period_end,
                 InvoiceLine.purchase_order, InvoiceLine.cost_centre)


_LINE_VIEW_ROWS = (  # built once: the invoice page reads it on every request
    select(*_LINE_COLUMNS, QuantityChange.period_start.label("change_start"),
           QuantityChange.period_end.label("change_end"))
    .outerjoin(QuantityChange, QuantityChange.id == InvoiceLine.change_id)
    .where(InvoiceLine.invoice_id == bindparam("invoice_id", type_=Integer)).order_by(InvoiceLine.position))


def invoice_line_views(invoice_id: int) -> list[LineView]:
    """`line_views` of an invoice's lines, read with their changes' periods in one statement and without making an
    ORM object per line (the invoice page: a month's invoice holds dozens of lines)."""
    rows = db.session.connection().execute(_LINE_VIEW_ROWS, {"invoice_id": invoice_id})
    return [_line_view(row, row.change_start, row.change_end) for row in rows]


def _line_view(line, change_start: date | None, change_end: date | None) -> LineView:
    """A line (an `InvoiceLine` or a row of its columns) and its change's period as a `LineView`."""
    first = line.period_start
    days = period_days = 0
    if line.kind == LineKind.PRORATA and first and line.period_end:
        days = (line.period_end - first).days
        if change_start and change_end:
            period_days = (change_end - change_start).days
    return LineView(kind=line.kind, description=line.description, quantity=line.quantity,
                    unit_price_cents=line.unit_price_cents, amount_cents=line.amount_cents, first_day=first,
                    period_end=line.period_end, days=days, period_days=period_days,
                    purchase_order=line.purchase_order or "", cost_centre=line.cost_centre or "")


def _licences(quantity: int, *, signed: bool = False) -> str:
    text = ngettext("%(num)d licença", "%(num)d licenças", abs(quantity))
    if signed:
        return ("+" if quantity > 0 else "-") + text
    return text


def line_text(line: LineView) -> str:
    """The line as one sentence (the PDF), from the same `LineView` the page shows; its PO and cost centre, when
    it has them, after " — " ("…, período 01/12/2026 a 31/12/2026 — Pedido de compra 4500012345 · Centro de
    custo TI-SP")."""
    text = _line_sentence(line)
    reference = line.reference
    return f"{text} — {reference}" if reference else text


def _line_sentence(line: LineView) -> str:
    if line.kind == LineKind.RECURRING:
        return _("%(product)s — %(licences)s × %(price)s, período %(period)s",
                 product=line.description, licences=_licences(line.quantity),
                 price=format_money(line.unit_price_cents), period=format_period(line.first_day, line.period_end))
    if line.kind == LineKind.PRORATA:
        if line.period_days:
            return _("%(product)s — %(licences)s, pró-rata de %(period)s (%(days)d de %(period_days)d dias)",
                     product=line.description, licences=_licences(line.quantity, signed=True),
                     period=format_period(line.first_day, line.period_end),
                     days=line.days, period_days=line.period_days)
        return _("%(product)s — %(licences)s, pró-rata de %(period)s",
                 product=line.description, licences=_licences(line.quantity, signed=True),
                 period=format_period(line.first_day, line.period_end))
    if line.kind == LineKind.CREDIT:
        return _("Crédito aplicado")
    return line.description
