"""Reading invoices for the pages: the customer's "Faturas" list, the staff's lists, an invoice with its story,
an organization's credit balance and the invoice already issued for a billing day.

The rest of billing, by job: `run.py` (who is billed today, batches, issuing), `lines.py` (drafting lines and
their text), `numbering.py`, `boletos.py` (bank fields), `documents.py` (PDFs), `delivery.py` (e-mail),
`payments.py`, `second_copy.py`, `corrections.py`, `fiscal.py`; their scheduled work in `jobs.py`.
"""

import functools
from datetime import date
from typing import NamedTuple

from sqlalchemy import Date, Integer, bindparam, exists, func, select

from portal.billing.models import (
    Boleto,
    CreditEntry,
    FiscalDocument,
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    display_number,
)
from portal.extensions import db

# ---------------------------------------------------------------- one organization

def existing_invoice(organization_id: int, on: date) -> Invoice | None:
    return db.session.scalar(select(Invoice).where(
        Invoice.organization_id == organization_id, Invoice.billing_date == on, Invoice.kind == InvoiceKind.REGULAR,
        Invoice.replaces_id.is_(None)))


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

