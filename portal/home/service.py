"""The customer's home ("Início"): a read model over what the portal already has, one function per question a card
answers — what we pay a month, what the next invoice will be (drafted by the billing rules, never a second
formula), what is open or overdue, what we spent in the last 12 months by family, the licences by family, what
changed, which orders are not done, what renews soon, which tickets are open.

Every function reads one organization's data only, in a fixed number of queries whatever the amount of data
(tests/test_query_budget.py), and returns plain values (named tuples), so the cards' templates read no ORM object
(the open tickets are rows with the columns the SLA clocks read).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import NamedTuple

from sqlalchemy import Date, Integer, Row, String, bindparam, cast, func, null, select, union_all

from portal.accounts.models import Organization
from portal.billing.boletos import pix_ready_many
from portal.billing.lines import Draft, draft_invoice, existing_invoice
from portal.billing.models import Boleto, Invoice, InvoiceKind, InvoiceLine, InvoiceStatus, LineKind, display_number
from portal.catalog.models import BillingFrequency, Product, ProductFamily
from portal.extensions import db
from portal.shared import periods
from portal.shared.dbtypes import UTCDateTime
from portal.subscriptions.models import Order, OrderStatus, QuantityChange, Subscription, SubscriptionStatus
from portal.subscriptions.service import UNFINISHED_ORDER_STATUSES, LicenseRow, license_rows
from portal.support.models import Ticket
from portal.support.service import ACTIVE as ACTIVE_TICKET_STATUSES

SPEND_MONTHS = 12
RECENT_CHANGE_DAYS = 30
LIST_LIMIT = 8  # rows a card lists (open invoices, changes, orders, renewals, tickets); the full pages have the rest


# ---------------------------------------------------------------- what we pay

@dataclass(frozen=True)
class RecurringTotals:
    """The active subscriptions' recurring amounts, each lot at the price it was billed at (as "Licenças" shows)."""

    monthly_cents: int  # subscriptions billed monthly: per month
    annual_cents: int  # subscriptions billed yearly: per year
    annual_monthly_cents: int  # the same as twelfths, rounded half up per subscription (display only)

    @property
    def monthly_equivalent_cents(self) -> int:
        """What the organization pays per month on average: monthly billing plus the twelfths of annual billing."""
        return self.monthly_cents + self.annual_monthly_cents


def recurring_totals(rows: Sequence[LicenseRow]) -> RecurringTotals:
    active = [row for row in rows if row.status == SubscriptionStatus.ACTIVE]
    annual = [row for row in active if row.billing_frequency == BillingFrequency.ANNUAL]
    return RecurringTotals(
        monthly_cents=sum(row.recurring_cents for row in active if row.billing_frequency != BillingFrequency.ANNUAL),
        annual_cents=sum(row.recurring_cents for row in annual),
        annual_monthly_cents=sum(row.monthly_cents for row in annual),
    )


def next_billing_date(organization: Organization, today: date) -> date:
    """The billing day of the organization's next invoice: today when today is its billing day and the run has not
    issued it yet, else the next billing day."""
    start, end = periods.monthly_period(organization.billing_day, today)
    if start == today and existing_invoice(organization.id, today) is None:  # asked only on the billing day
        return today
    return end


def next_invoice(organization: Organization, today: date) -> Draft:
    """The next invoice as the billing run would draft it now (recurring lines, the pró-rata and annual renewals
    already in the ledger, the credit balance): `portal.billing.lines.draft_invoice` for the next billing day."""
    return draft_invoice(organization, next_billing_date(organization, today))


class OpenInvoice(NamedTuple):
    """An invoice still to be paid, with what the home offers to pay it."""

    id: int
    number: str
    total_cents: int
    due_date: date
    overdue: bool
    boleto_id: int | None  # the current boleto (None: none yet)
    boleto_due_date: date | None
    boleto_pdf: bool  # its PDF exists ("baixar boleto")
    pix_payload: str | None  # the Pix copia-e-cola, when it may be shown (`boletos.pix_ready`)


_OPEN = (Invoice.organization_id == bindparam("organization_id", type_=Integer),
         Invoice.status == InvoiceStatus.OPEN, Invoice.kind == InvoiceKind.REGULAR)
# The current boleto is the invoice's last one (Invoice.current_boleto); each row also carries how many open
# invoices there are in all (a window count): one statement, no ORM objects.
_CURRENT_BOLETO = (select(func.max(Boleto.id)).where(Boleto.invoice_id == Invoice.id).correlate(Invoice)
                   .scalar_subquery())
_OPEN_INVOICES = (
    select(Invoice.id, Invoice.series, Invoice.year, Invoice.number, Invoice.total_cents, Invoice.due_date,
           Boleto.id.label("boleto_id"), Boleto.due_date.label("boleto_due_date"), Boleto.pdf_sha256,
           Boleto.pix_payload, func.count().over().label("count"))
    .outerjoin(Boleto, Boleto.id == _CURRENT_BOLETO)
    .where(*_OPEN).order_by(Invoice.due_date, Invoice.id).limit(bindparam("limit", type_=Integer))
)


class _BoletoPix(NamedTuple):
    """What `boletos.pix_ready_many` reads of a boleto."""

    id: int
    pix_payload: str


def open_invoices(organization_id: int, today: date, limit: int = LIST_LIMIT) -> tuple[list[OpenInvoice], int]:
    """The organization's open invoices, overdue first (oldest due date first), up to `limit`; and how many there
    are in all. One query; two with a Pix provider (its charges, `boletos.pix_ready_many`)."""
    found = db.session.execute(_OPEN_INVOICES, {"organization_id": organization_id, "limit": limit}).all()
    ready = pix_ready_many([_BoletoPix(row.boleto_id, row.pix_payload) for row in found if row.boleto_id])
    rows = [OpenInvoice(
        id=row.id, number=display_number(row.series, row.year, row.number), total_cents=row.total_cents,
        due_date=row.due_date, overdue=row.due_date < today, boleto_id=row.boleto_id,
        boleto_due_date=row.boleto_due_date, boleto_pdf=bool(row.pdf_sha256),
        pix_payload=row.pix_payload if row.boleto_id and ready[row.boleto_id] else None) for row in found]
    return rows, found[0].count if found else 0


# ---------------------------------------------------------------- what we spent

@dataclass(frozen=True)
class Spend:
    """Invoiced amounts per calendar month of the billing date (the invoice's competência), oldest month first.

    `by_family[f][m]` is what the lines of family `f` charged in month `m` (recurring and pró-rata lines of a
    subscription); `adjustments[m]` is everything else on the month's invoices (credit applied, credit notes,
    discounts: usually ≤ 0); `totals[m]` is the sum of the month's invoice totals, so a month's families plus its
    adjustments are its total. Cancelled invoices do not count; open and paid ones do."""

    months: tuple[date, ...]  # the first day of each month
    families: tuple[str, ...]
    by_family: tuple[tuple[int, ...], ...]
    adjustments: tuple[int, ...]
    totals: tuple[int, ...]

    @property
    def total_cents(self) -> int:
        return sum(self.totals)

    def family_total(self, index: int) -> int:
        return sum(self.by_family[index])


def spend_months(today: date, count: int = SPEND_MONTHS) -> tuple[date, ...]:
    """The first days of the last `count` calendar months, this one included, oldest first."""
    this_month = today.replace(day=1)
    return tuple(periods.add_months(this_month, offset - count + 1) for offset in range(count))


_COUNTED = (Invoice.organization_id == bindparam("organization_id", type_=Integer),
            Invoice.status != InvoiceStatus.CANCELLED,
            Invoice.billing_date >= bindparam("since", type_=Date),
            Invoice.billing_date <= bindparam("until", type_=Date))
_SPEND_BY_FAMILY = (
    select(Invoice.billing_date, ProductFamily.position, ProductFamily.name, func.sum(InvoiceLine.amount_cents))
    .join(InvoiceLine, InvoiceLine.invoice_id == Invoice.id)
    .join(Subscription, Subscription.id == InvoiceLine.subscription_id)
    .join(Product, Product.id == Subscription.product_id)
    .join(ProductFamily, ProductFamily.id == Product.family_id)
    .where(*_COUNTED, InvoiceLine.kind.in_([LineKind.RECURRING, LineKind.PRORATA]))
    .group_by(Invoice.billing_date, ProductFamily.position, ProductFamily.name)
)
# The invoices' totals by billing day come in the same statement, as rows without a family.
_SPEND = union_all(_SPEND_BY_FAMILY, select(
    Invoice.billing_date, cast(null(), Integer), cast(null(), String), func.sum(Invoice.total_cents))
    .where(*_COUNTED).group_by(Invoice.billing_date))


def spend_last_12_months(organization_id: int, today: date) -> Spend:
    """What the organization was invoiced in the last 12 calendar months (this one included), by product family.
    One query: line amounts by billing day and family, and invoice totals by billing day (rows without a family)."""
    months = spend_months(today)
    index = {month: position for position, month in enumerate(months)}
    parameters = {"organization_id": organization_id, "since": months[0], "until": today}
    rows = db.session.execute(_SPEND, parameters).all()
    family_rows = [row for row in rows if row[2] is not None]
    families = sorted({(position, name) for _day, position, name, _amount in family_rows})
    names = [name for _position, name in families]
    by_family = [[0] * len(months) for _ in names]
    for day, _position, name, amount in family_rows:
        by_family[names.index(name)][index[day.replace(day=1)]] += int(amount or 0)
    totals = [0] * len(months)
    for day, _position, name, amount in rows:
        if name is None:
            totals[index[day.replace(day=1)]] += int(amount or 0)
    adjustments = [totals[m] - sum(row[m] for row in by_family) for m in range(len(months))]
    return Spend(months=months, families=tuple(names), by_family=tuple(tuple(row) for row in by_family),
                 adjustments=tuple(adjustments), totals=tuple(totals))


# ---------------------------------------------------------------- the licences

class FamilyLicences(NamedTuple):
    family: str
    licences: int  # licences in use in the family's active (or provisioning, suspended) subscriptions
    subscriptions: int


def licences_by_family(rows: Sequence[LicenseRow]) -> list[FamilyLicences]:
    """The licences of every subscription not cancelled, per product family, in the order "Licenças" lists them."""
    found: dict[str, list[int]] = {}
    for row in rows:
        if row.status == SubscriptionStatus.CANCELLED:
            continue
        counts = found.setdefault(row.family_name, [0, 0])
        counts[0] += row.quantity
        counts[1] += 1
    return [FamilyLicences(family, licences, subscriptions) for family, (licences, subscriptions) in found.items()]


class RecentChange(NamedTuple):
    """One line of the quantity ledger: a purchase, an increase, a decrease, a scheduled one, a renewal."""

    id: int
    subscription_id: int
    product_name: str
    kind: str  # ChangeKind
    delta: int
    quantity_after: int
    effective_on: date
    created_at: datetime


_RECENT_CHANGES = (
    select(QuantityChange.id, QuantityChange.subscription_id, Product.name, QuantityChange.kind, QuantityChange.delta,
           QuantityChange.quantity_after, QuantityChange.effective_on, QuantityChange.created_at)
    .join(Subscription, Subscription.id == QuantityChange.subscription_id)
    .join(Product, Product.id == Subscription.product_id)
    .where(QuantityChange.organization_id == bindparam("organization_id", type_=Integer),
           QuantityChange.created_at >= bindparam("since", type_=UTCDateTime))
    .order_by(QuantityChange.id.desc()).limit(bindparam("limit", type_=Integer))
)


def recent_changes(organization_id: int, since: datetime, limit: int = LIST_LIMIT) -> list[RecentChange]:
    """The organization's quantity changes since `since`, newest first (the ledger is append-only, so this is what
    happened to its licences: purchases, quantity changes, cancellations, renewals)."""
    return [RecentChange(*row) for row in db.session.execute(
        _RECENT_CHANGES, {"organization_id": organization_id, "since": since, "limit": limit})]


class OrderRow(NamedTuple):
    id: int
    kind: str  # OrderKind
    status: str  # OrderStatus: pending, sent or failed
    waiting_for_agreement: bool
    quantity: int
    product_name: str
    created_at: datetime


_UNFINISHED_ORDERS = (
    select(Order.id, Order.kind, Order.status, Order.waiting_for_agreement, Order.quantity, Product.name,
           Order.created_at)
    .join(Subscription, Subscription.id == Order.subscription_id)
    .join(Product, Product.id == Subscription.product_id)
    .where(Order.organization_id == bindparam("organization_id", type_=Integer),
           Order.status.in_(UNFINISHED_ORDER_STATUSES))
    .order_by((Order.status == OrderStatus.FAILED).desc(), Order.id).limit(bindparam("limit", type_=Integer))
)


def unfinished_orders(organization_id: int, limit: int = LIST_LIMIT) -> list[OrderRow]:
    """The organization's orders not done (pending, sent, failed), failed first, then the oldest."""
    return [OrderRow(*row) for row in db.session.execute(
        _UNFINISHED_ORDERS, {"organization_id": organization_id, "limit": limit})]


# ---------------------------------------------------------------- the tickets

_TICKETS = (Ticket.organization_id == bindparam("organization_id", type_=Integer),
            Ticket.status.in_(ACTIVE_TICKET_STATUSES))
# What the card and the SLA clocks (`support.service.ticket_clocks`) read of a ticket, and the count: no ORM objects.
_OPEN_TICKETS = (select(Ticket.id, Ticket.subject, Ticket.status, Ticket.priority, Ticket.created_at,
                        Ticket.first_response_at, Ticket.resolved_at, Ticket.closed_at,
                        func.count().over().label("count"))
                 .where(*_TICKETS).order_by(Ticket.created_at, Ticket.id).limit(bindparam("limit", type_=Integer)))


def open_tickets(organization_id: int, limit: int = LIST_LIMIT) -> tuple[list[Row], int]:
    """The organization's tickets not resolved or closed, oldest first (the SLA clocks run longest on them), up to
    `limit`; and how many there are."""
    found = db.session.execute(_OPEN_TICKETS, {"organization_id": organization_id, "limit": limit}).all()
    return found, found[0].count if found else 0


# ---------------------------------------------------------------- what the cards read together

def licence_rows(organization: Organization) -> tuple[LicenseRow, ...]:
    """"Licenças" rows (one query): the recurring totals and the licences by family are read from them."""
    return license_rows(organization)
