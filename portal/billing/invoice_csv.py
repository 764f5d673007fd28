"""The customer's invoice CSV ("Faturas" → Baixar CSV): one row per invoice, or one per (invoice, cost centre)
with that cost centre's share, so a finance team can book each invoice to the departments that bought."""

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from portal.billing.models import INVOICE_STATUS_LABELS, Invoice, InvoiceLine, InvoiceStatus, LineKind
from portal.billing.service import with_cost_centre
from portal.extensions import db
from portal.shared.formatting import format_date, format_period, spreadsheet_text

BATCH = 500  # invoices read (with their lines) per round

CSV_HEADER = (_l("Número"), _l("Emissão"), _l("Período"), _l("Vencimento"), _l("Situação"), _l("Pedido de compra"),
              _l("Centro de custo"), _l("Subtotal"), _l("Crédito aplicado"), _l("Total"))


@dataclass(frozen=True)
class CsvRow:
    invoice: Invoice
    purchase_orders: tuple[str, ...]
    cost_centre: str | None  # grouped: the row's cost centre ("" = lines without one); None: every cost centre
    cost_centres: tuple[str, ...]
    subtotal_cents: int
    credit_cents: int  # ≥ 0, what the row's lines got of the credit applied on the invoice

    @property
    def total_cents(self) -> int:
        return self.subtotal_cents - self.credit_cents


def _cents(value: int) -> str:
    """1234567 → "12345,67" (a decimal comma, no thousands separator: spreadsheets in pt-BR read it as a number)."""
    sign = "-" if value < 0 else ""
    return f"{sign}{abs(value) // 100},{abs(value) % 100:02d}"


def share_credit(credit_cents: int, subtotals: list[int]) -> list[int]:
    """`credit_cents` split over `subtotals` in proportion to each (negative ones get none), in whole centavos
    that add up exactly: the floors first, then one centavo each to the largest remainders (ties: first)."""
    weights = [max(subtotal, 0) for subtotal in subtotals]
    total = sum(weights)
    if credit_cents <= 0 or total <= 0:
        return [0] * len(subtotals)
    shares = [credit_cents * weight // total for weight in weights]
    remainders = sorted(range(len(weights)), key=lambda i: (-(credit_cents * weights[i] % total), i))
    for i in remainders[:credit_cents - sum(shares)]:
        shares[i] += 1
    return shares


def _rows(invoice: Invoice, lines: list[InvoiceLine], by_cost_centre: bool) -> list[CsvRow]:
    charged = [line for line in lines if line.kind != LineKind.CREDIT]
    orders = tuple(sorted({line.purchase_order for line in charged if line.purchase_order}))
    centres = tuple(sorted({line.cost_centre for line in charged if line.cost_centre}))
    credit = invoice.credit_applied_cents
    if not by_cost_centre:
        return [CsvRow(invoice, orders, None, centres, invoice.subtotal_cents, credit)]
    groups: dict[str, list[InvoiceLine]] = {}
    for line in charged:
        groups.setdefault(line.cost_centre or "", []).append(line)
    if not groups:  # no charged line (a credit note's adjustment counts as charged; this is a defensive case)
        return [CsvRow(invoice, orders, "", (), invoice.subtotal_cents, credit)]
    keys = sorted(groups, key=lambda key: (key == "", key))  # named cost centres first, those without last
    subtotals = [sum(line.amount_cents for line in groups[key]) for key in keys]
    # The invoice's subtotal is the sum of its charged lines; any difference (none is expected) goes to the
    # first group so the rows still add up to the invoice.
    subtotals[0] += invoice.subtotal_cents - sum(subtotals)
    shares = share_credit(credit, subtotals)
    return [CsvRow(invoice, tuple(sorted({line.purchase_order for line in groups[key] if line.purchase_order})),
                   key, (key,) if key else (), subtotal, share)
            for key, subtotal, share in zip(keys, subtotals, shares, strict=True)]


def invoice_csv_rows(organization_id: int, *, year: int | None, status: str | None, cost_centre: str | None,
                     by_cost_centre: bool, today: date) -> Iterator[CsvRow]:
    """The rows of the CSV, invoices newest first (the list's order and filters). With a cost-centre filter and
    grouping, only that cost centre's rows."""
    statement = select(Invoice).where(Invoice.organization_id == organization_id)
    if year is not None:
        statement = statement.where(Invoice.year == year)
    if status == "open":
        statement = statement.where(Invoice.status == InvoiceStatus.OPEN, Invoice.due_date >= today)
    elif status == "overdue":
        statement = statement.where(Invoice.status == InvoiceStatus.OPEN, Invoice.due_date < today)
    elif status is not None:
        statement = statement.where(Invoice.status == status)
    if cost_centre is not None:
        statement = with_cost_centre(statement, cost_centre)
    statement = statement.order_by(Invoice.billing_date.desc(), Invoice.id.desc())
    offset = 0
    while True:
        invoices = list(db.session.scalars(statement.limit(BATCH).offset(offset)))
        lines: dict[int, list[InvoiceLine]] = {invoice.id: [] for invoice in invoices}
        if invoices:
            for line in db.session.scalars(select(InvoiceLine).where(InvoiceLine.invoice_id.in_(list(lines)))
                                           .order_by(InvoiceLine.invoice_id, InvoiceLine.position)):
                lines[line.invoice_id].append(line)
        for invoice in invoices:
            for row in _rows(invoice, lines[invoice.id], by_cost_centre):
                if by_cost_centre and cost_centre is not None and row.cost_centre != cost_centre:
                    continue
                yield row
        if len(invoices) < BATCH:
            return
        offset += BATCH


def invoice_csv(rows: Iterator[CsvRow], *, today: date) -> bytes:
    """UTF-8 with a BOM (Excel reads the accents), `;` between fields, CRLF line ends; amounts with a decimal
    comma; text a person typed (PO, cost centre) never read as a formula."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow([str(title) for title in CSV_HEADER])
    for row in rows:
        invoice = row.invoice
        period = format_period(invoice.period_start, invoice.period_end)
        writer.writerow([
            invoice.display_number, format_date(invoice.billing_date), period, format_date(invoice.due_date),
            str(INVOICE_STATUS_LABELS[invoice.display_status(today)]),
            spreadsheet_text(", ".join(row.purchase_orders)), spreadsheet_text(", ".join(row.cost_centres)),
            _cents(row.subtotal_cents), _cents(row.credit_cents), _cents(row.total_cents),
        ])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")
