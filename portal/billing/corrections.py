"""Correcting an issued invoice without editing it: cancel-and-reissue (before any payment; its NFS-e is
cancelled first or, under NFS-e Nacional, substituted by the replacement's) or a credit note (its own series; the
amount becomes organization credit for the next invoices)."""

from dataclasses import dataclass

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select

from portal import jobs
from portal.billing import fiscal
from portal.billing.models import (
    CreditEntry,
    FiscalDocument,
    FiscalStatus,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceStatus,
    LineKind,
)
from portal.billing.numbering import CREDIT_NOTE_SERIES, take_number
from portal.billing.run import Issued, invoice_organization
from portal.billing.settings import BillingSettings
from portal.extensions import db
from portal.shared import clock
from portal.shared.audit import Actor, AuditTag, record
from portal.shared.errors import ServiceError
from portal.shared.formatting import format_money

MIN_REASON_LENGTH = 10
# The national cancellation event's cMotivo (e101101), also used for São Paulo's and the simulator's, with the
# words that open its xMotivo (the event wants 15 to 255 characters; the staff's reason follows).
CANCELLATION_REASONS = {1: "Erro na emissao", 2: "Servico nao prestado", 9: "Outros"}


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if len(reason) < MIN_REASON_LENGTH:
        raise ServiceError(_("Explique o motivo com pelo menos %(n)d caracteres.", n=MIN_REASON_LENGTH),
                           field="reason")
    return reason


def _reason_code(code: object) -> int:
    if code not in CANCELLATION_REASONS:
        raise ServiceError(_("Escolha o motivo do cancelamento da nota fiscal."), field="reason_code")
    return int(code)  # type: ignore[call-overload]


def fiscal_reason(code: int, reason: str) -> str:
    """The text of the note's cancellation: the code's words, then the staff's reason."""
    return f"{CANCELLATION_REASONS[code]}: {reason}"[:255]


@dataclass(frozen=True)
class Reissued:
    """What a cancel-and-reissue did."""

    invoice: Invoice | None  # the replacement; None: nothing to bill again for that day
    created: bool
    substituting: FiscalDocument | None = None  # the old note, left for the replacement's note to substitute
    note_error: str = ""  # nothing replaced the old note and the authority did not cancel it: its answer


def cancel_and_reissue(invoice: Invoice, *, reason: str, settings: BillingSettings, actor: Actor,
                       reason_code: int = 1) -> Reissued:
    """Cancel an open invoice without payments and issue its replacement (a new number) for the same billing day,
    from the ledger as it is now. The cancelled invoice stays, marked, with its PDF.

    Its NFS-e, when the portal issued it:
    - NFS-e Nacional (`fiscal.substitutes`): left standing; the replacement's DPS names it (subst) and the Sefin
      cancels it when it authorises the new note (`fiscal.ensure_fiscal_document`). Should nothing be billed
      again, it is cancelled by its own event instead;
    - São Paulo and the simulator: cancelled at the authority FIRST with `reason_code` (1 erro na emissão,
      2 serviço não prestado, 9 outros); if the authority refuses, nothing changes (ServiceError; finance gets an
      e-mail).
    An uploaded real note is refused: it is cancelled at the city hall and corrected with a credit note.

    Two commits: the cancellation, then the replacement; if the second fails, `reissue` completes it.
    """
    reason = _reason(reason)
    reason_code = _reason_code(reason_code)
    issuer = current_app.extensions["fiscal_issuer"]
    db.session.refresh(invoice, with_for_update=True)
    _check_cancellable(invoice)
    note = invoice.fiscal_document
    substituted = fiscal.substitutes(issuer, note)
    if note is not None and note.status == FiscalStatus.ISSUED and not substituted:
        fiscal.cancel_fiscal_document(invoice, issuer=issuer, reason_code=reason_code,
                                      reason=fiscal_reason(reason_code, reason), actor=actor)  # commits
        db.session.refresh(invoice, with_for_update=True)
        _check_cancellable(invoice)
    invoice.status = InvoiceStatus.CANCELLED
    invoice.cancelled_at = clock.now()
    invoice.cancel_reason = reason
    if invoice.credit_applied_cents:  # the credit it used goes back to the organization
        db.session.add(CreditEntry(organization_id=invoice.organization_id, amount_cents=invoice.credit_applied_cents,
                                   description=f"invoice {invoice.display_number} cancelled", invoice_id=invoice.id,
                                   created_at=clock.now()))
    record(AuditTag.INVOICE_CANCELLED, actor=actor, organization_id=invoice.organization_id,
           subject=f"invoice:{invoice.id}", before={"status": InvoiceStatus.OPEN},
           after={"status": InvoiceStatus.CANCELLED, "reason": reason,
                  **({"reason_code": reason_code} if note is not None else {})})
    if current_app.extensions.get("pix_provider") is not None:  # its cobv is removed at the PSP
        jobs.enqueue("billing.ensure_pix_charge", invoice.id)
    db.session.commit()
    issued = reissue(invoice, settings=settings, actor=actor)
    if not substituted:
        return Reissued(issued.invoice, issued.created)
    if issued.invoice is None:  # nothing replaces the note: it is cancelled by its own event
        try:
            cancel_standing_note(invoice, reason_code=reason_code, reason=reason, actor=actor)
        except ServiceError as error:
            return Reissued(None, False, note_error=error.message)
        return Reissued(None, False)
    db.session.refresh(note)
    return Reissued(issued.invoice, issued.created, substituting=note)


def cancel_standing_note(invoice: Invoice, *, reason_code: int, reason: str, actor: Actor) -> FiscalDocument:
    """Cancel the NFS-e of an invoice already cancelled whose note still stands (its cancellation was refused or
    could not be sent, or nothing was billed again to substitute it), with its reason code; commits."""
    reason = _reason(reason)
    reason_code = _reason_code(reason_code)
    note = invoice.fiscal_document
    if invoice.status != InvoiceStatus.CANCELLED or note is None or note.status != FiscalStatus.ISSUED:
        raise ServiceError(_("Só a nota fiscal de uma fatura cancelada que continua válida pode ser cancelada "
                             "aqui."))
    fiscal.cancel_fiscal_document(invoice, issuer=current_app.extensions["fiscal_issuer"], reason_code=reason_code,
                                  reason=fiscal_reason(reason_code, reason), actor=actor)
    return note


def can_reissue(invoice: Invoice) -> bool:
    """Whether `cancel_and_reissue` may be tried (the page offers it): open, no payment, and a note the portal can
    cancel or substitute (none, simulated, or issued by the configured issuer; never an uploaded one)."""
    if invoice.kind != InvoiceKind.REGULAR or invoice.status != InvoiceStatus.OPEN or invoice.payments:
        return False
    note = invoice.fiscal_document
    if note is None or note.status == FiscalStatus.CANCELLED:
        return True
    backend = current_app.extensions["fiscal_issuer"].backend
    return note.source != "upload" and (note.simulated or note.source == backend)


def substitution_pending(invoice: Invoice) -> bool:
    """A cancelled invoice whose note stands until its replacement's note substitutes it."""
    note = invoice.fiscal_document
    if invoice.status != InvoiceStatus.CANCELLED or not fiscal.substitutes(current_app.extensions["fiscal_issuer"],
                                                                           note):
        return False
    replacement = replacement_of(invoice)
    return replacement is not None and replacement.fiscal_document is None


def standing_note(invoice: Invoice) -> FiscalDocument | None:
    """The note of a cancelled invoice that is still valid (to be cancelled on its own: `cancel_standing_note`)."""
    note = invoice.fiscal_document
    if invoice.status != InvoiceStatus.CANCELLED or note is None or note.status != FiscalStatus.ISSUED:
        return None
    return note


def _check_cancellable(invoice: Invoice) -> None:
    if invoice.kind != InvoiceKind.REGULAR or invoice.status != InvoiceStatus.OPEN:
        raise ServiceError(_("Só faturas em aberto podem ser canceladas e reemitidas."))
    note = invoice.fiscal_document
    if note is not None and note.status == FiscalStatus.ISSUED and note.source == "upload":
        raise ServiceError(_("Esta fatura já tem nota fiscal: corrija-a com uma nota de crédito."))
    if invoice.payments:
        raise ServiceError(_("Esta fatura já recebeu pagamentos: corrija-a com uma nota de crédito."))


def replacement_of(invoice: Invoice) -> Invoice | None:
    return db.session.scalar(select(Invoice).where(Invoice.replaces_id == invoice.id))


def reissue(invoice: Invoice, *, settings: BillingSettings, actor: Actor) -> Issued:
    """The replacement of a cancelled invoice (once: a second call returns the same one)."""
    if invoice.status != InvoiceStatus.CANCELLED:
        raise ServiceError(_("Só uma fatura cancelada pode ser reemitida."))
    existing = replacement_of(invoice)
    if existing is not None:
        return Issued(existing, False)
    issued = invoice_organization(invoice.organization_id, on=invoice.billing_date, settings=settings, actor=actor,
                                  replaces=invoice)
    if issued.invoice is not None:
        record(AuditTag.INVOICE_REISSUED, actor=actor, organization_id=invoice.organization_id,
               subject=f"invoice:{issued.invoice.id}",
               after={"replaces": invoice.display_number, "number": issued.invoice.display_number})
        db.session.commit()
    return issued


def credited_cents(invoice: Invoice) -> int:
    """What credit notes already gave back on `invoice` (≥ 0)."""
    return -db.session.scalar(select(func.coalesce(func.sum(Invoice.total_cents), 0)).where(
        Invoice.corrects_id == invoice.id, Invoice.kind == InvoiceKind.CREDIT_NOTE))


def issue_credit_note(invoice: Invoice, *, amount_cents: int, reason: str, actor: Actor) -> Invoice:
    """A credit note of `amount_cents` against an issued invoice; the amount becomes organization credit."""
    reason = _reason(reason)
    if invoice.kind != InvoiceKind.REGULAR or invoice.status == InvoiceStatus.CANCELLED:
        raise ServiceError(_("Notas de crédito corrigem faturas emitidas (não canceladas)."))
    if not isinstance(amount_cents, int) or isinstance(amount_cents, bool) or amount_cents <= 0:
        raise ServiceError(_("Informe um valor maior que zero."), field="amount")
    room = invoice.subtotal_cents - credited_cents(invoice)
    if amount_cents > room:

        raise ServiceError(_("O valor passa do que ainda pode ser creditado nesta fatura (%(room)s).",
                             room=format_money(room)), field="amount")
    now = clock.now()
    today = clock.today()
    note = Invoice(
        organization_id=invoice.organization_id, kind=InvoiceKind.CREDIT_NOTE, series=CREDIT_NOTE_SERIES,
        year=today.year, number=take_number(CREDIT_NOTE_SERIES, today.year), status=InvoiceStatus.PAID,
        billing_date=today, period_start=invoice.period_start, period_end=invoice.period_end, issued_at=now,
        due_date=today, subtotal_cents=-amount_cents, credit_applied_cents=0, total_cents=-amount_cents,
        corrects_id=invoice.id, paid_at=now,
    )
    db.session.add(note)
    db.session.flush()
    db.session.add(InvoiceLine(invoice_id=note.id, position=1, kind=LineKind.ADJUSTMENT, description=reason[:300],
                               quantity=1, unit_price_cents=-amount_cents, amount_cents=-amount_cents))
    db.session.add(CreditEntry(organization_id=invoice.organization_id, amount_cents=amount_cents,
                               description=f"credit note {note.display_number} for {invoice.display_number}",
                               invoice_id=note.id, created_at=now))
    record(AuditTag.CREDIT_NOTE_ISSUED, actor=actor, organization_id=invoice.organization_id,
           subject=f"invoice:{note.id}",
           after={"number": note.display_number, "corrects": invoice.display_number, "amount_cents": amount_cents,
                  "reason": reason})
    db.session.commit()
    return note
