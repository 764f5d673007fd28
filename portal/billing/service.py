"""Billing verbs: the billing run (one invoice per organization and billing day), numbering, boletos and Pix.

An invoice holds, for its billing day D and the coming period [D, E):
- recurring lines, in advance, for the licenses in use (each lot at the price it was billed at), except
  lots already charged for [D, E) by a pró-rata line (bought on D itself);
- the pró-rata charges of the quantity ledger not invoiced yet (specs/prorata.md, rule 1);
- annual-billed subscriptions: the year, in advance, when they renewed since the last invoice;
- credit from the organization's credit ledger, never more than the subtotal (rule 6).

Each organization is invoiced in its own transaction, holding a lock on its row: running the billing
twice, or in several consumers at once, issues each invoice once (the unique index on (organization,
billing day) backs the lock up). Numbers are gapless per series and year because they are taken under a
row lock in the same transaction. Documents (PDF, nota fiscal, e-mail) come after the commit, in jobs
that each do what is missing, so a failure midway is picked up again by the next sweep.
"""

import calendar
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from portal.accounts.models import Organization, OrganizationStatus
from portal.billing import boleto as boleto_codes
from portal.billing import pix
from portal.billing.models import (
    Boleto,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceSeries,
    InvoiceStatus,
    LineKind,
)
from portal.billing.prorata import monthly_period
from portal.billing.settings import BillingSettings
from portal.catalog.models import BillingFrequency
from portal.extensions import db
from portal.jobs import enqueue_after_commit
from portal.shared import clock
from portal.shared.audit import Actor, AuditTag, record
from portal.subscriptions.models import (
    ChangeKind,
    CreditEntry,
    Lot,
    QuantityChange,
    Subscription,
    SubscriptionStatus,
)

INVOICE_SERIES = "F"
CREDIT_NOTE_SERIES = "NC"
BILLABLE = (SubscriptionStatus.ACTIVE, SubscriptionStatus.PROVISIONING)


# ---------------------------------------------------------------- who is billed when

def is_billing_day(billing_day: int, on: date) -> bool:
    """True when `on` is the organization's billing day (day 31 is the month's last day in short months)."""
    return on.day == min(billing_day, calendar.monthrange(on.year, on.month)[1])


def organizations_due(on: date) -> list[int]:
    candidates = db.session.execute(
        select(Organization.id, Organization.billing_day)
        .where(Organization.status.in_([OrganizationStatus.ACTIVE, OrganizationStatus.RESCINDING,
                                        OrganizationStatus.SUSPENDED]))
        .order_by(Organization.id)
    )
    return [org_id for org_id, day in candidates if is_billing_day(day, on)]


def due_date_for(billing_date: date, settings: BillingSettings) -> date:
    return boleto_codes.next_business_day(billing_date + timedelta(days=settings.due_days))


# ---------------------------------------------------------------- the lines

@dataclass
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


def _invoiced_change_ids(organization_id: int) -> select:
    return (
        select(InvoiceLine.change_id)
        .join(Invoice, Invoice.id == InvoiceLine.invoice_id)
        .where(Invoice.organization_id == organization_id, Invoice.status != InvoiceStatus.CANCELLED,
               InvoiceLine.change_id.is_not(None))
    )


def credit_balance(organization_id: int) -> int:
    return db.session.scalar(
        select(func.coalesce(func.sum(CreditEntry.amount_cents), 0))
        .where(CreditEntry.organization_id == organization_id)
    )


def draft_invoice(organization: Organization, on: date) -> Draft:
    """Everything the invoice of `organization` for billing day `on` would hold (reads only)."""
    period = monthly_period(organization.billing_day, on)
    draft = Draft(billing_date=on, period=period, credit_available_cents=credit_balance(organization.id))
    subscriptions = db.session.scalars(
        select(Subscription).where(Subscription.organization_id == organization.id)
        .options(selectinload(Subscription.product), selectinload(Subscription.lots).selectinload(Lot.draws))
        .order_by(Subscription.id)
    ).all()
    invoiced = set(db.session.scalars(_invoiced_change_ids(organization.id)))
    changes = db.session.scalars(
        select(QuantityChange).where(QuantityChange.organization_id == organization.id,
                                     QuantityChange.effective_on <= on,
                                     or_(QuantityChange.charge_cents > 0, QuantityChange.kind == ChangeKind.RENEWAL))
        .order_by(QuantityChange.id)
    ).all()
    by_id = {s.id: s for s in subscriptions}
    charged_for_period = set()  # lots whose pró-rata already covers [D, E)
    for change in changes:
        if change.id in invoiced:
            continue
        subscription = by_id[change.subscription_id]
        lot = next((lot for lot in subscription.lots if lot.change_id == change.id), None)
        if change.kind == ChangeKind.RENEWAL:
            if subscription.product.billing_frequency != BillingFrequency.ANNUAL or lot is None:
                continue  # monthly billing renews through the recurring lines
            end = _add_year(change.effective_on)
            draft.lines.append(LineDraft(LineKind.RECURRING, subscription.product.name, lot.quantity,
                                         lot.unit_price_cents, lot.quantity * lot.unit_price_cents,
                                         change.effective_on, end, subscription.id, change.id))
            continue
        unit = lot.unit_price_cents if lot is not None else 0
        draft.lines.append(LineDraft(LineKind.PRORATA, subscription.product.name, change.delta, unit,
                                     change.charge_cents, change.effective_on, change.period_end,
                                     subscription.id, change.id))
        if lot is not None and change.period_start == period[0]:
            charged_for_period.add(lot.id)
    for subscription in subscriptions:
        if subscription.status not in BILLABLE or subscription.product.billing_frequency != BillingFrequency.MONTHLY:
            continue
        by_price: dict[int, int] = {}
        for lot in subscription.lots:
            remaining = lot.remaining
            if clock.to_business(lot.added_at).date() > on:
                continue  # bought after the billing day (re-running a past day)
            if remaining > 0 and lot.id not in charged_for_period:
                by_price[lot.unit_price_cents] = by_price.get(lot.unit_price_cents, 0) + remaining
        for price, quantity in sorted(by_price.items()):
            draft.lines.insert(
                sum(1 for line in draft.lines if line.kind == LineKind.RECURRING),
                LineDraft(LineKind.RECURRING, subscription.product.name, quantity, price, quantity * price,
                          period[0], period[1], subscription.id),
            )
    return draft


def _add_year(day: date) -> date:
    year = day.year + 1
    return date(year, day.month, min(day.day, calendar.monthrange(year, day.month)[1]))


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


def new_boleto(invoice: Invoice, settings: BillingSettings, *, due: date, amount_cents: int, sequence: int,
               fine_cents: int = 0, interest_cents: int = 0) -> Boleto:
    number = nosso_numero(settings, invoice.id, sequence)
    code = boleto_codes.barcode(settings.bank, amount_cents, due, free_field(settings, number))
    payload = pix.static_payload(settings.pix_key, settings.pix_merchant_name, settings.pix_merchant_city,
                                 amount_cents=amount_cents, txid=pix_txid(invoice, sequence))
    found = Boleto(invoice_id=invoice.id, sequence=sequence, bank=settings.bank, nosso_numero=number, due_date=due,
                   amount_cents=amount_cents, fine_cents=fine_cents, interest_cents=interest_cents, barcode=code,
                   digitable_line=boleto_codes.digitable_line(code), pix_payload=payload, created_at=clock.now())
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
           after={"number": invoice.display_number, "billing_date": on.isoformat(),
                  "subtotal_cents": invoice.subtotal_cents, "credit_cents": invoice.credit_applied_cents,
                  "total_cents": invoice.total_cents, "due_date": invoice.due_date.isoformat(),
                  "replaces": replaces.display_number if replaces is not None else None})
    _queue_documents(invoice)
    try:
        db.session.commit()
    except IntegrityError:  # another consumer issued it between our check and our insert
        db.session.rollback()
        return Issued(existing_invoice(organization_id, on), False)
    return Issued(invoice, True)


def _queue_documents(invoice: Invoice) -> None:
    from portal.billing.jobs import complete_invoice

    enqueue_after_commit(db.session, complete_invoice, invoice.id)


@dataclass
class RunResult:
    on: date
    issued: list[int] = field(default_factory=list)  # invoice ids issued by this run
    existing: int = 0  # organizations already invoiced for that day
    nothing_to_bill: int = 0
    failed: list[tuple[int, str]] = field(default_factory=list)  # (organization id, error)


def run_billing(*, on: date, settings: BillingSettings, actor: Actor,
                progress: Callable[[int, int], None] | None = None) -> RunResult:
    """Invoice every organization whose billing day is `on`. Safe to repeat: what exists is not re-issued."""
    result = RunResult(on=on)
    due = organizations_due(on)
    for index, organization_id in enumerate(due, start=1):
        try:
            issued = invoice_organization(organization_id, on=on, settings=settings, actor=actor)
        except Exception as exc:  # one organization's problem must not stop the others; it is reported
            db.session.rollback()
            result.failed.append((organization_id, f"{type(exc).__name__}: {exc}"[:500]))
        else:
            if issued.invoice is None:
                result.nothing_to_bill += 1
            elif issued.created:
                result.issued.append(issued.invoice.id)
            else:
                result.existing += 1
        if progress is not None:
            progress(index, len(due))
    return result


def billing_days_back(today: date, days: int) -> Iterator[date]:
    """Today and the days before it, oldest first (the daily job catches up on days it missed)."""
    for back in range(days, -1, -1):
        yield today - timedelta(days=back)
