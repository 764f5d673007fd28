"""Reading invoices for the pages: the customer's "Faturas" list, the staff's list and an invoice with its story,
what a billing run would visit and what it did, and an organization's credit balance.

The rest of billing, by job: `run.py` (who is billed today, batches, issuing), `lines.py` (drafting lines and
their text), `numbering.py`, `boletos.py` (bank fields), `documents.py` (PDFs), `delivery.py` (e-mail),
`payments.py`, `second_copy.py`, `corrections.py`, `fiscal.py`; their scheduled work in `jobs.py`.
"""

import functools
from collections.abc import Iterable
from datetime import date
from typing import Any, NamedTuple

from sqlalchemy import Date, Integer, String, bindparam, exists, func, select
from sqlalchemy.orm import joinedload

from portal.accounts.models import Organization, User
from portal.billing import delivery, payments
from portal.billing.lines import existing_invoice
from portal.billing.models import (
    Boleto,
    CreditEntry,
    FiscalDocument,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceStatus,
    Payment,
    PaymentReversal,
    display_number,
)
from portal.billing.run import organizations_due
from portal.extensions import db
from portal.shared.audit import AuditEvent
from portal.shared.paging import page_window, paged

# ---------------------------------------------------------------- one organization


def credit_balance(organization_id: int) -> int:
    return db.session.scalar(
        select(func.coalesce(func.sum(CreditEntry.amount_cents), 0))
        .where(CreditEntry.organization_id == organization_id)
    )



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
    # The purchase orders and cost centres its lines were billed with (distinct, sorted; empty: none).
    purchase_orders: tuple[str, ...] = ()
    cost_centres: tuple[str, ...] = ()


def with_cost_centre(statement, cost_centre):
    """`statement` (over invoices) kept to the invoices with a line of `cost_centre` (a value or a bindparam)."""
    return statement.where(exists().where(InvoiceLine.invoice_id == Invoice.id,
                                          InvoiceLine.cost_centre == cost_centre))


@functools.cache
def _invoice_rows_statement(by_year: bool, status: str | None, by_centre: bool = False):
    """The list's statement for one shape of filters, built once (bound parameters: organization_id, year,
    cost_centre, today, limit, offset)."""
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
    if by_centre:
        statement = with_cost_centre(statement, bindparam("cost_centre", type_=String))
    today = bindparam("today", type_=Date)
    if status == "open":
        statement = statement.where(Invoice.status == InvoiceStatus.OPEN, Invoice.due_date >= today)
    elif status == "overdue":
        statement = statement.where(Invoice.status == InvoiceStatus.OPEN, Invoice.due_date < today)
    elif status is not None:
        statement = statement.where(Invoice.status == status)
    return paged(statement.order_by(Invoice.billing_date.desc(), Invoice.id.desc()))


_INVOICE_YEARS = (select(Invoice.year).distinct()
                  .where(Invoice.organization_id == bindparam("organization_id", type_=Integer))
                  .order_by(Invoice.year.desc()))


def invoice_rows(organization_id: int, *, year: int | None, status: str | None, today: date,
                 page: int, cost_centre: str | None = None) -> tuple[tuple[InvoiceRow, ...], bool]:
    """The organization's invoices matching the filters, newest first, one page; and whether a next page exists."""
    found = db.session.connection().execute(
        _invoice_rows_statement(year is not None, status, cost_centre is not None),
        {"organization_id": organization_id, "year": year, "today": today, "cost_centre": cost_centre,
         **page_window(page, PER_PAGE)},
    ).all()
    references = line_references([row[0] for row in found[:PER_PAGE]])
    rows = tuple(
        InvoiceRow(id=invoice_id, number=display_number(series, number_year, number),
                   credit_note=kind == InvoiceKind.CREDIT_NOTE, period_start=period_start,
                   period_end=period_end, total_cents=total, due_date=due,
                   status="overdue" if state == InvoiceStatus.OPEN and due < today else state,
                   pdf=bool(pdf), boleto=bool(boleto) and state == InvoiceStatus.OPEN,
                   fiscal=bool(fiscal) and kind == InvoiceKind.REGULAR and state != InvoiceStatus.CANCELLED,
                   purchase_orders=references[invoice_id][0], cost_centres=references[invoice_id][1])
        for (invoice_id, series, number_year, number, kind, period_start, period_end, total, due, state, pdf, boleto,
             fiscal) in found[:PER_PAGE]
    )
    return rows, len(found) > PER_PAGE


# The list page's statements, built once (a statement built per request costs as much again as running it).
_LINE_REFERENCES = (select(InvoiceLine.invoice_id, InvoiceLine.purchase_order, InvoiceLine.cost_centre).distinct()
                    .where(InvoiceLine.invoice_id.in_(bindparam("invoice_ids", expanding=True))))
_COST_CENTRES = (select(InvoiceLine.cost_centre).distinct().join(Invoice, Invoice.id == InvoiceLine.invoice_id)
                 .where(Invoice.organization_id == bindparam("organization_id", type_=Integer),
                        InvoiceLine.cost_centre != "")
                 .order_by(InvoiceLine.cost_centre))


def line_references(invoice_ids: list[int]) -> dict[int, tuple[tuple[str, ...], tuple[str, ...]]]:
    """Invoice id → (purchase orders, cost centres) its lines carry, distinct and sorted (one query)."""
    found: dict[int, tuple[set[str], set[str]]] = {invoice_id: (set(), set()) for invoice_id in invoice_ids}
    if invoice_ids:
        for invoice_id, purchase_order, cost_centre in db.session.connection().execute(
            _LINE_REFERENCES, {"invoice_ids": invoice_ids}
        ):
            if purchase_order:
                found[invoice_id][0].add(purchase_order)
            if cost_centre:
                found[invoice_id][1].add(cost_centre)
    return {invoice_id: (tuple(sorted(orders)), tuple(sorted(centres)))
            for invoice_id, (orders, centres) in found.items()}


def cost_centres(organization_id: int) -> list[str]:
    """The cost centres the organization's invoice lines were billed with (the list's filter), sorted."""
    return list(db.session.connection().execute(_COST_CENTRES, {"organization_id": organization_id}).scalars())


def invoice_years(organization_id: int) -> list[int]:
    """The years the organization has invoices in, newest first (the list's filter)."""
    return list(db.session.connection().execute(_INVOICE_YEARS, {"organization_id": organization_id}).scalars())


# ---------------------------------------------------------------- the staff's pages

STAFF_PER_PAGE = 50


class StaffInvoiceRow(NamedTuple):
    """One line of the staff's "Faturas", exactly what it shows."""

    id: int
    number: str  # "2026/000123", "NC 2026/000007"
    organization_id: int
    legal_name: str
    cnpj: str
    delinquent: bool  # the organization is "inadimplente"
    period_start: date
    period_end: date  # exclusive, as stored
    due_date: date
    total_cents: int
    status: str  # as shown today: "open", "overdue", "paid", "cancelled"
    days_late: int  # today − due date
    open_cents: int  # still to pay today (payments.balance's open_cents); 0 unless open
    undelivered: bool  # "sem destinatário" (delivery.undelivered)


def _search_invoices_statement():
    """The staff list's columns: each invoice with its organization, what was paid (payments minus reversals) and
    the latest 2ª via's fine and interest (`payments.amount_due`) summed in SQL, and whether it is undelivered."""
    paid = (select(func.coalesce(func.sum(Payment.amount_cents), 0)).where(Payment.invoice_id == Invoice.id)
            .correlate(Invoice).scalar_subquery())
    given_back = (select(func.coalesce(func.sum(PaymentReversal.amount_cents), 0))
                  .where(PaymentReversal.invoice_id == Invoice.id).correlate(Invoice).scalar_subquery())
    surcharge = (select(Boleto.fine_cents + Boleto.interest_cents)
                 .where(Boleto.invoice_id == Invoice.id, Boleto.sequence > 1)
                 .order_by(Boleto.sequence.desc(), Boleto.id.desc()).limit(1).correlate(Invoice).scalar_subquery())
    return (select(Invoice.id, Invoice.series, Invoice.year, Invoice.number, Invoice.organization_id,
                   Organization.legal_name, Organization.cnpj, Organization.delinquent_since.is_not(None),
                   Invoice.period_start, Invoice.period_end, Invoice.due_date, Invoice.total_cents, Invoice.status,
                   paid - given_back, surcharge, delivery.undelivered())
            .join(Organization, Organization.id == Invoice.organization_id)
            .order_by(Invoice.billing_date.desc(), Invoice.id.desc()))


_SEARCH_INVOICES = _search_invoices_statement()
_SEARCH_PAGE = paged(_SEARCH_INVOICES)


def search_invoices(*, status: str | None, undelivered: bool, year: int | None, organization: str, today: date,
                    page: int, per_page: int = STAFF_PER_PAGE) -> list[StaffInvoiceRow]:
    """Every organization's invoices matching the filters, newest first: up to `per_page + 1` rows (one more
    tells there is a next page). `status` is a display status ("open" not yet due, "overdue", "paid",
    "cancelled"), `organization` part of the razão social, nome fantasia or CNPJ. One statement, no ORM objects."""
    conditions = []
    if status == "open":
        conditions += [Invoice.status == InvoiceStatus.OPEN, Invoice.due_date >= today]
    elif status == "overdue":
        conditions += [Invoice.status == InvoiceStatus.OPEN, Invoice.due_date < today]
    elif status:
        conditions.append(Invoice.status == status)
    if undelivered:
        conditions.append(delivery.undelivered())
    if year:
        conditions.append(Invoice.year == year)
    if organization:
        conditions.append(Organization.matching(organization))
    statement = paged(_SEARCH_INVOICES.where(*conditions)) if conditions else _SEARCH_PAGE  # unfiltered: built once
    rows = []
    for (invoice_id, series, number_year, number, organization_id, legal_name, cnpj, delinquent, period_start,
         period_end, due, total, state, paid, surcharge, undelivered_) in db.session.execute(
            statement, page_window(page, per_page)):
        late = due < today
        if state == InvoiceStatus.OPEN:
            # payments.amount_due: a payment after the due date settles with the latest 2ª via's fine and interest
            due_cents = total + surcharge if late and surcharge is not None else total
            open_cents = max(due_cents - paid, 0)
        else:
            open_cents = 0
        rows.append(StaffInvoiceRow(
            invoice_id, display_number(series, number_year, number), organization_id, legal_name, cnpj,
            bool(delinquent), period_start, period_end, due, total,
            "overdue" if state == InvoiceStatus.OPEN and late else state, (today - due).days, open_cents,
            bool(undelivered_)))
    return rows


def invoice(invoice_id: int) -> Invoice | None:
    """Any organization's invoice (staff pages; customers' go through `tenant_get`)."""
    return db.session.get(Invoice, invoice_id)


def invoice_with_organization(invoice_id: int) -> Invoice | None:
    return db.session.scalar(select(Invoice).where(Invoice.id == invoice_id).options(joinedload(Invoice.organization)))


# What an invoice's page shows of its relations, joined in the invoice's own statement: its boletos, payments and
# reversals are a handful each (one row per combination: an invoice with 2 boletos and 1 payment is 2 rows), where
# a statement per collection cost each page three more round trips through the ORM; the nota fiscal without its
# XMLs (downloads of their own).
INVOICE_STORY = (joinedload(Invoice.boletos), joinedload(Invoice.payments), joinedload(Invoice.reversals),
                 joinedload(Invoice.fiscal_document).defer(FiscalDocument.xml)
                 .defer(FiscalDocument.cancellation_xml))


def invoice_with_story(invoice_id: int) -> Invoice | None:
    """An invoice with what its staff page shows loaded: organization and `INVOICE_STORY` (its lines are read as
    rows: `invoice_line_rows`)."""
    return db.session.execute(select(Invoice).where(Invoice.id == invoice_id).options(
        joinedload(Invoice.organization), *INVOICE_STORY)).unique().scalar_one_or_none()


_INVOICE_PAGE = (
    select(Invoice, delivery.undelivered())
    .where(Invoice.id == bindparam("invoice_id", type_=Integer))
    .options(joinedload(Invoice.organization), *INVOICE_STORY)
)


def invoice_page(invoice_id: int) -> tuple[Invoice, bool] | None:
    """`invoice_with_story` and whether the invoice is "sem destinatário" (`delivery.undelivered`), in one
    prebuilt statement."""
    found = db.session.execute(_INVOICE_PAGE, {"invoice_id": invoice_id}).unique().one_or_none()
    return None if found is None else (found[0], bool(found[1]))


class StaffInvoiceLine(NamedTuple):
    """One line of the staff's invoice page, as it shows it."""

    kind: str
    description: str
    period_start: date | None
    period_end: date | None  # exclusive, as stored
    quantity: int
    unit_price_cents: int
    amount_cents: int


_INVOICE_LINE_ROWS = (
    select(InvoiceLine.kind, InvoiceLine.description, InvoiceLine.period_start, InvoiceLine.period_end,
           InvoiceLine.quantity, InvoiceLine.unit_price_cents, InvoiceLine.amount_cents)
    .where(InvoiceLine.invoice_id == bindparam("invoice_id", type_=Integer))
    .order_by(InvoiceLine.position, InvoiceLine.id)
)


def invoice_line_rows(invoice_id: int) -> list[StaffInvoiceLine]:
    """The invoice's lines in their order (Invoice.lines'), as rows: no ORM objects."""
    return [StaffInvoiceLine(*row) for row in db.session.connection().execute(
        _INVOICE_LINE_ROWS, {"invoice_id": invoice_id})]


def loaded_balance(invoice: Invoice, on: date) -> payments.Balance:
    """`payments.balance` of an invoice whose payments, reversals and boletos are loaded (`invoice_with_story`):
    the same figures from what is loaded, without reading the sums again."""
    paid = invoice.paid_cents
    if invoice.status == InvoiceStatus.CANCELLED:
        return payments.Balance(due_cents=0, paid_cents=paid, on=on)
    if invoice.status == InvoiceStatus.PAID:
        latest = max((p.paid_on for p in invoice.payments), default=None) or on
        return payments.Balance(due_cents=payments.amount_due(invoice, latest), paid_cents=paid, on=latest)
    return payments.Balance(due_cents=payments.amount_due(invoice, on), paid_cents=paid, on=on)


def payment_recorders(invoice: Invoice) -> dict[int, User]:
    """The staff users who recorded the invoice's payments by hand, by id (no statement when there are none)."""
    recorded_by = {p.recorded_by_id for p in invoice.payments if p.recorded_by_id}
    if not recorded_by:
        return {}
    return {user.id: user for user in db.session.scalars(select(User).where(User.id.in_(recorded_by)))}


_INVOICE_AUDIT = (select(AuditEvent).where(AuditEvent.subject == bindparam("subject", type_=String))
                  .order_by(AuditEvent.seq))


def invoice_audit(invoice: Invoice) -> list[AuditEvent]:
    """The audit events about the invoice, oldest first."""
    return list(db.session.scalars(_INVOICE_AUDIT, {"subject": f"invoice:{invoice.id}"}))


def run_preview(day: date) -> list[dict[str, Any]]:
    """The organizations a run of `day` would visit, and whether each already has its invoice for that day."""
    due = organizations_due(day)
    organizations = {org.id: org for org in db.session.scalars(select(Organization).where(Organization.id.in_(due)))}
    return [{"organization": organizations[org_id], "existing": existing_invoice(org_id, day)} for org_id in due]


def issued_invoices(invoice_ids: Iterable[int]) -> list[Invoice]:
    """The invoices a run issued, with their organizations, in id order."""
    return list(db.session.scalars(select(Invoice).where(Invoice.id.in_(list(invoice_ids)))
                                   .options(joinedload(Invoice.organization)).order_by(Invoice.id)))


def organizations_by_id(organization_ids: Iterable[int]) -> dict[int, Organization]:
    return {org.id: org for org in db.session.scalars(
        select(Organization).where(Organization.id.in_(list(organization_ids))))}
