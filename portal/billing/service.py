"""Billing verbs: the billing run (one invoice per organization and billing day), numbering, boletos and Pix.

An invoice holds, for its billing day D and the coming period [D, E):
- recurring lines, in advance, for the licenses in use (each lot at the price it was billed at), except
  lots already charged for [D, E) by a pró-rata line (bought on D itself);
- the pró-rata charges of the quantity ledger not invoiced yet (specs/prorata.md, rule 1);
- annual-billed subscriptions: the year, in advance, when they renewed since the last invoice;
- credit from the organization's credit ledger, never more than the subtotal (rule 6).

Two ways to issue, with the same results (tests/billing/test_run_batch.py compares them):
- `invoice_organization`: one organization in its own transaction, holding a lock on its row (cancel-and-
  reissue, the demo data, and the fallback below).
- `run_billing`: organizations in batches of `BATCH_SIZE` per transaction. A batch locks its organizations'
  rows (in id order, so consumers never deadlock), skips those already invoiced for the day, reads what it
  needs for all of them with a constant number of queries, takes its numbers from the series in one step
  under the series' row lock, and writes invoices, lines, credit entries, boletos and audit events with
  multi-row inserts. If anything in a batch fails, the batch is rolled back and redone organization by
  organization through `invoice_organization`, so one bad organization is reported and the others are issued.

Running the billing twice, or in several consumers at once, issues each invoice once (the row locks, and the
unique index on (organization, billing day) behind them). Numbers are gapless per series and year because
they are taken under the series' row lock in the issuing transaction. Documents (PDF, nota fiscal, e-mail)
come after the commit, in jobs that each do what is missing, so a failure midway is picked up again by the
next sweep.
"""

import functools
import logging
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, NamedTuple, Protocol

from sqlalchemy import Date, Integer, bindparam, exists, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from portal import jobs
from portal.accounts.models import Organization, OrganizationStatus
from portal.billing import boleto as boleto_codes
from portal.billing import pix
from portal.billing.models import (
    Boleto,
    FiscalDocument,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceSeries,
    InvoiceStatus,
    LineKind,
    display_number,
)
from portal.billing.prorata import prorated_amount
from portal.billing.settings import BillingSettings
from portal.catalog.models import BillingFrequency, Product
from portal.extensions import db
from portal.shared import clock, periods
from portal.shared.audit import Actor, AuditTag, NewEvent, record, record_many
from portal.subscriptions.models import (
    ChangeKind,
    CreditEntry,
    Lot,
    LotDraw,
    Order,
    OrderKind,
    OrderStatus,
    QuantityChange,
    Subscription,
    SubscriptionStatus,
)

INVOICE_SERIES = "F"
CREDIT_NOTE_SERIES = "NC"
BILLABLE = (SubscriptionStatus.ACTIVE, SubscriptionStatus.PROVISIONING)
# Organizations per transaction in `run_billing`: large enough that the per-statement latency no longer
# dominates, small enough that a batch's row locks are held briefly and a failed batch is cheap to redo.
BATCH_SIZE = 200

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- who is billed when

def organizations_due(on: date) -> list[int]:
    candidates = db.session.execute(
        select(Organization.id, Organization.billing_day)
        .where(Organization.status.in_([OrganizationStatus.ACTIVE, OrganizationStatus.RESCINDING,
                                        OrganizationStatus.SUSPENDED]))
        .order_by(Organization.id)
    )
    return [org_id for org_id, day in candidates if periods.is_billing_day(day, on)]


def due_date_for(billing_date: date, settings: BillingSettings) -> date:
    return boleto_codes.next_business_day(billing_date + timedelta(days=settings.due_days))


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


def credit_balance(organization_id: int) -> int:
    return db.session.scalar(
        select(func.coalesce(func.sum(CreditEntry.amount_cents), 0))
        .where(CreditEntry.organization_id == organization_id)
    )


def load_billing_facts(organization_ids: Sequence[int], on: date) -> dict[int, BillingFacts]:
    """The facts of every organization in `organization_ids` for billing day `on`, in five queries whatever
    their number (credit balances, subscriptions with their products, lots, draws, uninvoiced changes)."""
    facts = {organization_id: BillingFacts() for organization_id in organization_ids}
    if not facts:
        return facts
    ids = list(facts)
    session = db.session
    for organization_id, balance in session.execute(
        select(CreditEntry.organization_id, func.sum(CreditEntry.amount_cents))
        .where(CreditEntry.organization_id.in_(ids)).group_by(CreditEntry.organization_id)
    ):
        facts[organization_id].credit_cents = int(balance or 0)
    subscriptions: dict[int, SubscriptionFacts] = {}
    for row in session.execute(
        select(Subscription.id, Subscription.organization_id, Subscription.status, Product.name,
               Product.billing_frequency, Subscription.billing_starts_on)
        .join(Product, Product.id == Subscription.product_id)
        .where(Subscription.organization_id.in_(ids)).order_by(Subscription.id)
    ):
        subscription = SubscriptionFacts(row.id, row.status, row.name, row.billing_frequency,
                                         starts_on=row.billing_starts_on)
        subscriptions[row.id] = subscription
        facts[row.organization_id].subscriptions.append(subscription)
    for row in session.execute(
        select(Order.subscription_id, Order.status, Order.completed_at)
        .where(Order.organization_id.in_(ids), Order.kind == OrderKind.PURCHASE)
    ):
        subscription = subscriptions[row.subscription_id]
        if row.status != OrderStatus.DONE or row.completed_at is None:
            subscription.unconfirmed = True
        elif subscription.starts_on is not None:
            subscription.starts_on = max(subscription.starts_on, clock.to_business(row.completed_at).date())
    lots: dict[int, LotFacts] = {}
    for row in session.execute(
        select(Lot.id, Lot.subscription_id, Lot.change_id, Lot.quantity, Lot.unit_price_cents, Lot.added_at)
        .join(Subscription, Subscription.id == Lot.subscription_id)
        .where(Subscription.organization_id.in_(ids)).order_by(Lot.id)
    ):
        lot = LotFacts(row.id, row.change_id, row.quantity, row.unit_price_cents, row.added_at)
        lots[row.id] = lot
        subscriptions[row.subscription_id].lots.append(lot)
    for lot_id, drawn in session.execute(
        select(LotDraw.lot_id, func.sum(LotDraw.quantity))
        .join(Lot, Lot.id == LotDraw.lot_id).join(Subscription, Subscription.id == Lot.subscription_id)
        .where(Subscription.organization_id.in_(ids)).group_by(LotDraw.lot_id)
    ):
        lots[lot_id].drawn = int(drawn)
    # A change is invoiced once a line of one of its organization's invoices (not cancelled) points at it.
    invoiced = (
        select(InvoiceLine.id).join(Invoice, Invoice.id == InvoiceLine.invoice_id)
        .where(InvoiceLine.change_id == QuantityChange.id, Invoice.organization_id == QuantityChange.organization_id,
               Invoice.status != InvoiceStatus.CANCELLED)
    )
    for row in session.execute(
        select(QuantityChange.id, QuantityChange.organization_id, QuantityChange.subscription_id,
               QuantityChange.kind, QuantityChange.delta, QuantityChange.charge_cents, QuantityChange.effective_on,
               QuantityChange.period_start, QuantityChange.period_end)
        .where(QuantityChange.organization_id.in_(ids), QuantityChange.effective_on <= on,
               or_(QuantityChange.charge_cents > 0, QuantityChange.kind == ChangeKind.RENEWAL),
               ~exists(invoiced))
        .order_by(QuantityChange.id)
    ):
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
                                         change.effective_on, end, subscription.id, change.id))
            continue
        unit = lot.unit_price_cents if lot is not None else 0
        draft.lines.append(LineDraft(LineKind.PRORATA, subscription.product_name, change.delta, unit,
                                     change.charge_cents, change.effective_on, change.period_end,
                                     subscription.id, change.id))
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
                                                    quantity * price, period[0], period[1], subscription.id))
            recurring += 1
    return draft


# ---------------------------------------------------------------- a purchase's first invoice

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


# ---------------------------------------------------------------- numbering

def _ensure_series(series: str, year: int) -> None:
    """Create the (series, year) counter if missing, without failing when another transaction just did."""
    dialect = db.session.get_bind().dialect.name
    insert = (postgresql if dialect == "postgresql" else sqlite).insert
    db.session.execute(insert(InvoiceSeries).values(series=series, year=year, last_number=0)
                       .on_conflict_do_nothing(index_elements=["series", "year"]))


def take_number(series: str, year: int) -> int:
    """The next number of the series, under a row lock held until the transaction ends (gapless)."""
    _ensure_series(series, year)
    counter = db.session.scalar(
        select(InvoiceSeries).where(InvoiceSeries.series == series, InvoiceSeries.year == year).with_for_update()
    )
    counter.last_number += 1
    db.session.flush()
    return counter.last_number


def take_numbers(series: str, year: int, count: int) -> range:
    """The next `count` numbers of the series, in one UPDATE that takes the same row lock as `take_number`
    (held until the transaction ends, so the numbers stay gapless and in the caller's order)."""
    _ensure_series(series, year)
    table = InvoiceSeries.__table__
    last = db.session.execute(
        update(table).where(table.c.series == series, table.c.year == year)
        .values(last_number=table.c.last_number + count).returning(table.c.last_number)
    ).scalar_one()
    return range(last - count + 1, last + 1)


# ---------------------------------------------------------------- boletos and Pix

def nosso_numero(settings: BillingSettings, invoice_id: int, sequence: int) -> str:
    """The bank's reference for a boleto: the invoice id and the boleto's sequence, in the bank's length."""
    if settings.bank == "001":
        return f"{invoice_id:08d}{sequence:02d}"  # complemento of 10 digits (the convênio comes first)
    if settings.bank == "237":
        return f"{invoice_id:09d}{sequence:02d}"  # 11 digits
    return f"{invoice_id:06d}{sequence:02d}"  # Itaú: 8 digits


def free_field(settings: BillingSettings, number: str) -> str:
    if settings.bank == "001":
        return boleto_codes.free_field_bb(settings.convenio, number, settings.carteira)
    if settings.bank == "237":
        return boleto_codes.free_field_bradesco(settings.agency, settings.carteira, number, settings.account)
    return boleto_codes.free_field_itau(settings.carteira, number, settings.agency, settings.account)


def printed_nosso_numero(settings: BillingSettings, number: str) -> str:
    """The nosso número as printed on the ficha, with the bank's check digit where it has one."""
    if settings.bank == "001":
        return f"{settings.convenio}{number}"
    if settings.bank == "237":
        return f"{settings.carteira}/{number}-{boleto_codes.bradesco_nosso_numero_dv(settings.carteira, number)}"
    dac = boleto_codes.itau_nosso_numero_dac(settings.agency, settings.account, settings.carteira, number)
    return f"{settings.carteira}/{number}-{dac}"


def pix_txid(invoice: Invoice, sequence: int) -> str:
    return f"{invoice.series}{invoice.year}{invoice.number:06d}B{sequence}"  # alphanumeric, ≤ 25


def boleto_values(invoice: Any, settings: BillingSettings, *, due: date, amount_cents: int, sequence: int,
                  fine_cents: int = 0, interest_cents: int = 0, created_at: datetime | None = None) -> dict[str, Any]:
    """The columns of a boleto for `invoice` (an Invoice, or anything with its id, series, year and number)."""
    number = nosso_numero(settings, invoice.id, sequence)
    code = boleto_codes.barcode(settings.bank, amount_cents, due, free_field(settings, number))
    payload = pix.static_payload(settings.pix_key, settings.pix_merchant_name, settings.pix_merchant_city,
                                 amount_cents=amount_cents, txid=pix_txid(invoice, sequence))
    return {"invoice_id": invoice.id, "sequence": sequence, "bank": settings.bank, "nosso_numero": number,
            "due_date": due, "amount_cents": amount_cents, "fine_cents": fine_cents,
            "interest_cents": interest_cents, "barcode": code, "digitable_line": boleto_codes.digitable_line(code),
            "pix_payload": payload, "registered": False,
            "created_at": created_at if created_at is not None else clock.now()}


def new_boleto(invoice: Invoice, settings: BillingSettings, *, due: date, amount_cents: int, sequence: int,
               fine_cents: int = 0, interest_cents: int = 0) -> Boleto:
    found = Boleto(**boleto_values(invoice, settings, due=due, amount_cents=amount_cents, sequence=sequence,
                                   fine_cents=fine_cents, interest_cents=interest_cents))
    db.session.add(found)
    return found


# ---------------------------------------------------------------- issuing

def _lock_organization(organization_id: int) -> Organization | None:
    return db.session.scalar(select(Organization).where(Organization.id == organization_id).with_for_update())


def existing_invoice(organization_id: int, on: date) -> Invoice | None:
    return db.session.scalar(select(Invoice).where(
        Invoice.organization_id == organization_id, Invoice.billing_date == on, Invoice.kind == InvoiceKind.REGULAR,
        Invoice.replaces_id.is_(None)))


@dataclass(frozen=True)
class Issued:
    invoice: Invoice | None  # None: nothing to bill
    created: bool  # False when it had been issued already (by an earlier run, or another consumer)


def invoice_organization(organization_id: int, *, on: date, settings: BillingSettings, actor: Actor,
                         replaces: Invoice | None = None) -> Issued:
    """Issue the invoice of one organization for billing day `on`, or find the one already issued. Commits."""
    organization = _lock_organization(organization_id)
    if organization is None:
        db.session.rollback()
        return Issued(None, False)
    if replaces is None:
        found = existing_invoice(organization_id, on)
        if found is not None:
            db.session.rollback()
            return Issued(found, False)
    draft = draft_invoice(organization, on)
    if not draft.lines:
        db.session.rollback()
        return Issued(None, False)
    invoice = Invoice(
        organization_id=organization.id, kind=InvoiceKind.REGULAR, series=INVOICE_SERIES, year=on.year,
        number=take_number(INVOICE_SERIES, on.year), status=InvoiceStatus.OPEN, billing_date=on,
        period_start=draft.period[0], period_end=draft.period[1], issued_at=clock.now(),
        due_date=due_date_for(on, settings), subtotal_cents=draft.subtotal_cents,
        credit_applied_cents=draft.credit_cents, total_cents=draft.total_cents,
        replaces_id=replaces.id if replaces is not None else None,
    )
    db.session.add(invoice)
    db.session.flush()
    for position, line in enumerate(draft.lines, start=1):
        db.session.add(InvoiceLine(invoice_id=invoice.id, position=position, kind=line.kind,
                                   description=line.description[:300], quantity=line.quantity,
                                   unit_price_cents=line.unit_price_cents, amount_cents=line.amount_cents,
                                   period_start=line.period_start, period_end=line.period_end,
                                   subscription_id=line.subscription_id, change_id=line.change_id))
    if draft.credit_cents:
        db.session.add(InvoiceLine(invoice_id=invoice.id, position=len(draft.lines) + 1, kind=LineKind.CREDIT,
                                   description="credit", quantity=1, unit_price_cents=-draft.credit_cents,
                                   amount_cents=-draft.credit_cents))
        db.session.add(CreditEntry(organization_id=organization.id, amount_cents=-draft.credit_cents,
                                   description=f"invoice {invoice.display_number}", invoice_id=invoice.id,
                                   created_at=clock.now()))
    if invoice.total_cents > 0:
        new_boleto(invoice, settings, due=invoice.due_date, amount_cents=invoice.total_cents, sequence=1)
    else:
        invoice.status = InvoiceStatus.PAID  # fully paid by credit
        invoice.paid_at = clock.now()
    record(AuditTag.INVOICE_ISSUED, actor=actor, organization_id=organization.id, subject=f"invoice:{invoice.id}",
           after=_issued_event_after(invoice, replaces))
    _queue_documents(invoice)
    try:
        db.session.commit()
    except IntegrityError:  # another consumer issued it between our check and our insert
        db.session.rollback()
        return Issued(existing_invoice(organization_id, on), False)
    return Issued(invoice, True)


def _issued_event_after(invoice: Any, replaces: Invoice | None = None) -> dict[str, Any]:
    """What the INVOICE_ISSUED audit event records of an invoice (an Invoice or an `IssuedInvoice`)."""
    return {"number": invoice.display_number, "billing_date": invoice.billing_date.isoformat(),
            "subtotal_cents": invoice.subtotal_cents, "credit_cents": invoice.credit_applied_cents,
            "total_cents": invoice.total_cents, "due_date": invoice.due_date.isoformat(),
            "replaces": replaces.display_number if replaces is not None else None}


_DOCUMENTS_PENDING = "billing_documents_pending"


def _queue_documents(invoice: Any) -> None:
    """Have the documents of `invoice` (anything with an `id`) made once the transaction commits.

    One job per transaction, not per invoice: `complete_invoice` for a single invoice, `complete_invoices`
    (which fans out to one `complete_invoice` per invoice inside a consumer) for a batch of the run.
    """
    session = db.session()  # the Session itself (the scoped proxy has no get_transaction)
    transaction = session.get_transaction()
    pending = session.info.get(_DOCUMENTS_PENDING)
    if pending is None or pending[0] is not transaction:  # the first invoice of this transaction
        pending = (transaction, [])
        session.info[_DOCUMENTS_PENDING] = pending
        jobs.enqueue_after_commit(session, _enqueue_documents, pending[1])  # the list fills up until the commit
    pending[1].append(invoice.id)


def _enqueue_documents(invoice_ids: list[int]) -> None:
    if len(invoice_ids) == 1:
        jobs.enqueue_now("billing.complete_invoice", invoice_ids[0])
    elif invoice_ids:
        jobs.enqueue_now("billing.complete_invoices", list(invoice_ids))


@dataclass
class RunResult:
    on: date
    issued: list[int] = field(default_factory=list)  # invoice ids issued by this run
    existing: int = 0  # organizations already invoiced for that day
    nothing_to_bill: int = 0
    failed: list[tuple[int, str]] = field(default_factory=list)  # (organization id, error)

    def add(self, issued: "Issued") -> None:
        if issued.invoice is None:
            self.nothing_to_bill += 1
        elif issued.created:
            self.issued.append(issued.invoice.id)
        else:
            self.existing += 1


def run_billing(*, on: date, settings: BillingSettings, actor: Actor,
                progress: Callable[[int, int], None] | None = None, batch_size: int = BATCH_SIZE) -> RunResult:
    """Invoice every organization whose billing day is `on`. Safe to repeat: what exists is not re-issued.

    `batch_size` organizations per transaction (see the module docstring); 1 issues organization by
    organization through `invoice_organization`, as the run did before batches.
    """
    result = RunResult(on=on)
    due = organizations_due(on)
    batch_size = max(batch_size, 1)
    for start in range(0, len(due), batch_size):
        batch = due[start:start + batch_size]
        outcomes = None
        if len(batch) > 1:
            try:
                outcomes = invoice_batch(batch, on=on, settings=settings, actor=actor)
            except Exception as exc:  # redone one by one below, which reports the organization at fault
                db.session.rollback()
                log.warning("billing batch of %d organizations (%d…%d) for %s failed (%s: %s); invoicing them "
                            "one by one", len(batch), batch[0], batch[-1], on, type(exc).__name__, exc)
        if outcomes is not None:
            for organization_id in batch:  # in the batch's order, as one by one would report them
                if organization_id in outcomes.issued:
                    result.issued.append(outcomes.issued[organization_id].id)
                elif organization_id in outcomes.existing:
                    result.existing += 1
                else:
                    result.nothing_to_bill += 1
        else:
            for organization_id in batch:
                _invoice_one(organization_id, on=on, settings=settings, actor=actor, result=result)
        if progress is not None:
            for index in range(start + 1, start + len(batch) + 1):
                progress(index, len(due))
    return result


def _invoice_one(organization_id: int, *, on: date, settings: BillingSettings, actor: Actor,
                 result: RunResult) -> None:
    try:
        issued = invoice_organization(organization_id, on=on, settings=settings, actor=actor)
    except Exception as exc:  # one organization's problem must not stop the others; it is reported
        db.session.rollback()
        result.failed.append((organization_id, f"{type(exc).__name__}: {exc}"[:500]))
    else:
        result.add(issued)


@dataclass(slots=True)
class IssuedInvoice:
    """An invoice written by a batch (its columns as inserted; the batch does not load ORM objects)."""

    id: int
    organization_id: int
    series: str
    year: int
    number: int
    billing_date: date
    due_date: date
    subtotal_cents: int
    credit_applied_cents: int
    total_cents: int

    display_number = property(Invoice.display_number.fget)  # the same `2026/000123` as Invoice's


@dataclass
class BatchOutcome:
    issued: dict[int, IssuedInvoice] = field(default_factory=dict)  # organization id → its new invoice
    existing: dict[int, int] = field(default_factory=dict)  # organization id → invoice id issued before
    # every other organization of the batch had nothing to bill (or no longer exists)


def invoice_batch(organization_ids: Sequence[int], *, on: date, settings: BillingSettings,
                  actor: Actor) -> BatchOutcome:
    """Issue the invoices of several organizations for billing day `on` in one transaction. Commits.

    Raises (the caller rolls the transaction back) on any error, e.g. one organization whose data cannot be
    drafted; `run_billing` then redoes the batch one by one. About 20 statements per batch whatever its size
    (on SQLite, multi-row inserts are split further by its limit on bound parameters).
    """
    session = db.session
    ids = sorted(set(organization_ids))
    # Row locks in id order: two consumers on overlapping batches queue up instead of deadlocking, and a
    # concurrent `invoice_organization` (one row, then the series) cannot close a cycle either.
    locked = session.execute(
        select(Organization.id, Organization.billing_day).where(Organization.id.in_(ids))
        .order_by(Organization.id).with_for_update()
    ).all()
    already = dict(session.execute(
        select(Invoice.organization_id, Invoice.id).where(
            Invoice.organization_id.in_(ids), Invoice.billing_date == on, Invoice.kind == InvoiceKind.REGULAR,
            Invoice.replaces_id.is_(None))
    ).all())
    to_draft = [row for row in locked if row.id not in already]
    facts = load_billing_facts([row.id for row in to_draft], on)
    token = _BATCH_FACTS.set({(organization_id, on): found for organization_id, found in facts.items()})
    try:
        drafts = [(row, draft_invoice(row, on)) for row in to_draft]
    finally:
        _BATCH_FACTS.reset(token)
    billable = [(row, draft) for row, draft in drafts if draft.lines]
    outcome = BatchOutcome(existing=already)
    if not billable:
        session.rollback()  # nothing written; releases the locks
        return outcome
    issued = _write_batch(billable, on=on, settings=settings, actor=actor)
    session.commit()
    outcome.issued = {invoice.organization_id: invoice for invoice in issued}
    return outcome


_INVOICE_COLUMNS = ("organization_id", "kind", "series", "year", "number", "status", "billing_date", "period_start",
                    "period_end", "issued_at", "due_date", "subtotal_cents", "credit_applied_cents", "total_cents",
                    "paid_at")
_LINE_COLUMNS = ("invoice_id", "position", "kind", "description", "quantity", "unit_price_cents", "amount_cents",
                 "period_start", "period_end", "subscription_id", "change_id")
_CREDIT_COLUMNS = ("organization_id", "amount_cents", "description", "invoice_id", "created_at")
_BOLETO_COLUMNS = ("invoice_id", "sequence", "bank", "nosso_numero", "due_date", "amount_cents", "fine_cents",
                   "interest_cents", "barcode", "digitable_line", "pix_payload", "registered", "created_at")


def _write_batch(billable: list[tuple[Billable, Draft]], *, on: date, settings: BillingSettings,
                 actor: Actor) -> list[IssuedInvoice]:
    """Insert the batch's invoices, lines, credit entries, boletos and audit events (one statement each).

    Rows are tuples of plain values (enum members as their strings): nothing in them for the garbage
    collector to follow, which keeps full collections rare while thousands of them are alive.
    """
    now = clock.now()
    due = due_date_for(on, settings)
    numbers = take_numbers(INVOICE_SERIES, on.year, len(billable))  # in organization order, like one by one
    status_open, status_paid = str(InvoiceStatus.OPEN), str(InvoiceStatus.PAID)
    invoice_rows = [
        (row.id, str(InvoiceKind.REGULAR), INVOICE_SERIES, on.year, number,
         status_paid if draft.total_cents <= 0 else status_open, on, draft.period[0], draft.period[1], now, due,
         draft.subtotal_cents, draft.credit_cents, draft.total_cents, now if draft.total_cents <= 0 else None)
        for (row, draft), number in zip(billable, numbers, strict=True)
    ]
    invoice_ids = _insert_rows(Invoice.__table__, _INVOICE_COLUMNS, invoice_rows, ids_by="organization_id")
    issued: list[IssuedInvoice] = []
    line_rows, credit_rows, boleto_rows = [], [], []
    credit_kind = str(LineKind.CREDIT)
    for (row, draft), number, invoice_id in zip(billable, numbers, invoice_ids, strict=True):
        credit, total = draft.credit_cents, draft.total_cents
        invoice = IssuedInvoice(invoice_id, row.id, INVOICE_SERIES, on.year, number, on, due, draft.subtotal_cents,
                                credit, total)
        issued.append(invoice)
        for position, line in enumerate(draft.lines, start=1):
            line_rows.append((invoice_id, position, str(line.kind), line.description[:300], line.quantity,
                              line.unit_price_cents, line.amount_cents, line.period_start, line.period_end,
                              line.subscription_id, line.change_id))
        if credit:
            line_rows.append((invoice_id, len(draft.lines) + 1, credit_kind, "credit", 1, -credit, -credit, None,
                              None, None, None))
            credit_rows.append((row.id, -credit, f"invoice {invoice.display_number}", invoice_id, now))
        if total > 0:  # else fully paid by credit (status paid above)
            values = boleto_values(invoice, settings, due=due, amount_cents=total, sequence=1, created_at=now)
            boleto_rows.append(tuple(values[name] for name in _BOLETO_COLUMNS))
    _insert_rows(InvoiceLine.__table__, _LINE_COLUMNS, line_rows)
    _insert_rows(CreditEntry.__table__, _CREDIT_COLUMNS, credit_rows)
    _insert_rows(Boleto.__table__, _BOLETO_COLUMNS, boleto_rows)
    # Last, so the audit chain's head (one lock for every writer in the portal) is held only briefly.
    record_many([NewEvent(AuditTag.INVOICE_ISSUED, organization_id=invoice.organization_id,
                          subject=f"invoice:{invoice.id}", after=_issued_event_after(invoice))
                 for invoice in issued], actor=actor)
    for invoice in issued:
        _queue_documents(invoice)
    return issued


def _insert_rows(table: Any, columns: Sequence[str], rows: list[tuple], *,
                 ids_by: str | None = None) -> list[int] | None:
    """Insert `rows` (tuples in `columns` order) into `table` in one statement. With `ids_by` (a column
    whose value is different in every row), the new rows' ids, in the order of `rows`.

    PostgreSQL: COPY, several times faster than a multi-row INSERT for thousands of rows (no SQL text to
    build and parse); the ids are drawn from the table's sequence first. The values go through the
    columns' own bind processors, exactly as they would in an INSERT. Other engines: a multi-row INSERT,
    RETURNING the ids with `ids_by` to match them to the rows (SQLite does not promise RETURNING's order).
    """
    if not rows:
        return [] if ids_by else None
    session = db.session
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name != "postgresql":
        values = [dict(zip(columns, row, strict=True)) for row in rows]
        if not ids_by:
            session.execute(insert(table), values)
            return None
        new_ids = {key: new_id for new_id, key in session.execute(
            insert(table).returning(table.c.id, table.c[ids_by]), values)}
        return [new_ids[value[ids_by]] for value in values]
    ids = None
    if ids_by:
        ids = sorted(session.scalars(
            select(func.nextval(func.pg_get_serial_sequence(table.name, "id")))
            .select_from(func.generate_series(1, len(rows)))
        ))
        columns = ("id", *columns)
        rows = [(new_id, *row) for new_id, row in zip(ids, rows, strict=True)]
    processors = [table.c[name].type.bind_processor(dialect) for name in columns]
    if any(processors):
        rows = [tuple(value if process is None else process(value)
                      for process, value in zip(processors, row, strict=True)) for row in rows]
    names = ", ".join(dialect.identifier_preparer.quote(name) for name in columns)
    statement = f"COPY {dialect.identifier_preparer.format_table(table)} ({names}) FROM STDIN"
    with connection.connection.driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)
    return ids


def billing_days_back(today: date, days: int) -> Iterator[date]:
    """Today and the days before it, oldest first (the daily job catches up on days it missed)."""
    for back in range(days, -1, -1):
        yield today - timedelta(days=back)


# ---------------------------------------------------------------- "Faturas": the customer's list

PER_PAGE = 20


class InvoiceRow(NamedTuple):
    """One line of "Faturas", exactly what it shows (the rendered rows are cached by these values)."""

    id: int
    number: str  # "2026/000123", "NC 2026/000007"
    credit_note: bool
    period_start: date
    period_end: date  # exclusive, as stored (shown through `format_period`)
    total_cents: int
    due_date: date
    status: str  # as shown today: "open", "overdue", "paid", "cancelled"
    # The documents the row offers for download (only those that exist; the boleto only while it can be paid).
    pdf: bool  # the invoice (or credit note) PDF
    boleto: bool  # the current boleto's PDF, on an open invoice
    fiscal: bool  # the nota fiscal (DANFSe)


@functools.cache
def _invoice_rows_statement(by_year: bool, status: str | None):
    """The list's statement for one shape of filters, built once (bound parameters: organization_id, year,
    today, limit, offset)."""
    # The current boleto is the invoice's last one (Invoice.current_boleto); offered once its PDF exists.
    current_boleto = (select(Boleto.pdf_sha256).where(Boleto.invoice_id == Invoice.id)
                      .order_by(Boleto.id.desc()).limit(1).scalar_subquery())
    statement = (select(Invoice.id, Invoice.series, Invoice.year, Invoice.number, Invoice.kind, Invoice.period_start,
                        Invoice.period_end, Invoice.total_cents, Invoice.due_date, Invoice.status,
                        Invoice.pdf_sha256.is_not(None), current_boleto.is_not(None),
                        exists().where(FiscalDocument.invoice_id == Invoice.id))
                 .where(Invoice.organization_id == bindparam("organization_id", type_=Integer)))
    if by_year:
        statement = statement.where(Invoice.year == bindparam("year", type_=Integer))
    today = bindparam("today", type_=Date)
    if status == "open":
        statement = statement.where(Invoice.status == InvoiceStatus.OPEN, Invoice.due_date >= today)
    elif status == "overdue":
        statement = statement.where(Invoice.status == InvoiceStatus.OPEN, Invoice.due_date < today)
    elif status is not None:
        statement = statement.where(Invoice.status == status)
    return (statement.order_by(Invoice.billing_date.desc(), Invoice.id.desc())
            .limit(bindparam("limit", type_=Integer)).offset(bindparam("offset", type_=Integer)))


_INVOICE_YEARS = (select(Invoice.year).distinct()
                  .where(Invoice.organization_id == bindparam("organization_id", type_=Integer))
                  .order_by(Invoice.year.desc()))


def invoice_rows(organization_id: int, *, year: int | None, status: str | None, today: date,
                 page: int) -> tuple[tuple[InvoiceRow, ...], bool]:
    """The organization's invoices matching the filters, newest first, one page; and whether a next page exists."""
    found = db.session.connection().execute(
        _invoice_rows_statement(year is not None, status),
        {"organization_id": organization_id, "year": year, "today": today, "limit": PER_PAGE + 1,
         "offset": (page - 1) * PER_PAGE},
    ).all()
    rows = tuple(
        InvoiceRow(id=invoice_id, number=display_number(series, number_year, number),
                   credit_note=kind == InvoiceKind.CREDIT_NOTE, period_start=period_start,
                   period_end=period_end, total_cents=total, due_date=due,
                   status="overdue" if state == InvoiceStatus.OPEN and due < today else state,
                   pdf=bool(pdf), boleto=bool(boleto) and state == InvoiceStatus.OPEN,
                   fiscal=bool(fiscal) and kind == InvoiceKind.REGULAR and state != InvoiceStatus.CANCELLED)
        for (invoice_id, series, number_year, number, kind, period_start, period_end, total, due, state, pdf, boleto,
             fiscal) in found[:PER_PAGE]
    )
    return rows, len(found) > PER_PAGE


def invoice_years(organization_id: int) -> list[int]:
    """The years the organization has invoices in, newest first (the list's filter)."""
    return list(db.session.connection().execute(_INVOICE_YEARS, {"organization_id": organization_id}).scalars())
