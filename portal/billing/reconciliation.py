"""Finance's reconciliation (issue 15 point 9): the payments of a period by source, with their bank details, and
their CSV export. The exceptions waiting for finance are billing/exceptions.py.

Sources: "manual" (typed by finance), "retorno" (the bank's CNAB 240 file: the occurrence's file name and line),
"pix" split by how the Pix arrived (the PSP's webhook, or the polling that catches what a webhook missed: the
PixReceipt's `received_via`), "stripe". The period is of payment dates (`Payment.paid_on`, business dates, both
inclusive).
"""

import csv
import io
from dataclasses import dataclass, field
from datetime import date, timedelta

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Date, Integer, Select, bindparam, func, select

from portal.accounts.models import Organization
from portal.billing.models import PAYMENT_METHOD_LABELS, BankOccurrence, Invoice, Payment, PixReceipt, RetornoImport
from portal.extensions import db
from portal.shared import cnpj
from portal.shared.filters import ListFilters
from portal.shared.formatting import spreadsheet_text

MANUAL, RETORNO, PIX_WEBHOOK, PIX_POLLING, STRIPE = "manual", "retorno", "pix_webhook", "pix_polling", "stripe"
SOURCE_LABELS = {
    MANUAL: _l("Digitado"),
    RETORNO: _l("Retorno do banco"),
    PIX_WEBHOOK: _l("Pix (aviso do PSP)"),
    PIX_POLLING: _l("Pix (consulta ao PSP)"),
    STRIPE: _l("Stripe"),
}
# A payment's `source` as stored (the staff invoice page names it): one wording with the reconciliation page.
STORED_SOURCE_LABELS = {MANUAL: SOURCE_LABELS[MANUAL], RETORNO: SOURCE_LABELS[RETORNO], "pix": _l("Pix"),
                        STRIPE: SOURCE_LABELS[STRIPE]}
MAX_LISTED = 1000  # payments shown on the page (the CSV has them all)
CSV_HEADER = (_l("Data do pagamento"), _l("Fatura"), _l("Organização"), _l("CNPJ"), _l("Origem"), _l("Forma"),
              _l("Valor (R$)"), _l("Juros/multa (R$)"), _l("Tarifa (R$)"), _l("Data do crédito"),
              _l("Arquivo ou identificador"))


@dataclass
class ReconciliationFilters(ListFilters):
    date_from: date | None = None  # both inclusive; the views default them to the current month
    date_to: date | None = None
    exceptions: str = "open"  # which exceptions are listed: billing.exceptions OPEN, RESOLVED or ALL


def month_of(day: date) -> tuple[date, date]:
    """The first and last day of `day`'s month."""
    first = day.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following - timedelta(days=1)


def source_key(source: str, received_via: str | None) -> str:
    if source == "pix":
        return PIX_POLLING if received_via == "polling" else PIX_WEBHOOK
    return source


def source_label(key: str) -> str:
    label = SOURCE_LABELS.get(key)
    return str(label) if label else key


@dataclass(frozen=True)
class PaymentRow:
    payment: Payment
    invoice_id: int
    invoice_number: str
    organization_id: int
    organization_name: str
    organization_cnpj: str
    source: str  # a key of SOURCE_LABELS (or an unknown source as stored)
    file_name: str | None  # the retorno's file (retorno payments)
    file_line: int | None

    @property
    def source_label(self) -> str:
        return source_label(self.source)

    @property
    def method_label(self) -> str:
        label = PAYMENT_METHOD_LABELS.get(self.payment.method)
        return str(label) if label else self.payment.method

    @property
    def reference(self) -> str:
        """The retorno's file name and line, or the endToEndId / PaymentIntent id of an automatic payment."""
        if self.file_name:
            return _("%(file)s, linha %(line)d", file=self.file_name, line=self.file_line or 0)
        if self.payment.source == "manual":
            return ""
        return self.payment.external_id or ""


@dataclass(frozen=True)
class SourceTotal:
    key: str
    count: int = 0
    total_cents: int = 0

    @property
    def label(self) -> str:
        return source_label(self.key)


@dataclass
class Reconciliation:
    date_from: date
    date_to: date
    totals: list[SourceTotal]
    payments: list[PaymentRow] = field(default_factory=list)
    truncated: bool = False  # more payments than MAX_LISTED: the page shows the first ones, the CSV all

    @property
    def count(self) -> int:
        return sum(total.count for total in self.totals)

    @property
    def total_cents(self) -> int:
        return sum(total.total_cents for total in self.totals)


def _period(statement: Select) -> Select:
    """`statement` over the payments of a period of payment dates: the parameters `date_from` and `date_to`."""
    return statement.where(Payment.paid_on >= bindparam("date_from", type_=Date),
                           Payment.paid_on <= bindparam("date_to", type_=Date))


# Built once, run with the period as parameters (a statement built per request costs as much again as running it).
_TOTALS = _period(
    select(Payment.source, PixReceipt.received_via, func.count(Payment.id), func.sum(Payment.amount_cents))
    .outerjoin(PixReceipt, PixReceipt.payment_id == Payment.id)
    .group_by(Payment.source, PixReceipt.received_via))
_PAYMENTS = _period(
    select(Payment, Invoice, Organization, PixReceipt.received_via, RetornoImport.filename, BankOccurrence.line)
    .join(Invoice, Invoice.id == Payment.invoice_id)
    .join(Organization, Organization.id == Invoice.organization_id)
    .outerjoin(PixReceipt, PixReceipt.payment_id == Payment.id)
    .outerjoin(BankOccurrence, BankOccurrence.payment_id == Payment.id)
    .outerjoin(RetornoImport, RetornoImport.id == BankOccurrence.import_id)
).order_by(Payment.paid_on, Payment.id)
_PAYMENTS_LIMITED = _PAYMENTS.limit(bindparam("limit", type_=Integer))


def totals_by_source(date_from: date, date_to: date) -> list[SourceTotal]:
    """Count and sum (centavos) of the period's payments per source: the five known sources always, in their
    order, then any other source found."""
    found: dict[str, tuple[int, int]] = {key: (0, 0) for key in SOURCE_LABELS}
    for source, via, count, total in db.session.execute(_TOTALS, {"date_from": date_from, "date_to": date_to}):
        key = source_key(source, via)
        before = found.get(key, (0, 0))
        found[key] = (before[0] + count, before[1] + int(total or 0))
    return [SourceTotal(key, count, total) for key, (count, total) in found.items()]


def _row(payment: Payment, invoice: Invoice, organization: Organization, via: str | None, filename: str | None,
         line: int | None) -> PaymentRow:
    return PaymentRow(payment=payment, invoice_id=invoice.id, invoice_number=invoice.display_number,
                      organization_id=organization.id, organization_name=organization.display_name,
                      organization_cnpj=organization.cnpj, source=source_key(payment.source, via),
                      file_name=filename, file_line=line)


def payments_in(date_from: date, date_to: date, *, limit: int | None = None) -> list[PaymentRow]:
    parameters = {"date_from": date_from, "date_to": date_to}
    if limit is None:
        return [_row(*row) for row in db.session.execute(_PAYMENTS, parameters)]
    return [_row(*row) for row in db.session.execute(_PAYMENTS_LIMITED, {**parameters, "limit": limit})]


def reconciliation(date_from: date, date_to: date) -> Reconciliation:
    """What the page shows for the period: totals per source and the payments (up to MAX_LISTED)."""
    payments = payments_in(date_from, date_to, limit=MAX_LISTED + 1)
    return Reconciliation(date_from=date_from, date_to=date_to, totals=totals_by_source(date_from, date_to),
                          payments=payments[:MAX_LISTED], truncated=len(payments) > MAX_LISTED)


# ---------------------------------------------------------------- CSV

def csv_money(centavos: int) -> str:
    """123456 → "1234,56": a number spreadsheets in Portuguese read (comma decimal, no thousands separator)."""
    sign = "-" if centavos < 0 else ""
    reais, cents = divmod(abs(centavos), 100)
    return f"{sign}{reais},{cents:02d}"


def csv_filename(date_from: date, date_to: date) -> str:
    return f"conciliacao-{date_from.isoformat()}-a-{date_to.isoformat()}.csv"


def payments_csv(date_from: date, date_to: date) -> bytes:
    """Every payment of the period as CSV for Excel in Portuguese: UTF-8 with a BOM, `;` between fields, amounts
    as "1234,56", dates as dd/mm/aaaa, CRLF line ends."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow([str(title) for title in CSV_HEADER])
    for row in payments_in(date_from, date_to):
        payment = row.payment
        writer.writerow([
            f"{payment.paid_on:%d/%m/%Y}", row.invoice_number, spreadsheet_text(row.organization_name),
            cnpj.format(row.organization_cnpj), row.source_label, row.method_label, csv_money(payment.amount_cents),
            csv_money(payment.interest_paid_cents or 0), csv_money(payment.fee_cents or 0),
            f"{payment.credited_on:%d/%m/%Y}" if payment.credited_on else "", spreadsheet_text(row.reference),
        ])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")
