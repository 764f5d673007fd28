"""What finance must look at (BillingException) in one place: opened by the bank's retorno, the Pix receipts and
the payments recorded by themselves; listed and resolved (with a note) on the reconciliation page.

Kinds (ExceptionKind): a rejected entrada, an unknown nosso número, a payment on a cancelled invoice, an
under-payment ("pago a menor", the invoice stays open with its balance) or over-payment ("pago a maior", the excess
became credit) by an automatic source, a Pix whose txid matches no charge, a boleto paid after its baixa was sent.
Resolving records the note, who and when, with an audit event; an exception is resolved once (its row is locked,
a second resolution finds it resolved).
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from portal.accounts.models import Organization, User
from portal.billing.models import (
    BillingException,
    Boleto,
    CreditEntry,
    ExceptionKind,
    Invoice,
    Payment,
    PixReceipt,
)
from portal.extensions import db
from portal.shared import clock
from portal.shared.audit import Actor, AuditTag, record
from portal.shared.errors import NotFound, ServiceError
from portal.shared.formatting import format_money

MAX_NOTE = 1000  # characters of a resolution note
MAX_LISTED = 500  # exceptions shown at once (the oldest first: they wait longest)
OPEN, RESOLVED, ALL = "open", "resolved", "all"

EXCEPTION_KIND_LABELS = {
    ExceptionKind.REJECTED: _l("Entrada rejeitada pelo banco"),
    ExceptionKind.UNKNOWN: _l("Pagamento desconhecido"),
    ExceptionKind.PAID_CANCELLED: _l("Pago em fatura cancelada"),
    ExceptionKind.UNDERPAID: _l("Pago a menor"),
    ExceptionKind.OVERPAID: _l("Pago a maior"),
    ExceptionKind.UNKNOWN_PIX: _l("Pix desconhecido"),
    ExceptionKind.PAID_AFTER_BAIXA: _l("Pago após a baixa"),
    ExceptionKind.NFSE_REJECTED: _l("NFS-e recusada"),
    ExceptionKind.HELD_BACK: _l("Boleto fora da remessa"),
}


def open_exception(kind: str, message: str, details: dict[str, Any] | None = None, *, invoice: Invoice | None = None,
                   boleto: Boleto | None = None, payment: Payment | None = None) -> BillingException:
    """Add an exception for finance in the current transaction (the caller commits). `message` is Portuguese,
    for finance; `details` what the source said (JSON)."""
    invoice_id = invoice.id if invoice is not None else (boleto.invoice_id if boleto is not None else None)
    if invoice_id is None and payment is not None:
        invoice_id = payment.invoice_id
    row = BillingException(kind=str(ExceptionKind(kind)), invoice_id=invoice_id,
                           boleto_id=boleto.id if boleto is not None else None,
                           payment_id=payment.id if payment is not None else None, message=message,
                           details=details or {}, created_at=clock.now())
    db.session.add(row)
    db.session.flush()
    return row


def paid_on_cancelled(invoice: Invoice, amount_cents: int, what: str, details: dict[str, Any], *,
                      boleto: Boleto | None = None) -> BillingException:
    """Money that arrived by itself (a retorno's liquidação, a Pix) for an invoice already cancelled: it becomes
    the organization's credit and an exception for finance, in the current transaction (the caller commits).
    `what` names the payment for finance ("Boleto 00010152", "Pix E123…")."""
    db.session.add(CreditEntry(organization_id=invoice.organization_id, amount_cents=amount_cents,
                               description=f"{what} paid on cancelled invoice {invoice.display_number}"[:300],
                               created_at=clock.now()))
    return open_exception(ExceptionKind.PAID_CANCELLED,
                          f"{what} pago ({format_money(amount_cents)}) na fatura cancelada {invoice.display_number}: "
                          "o valor virou crédito da organização.", details, invoice=invoice, boleto=boleto)


def report_unknown_pix(receipt: PixReceipt) -> BillingException:
    """A Pix whose txid matches no charge (kept as an unmatched PixReceipt): an exception for finance. Commits."""
    row = open_exception(
        ExceptionKind.UNKNOWN_PIX,
        f"Pix {receipt.end_to_end_id} de {format_money(receipt.amount_cents)} recebido "
        f"({receipt.received_via}) com txid {receipt.txid or '(sem txid)'}, que não é de nenhuma cobrança do "
        "portal: identifique o pagador e registre o pagamento à mão, ou devolva o valor.",
        {"end_to_end_id": receipt.end_to_end_id, "txid": receipt.txid, "amount_cents": receipt.amount_cents,
         "paid_at": receipt.paid_at.isoformat() if receipt.paid_at else None, "received_via": receipt.received_via,
         "receipt_id": receipt.id})
    db.session.commit()
    return row


# ---------------------------------------------------------------- listing

@dataclass(frozen=True)
class ExceptionFilters:
    status: str = OPEN  # OPEN, RESOLVED or ALL
    date_from: date | None = None  # business dates, both inclusive: when it was opened (open ones: any date)
    date_to: date | None = None


@dataclass(frozen=True)
class ExceptionRow:
    exception: BillingException
    invoice_number: str | None
    organization_id: int | None
    organization_name: str | None
    resolved_by: str | None

    @property
    def kind_label(self) -> str:
        label = EXCEPTION_KIND_LABELS.get(self.exception.kind)
        return str(label) if label else self.exception.kind


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=clock.BUSINESS_TZ)


_LISTED = (select(BillingException, Invoice, Organization, User)
           .outerjoin(Invoice, Invoice.id == BillingException.invoice_id)
           .outerjoin(Organization, Organization.id == Invoice.organization_id)
           .outerjoin(User, User.id == BillingException.resolved_by_id))
_OPEN = _LISTED.where(BillingException.resolved_at.is_(None)).order_by(BillingException.id).limit(MAX_LISTED)


def open_exceptions(filters: ExceptionFilters | None = None) -> list[ExceptionRow]:
    """The exceptions as `filters` say (by default: every one still open), oldest first, with the invoice's
    number and organization. Resolved ones are limited to the period (by opening date)."""
    filters = filters or ExceptionFilters()
    if filters.status == OPEN:
        statement = _OPEN  # the page's default, built once
    else:
        statement = _LISTED
        if filters.status == RESOLVED:
            statement = statement.where(BillingException.resolved_at.is_not(None))
        if filters.date_from:
            statement = statement.where(BillingException.created_at >= _midnight(filters.date_from))
        if filters.date_to:
            statement = statement.where(BillingException.created_at < _midnight(filters.date_to + timedelta(days=1)))
        statement = statement.order_by(BillingException.id).limit(MAX_LISTED)
    rows = db.session.execute(statement).all()
    return [ExceptionRow(exception, invoice.display_number if invoice else None,
                         organization.id if organization else None,
                         organization.display_name if organization else None,
                         user.name if user else None)
            for exception, invoice, organization, user in rows]


# ---------------------------------------------------------------- resolving

def check_note(note: Any) -> str:
    text = (note if isinstance(note, str) else "").strip()
    if not text:
        raise ServiceError(_("Escreva o que foi feito para resolver a pendência."), field="note")
    if len(text) > MAX_NOTE:
        raise ServiceError(_("Use no máximo %(max)d caracteres.", max=MAX_NOTE), field="note")
    return text


def resolve(exception_id: int, note: str, actor: Actor) -> BillingException:
    """Close an exception with finance's note (required, ≤ MAX_NOTE characters), audited. Commits.
    NotFound for no such exception; ServiceError for a bad note or one resolved already (by anyone)."""
    text = check_note(note)
    row = db.session.scalar(select(BillingException).where(BillingException.id == exception_id).with_for_update()
                            .execution_options(populate_existing=True))
    if row is None:
        db.session.rollback()
        raise NotFound(_("Pendência não encontrada."))
    if row.resolved_at is not None:
        db.session.rollback()
        raise ServiceError(_("Esta pendência já foi resolvida."))
    row.resolved_at = clock.now()
    row.resolved_by_id = actor.user_id
    row.resolution_note = text
    organization_id = None
    if row.invoice_id is not None:
        organization_id = db.session.scalar(select(Invoice.organization_id).where(Invoice.id == row.invoice_id))
    record(AuditTag.BILLING_EXCEPTION_RESOLVED, actor=actor, subject=f"billing_exception:{row.id}",
           before={"resolved_at": None},
           after={"kind": row.kind, "invoice_id": row.invoice_id, "organization_id": organization_id,
                  "payment_id": row.payment_id, "message": row.message, "note": text})
    db.session.commit()
    return row
