"""Review before issuing (issue 16 point 8, BILLING_REVIEW=true): finance's work on the billing run's drafts.

The run writes drafts (billing/run.py `draft_run`); here finance lists them, corrects a line's description, adds a
one-off discount with its reason, and approves them, one or several at once. Approval is `run.approve_draft`: the
one issuing path (number, boleto, Pix, documents), idempotent. A draft still waiting `review_lead_days` before its
due date is late: the drafts page shows it, and `flag_late_drafts` (a daily job) e-mails finance once per draft.

Drafts are not invoices and live in their own tables: nothing a customer reads can reach them.
"""

from dataclasses import dataclass
from datetime import date, timedelta

from flask import current_app
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from portal.accounts.models import StaffRoleGrant, User
from portal.accounts.roles import StaffRole
from portal.billing import run
from portal.billing.models import Invoice, InvoiceDraft, InvoiceDraftLine, InvoiceDraftStatus, LineKind
from portal.billing.settings import BillingSettings
from portal.extensions import db
from portal.notifications.service import queue_email
from portal.shared import clock
from portal.shared.audit import Actor, AuditTag, record
from portal.shared.errors import ServiceError
from portal.shared.formatting import format_money
from portal.shared.links import absolute_url

MAX_DESCRIPTION = 300
MAX_REASON = 300
MAX_SELECTED = 500  # drafts approved in one "aprovar selecionados"


def is_late(draft: InvoiceDraft, today: date, lead_days: int) -> bool:
    """Still waiting on or after its due date minus the lead time finance needs (BILLING_REVIEW_LEAD_DAYS)."""
    return draft.status == InvoiceDraftStatus.PENDING and today >= draft.due_date - timedelta(days=lead_days)


# ---------------------------------------------------------------- reading

@dataclass(frozen=True)
class DraftRow:
    draft: InvoiceDraft
    late: bool


def pending_drafts(*, today: date, lead_days: int) -> list[DraftRow]:
    """Every draft waiting for approval, the soonest due first."""
    drafts = db.session.scalars(
        select(InvoiceDraft).where(InvoiceDraft.status == InvoiceDraftStatus.PENDING)
        .options(selectinload(InvoiceDraft.lines), selectinload(InvoiceDraft.organization))
        .order_by(InvoiceDraft.due_date, InvoiceDraft.id)
    ).all()
    return [DraftRow(draft, is_late(draft, today, lead_days)) for draft in drafts]


def draft(draft_id: int) -> InvoiceDraft | None:
    return db.session.scalar(select(InvoiceDraft).where(InvoiceDraft.id == draft_id)
                             .options(selectinload(InvoiceDraft.lines), selectinload(InvoiceDraft.organization)))


def drafts_by_id(draft_ids: list[int]) -> list[InvoiceDraft]:
    if not draft_ids:
        return []
    return list(db.session.scalars(select(InvoiceDraft).where(InvoiceDraft.id.in_(draft_ids))
                                   .options(selectinload(InvoiceDraft.lines), selectinload(InvoiceDraft.organization))
                                   .order_by(InvoiceDraft.due_date, InvoiceDraft.id)))


def invoice_of(draft_row: InvoiceDraft) -> Invoice | None:
    return db.session.get(Invoice, draft_row.invoice_id) if draft_row.invoice_id is not None else None


# ---------------------------------------------------------------- corrections

def _pending_locked(draft_id: int) -> InvoiceDraft:
    found = db.session.scalar(select(InvoiceDraft).where(InvoiceDraft.id == draft_id).with_for_update()
                              .execution_options(populate_existing=True))
    if found is None:
        db.session.rollback()
        raise ServiceError(_("Rascunho não encontrado."))
    if found.status != InvoiceDraftStatus.PENDING:
        db.session.rollback()
        raise ServiceError(_("Este rascunho já foi aprovado e virou fatura: não pode mais ser alterado."))
    return found


def edit_line(draft_id: int, line_id: int, *, description: str, actor: Actor) -> InvoiceDraftLine:
    """Correct the description of a line of a pending draft (audited with before and after). Commits."""
    text = " ".join((description or "").split())
    if not text:
        raise ServiceError(_("Informe a descrição da linha."), field="description")
    if len(text) > MAX_DESCRIPTION:
        raise ServiceError(_("Use no máximo %(num)d caracteres.", num=MAX_DESCRIPTION), field="description")
    found = _pending_locked(draft_id)
    line = next((line for line in found.lines if line.id == line_id), None)
    if line is None:
        db.session.rollback()
        raise ServiceError(_("Linha não encontrada neste rascunho."))
    before = line.description
    if text != before:
        line.description = text
        record(AuditTag.INVOICE_DRAFT_LINE_EDITED, actor=actor, organization_id=found.organization_id,
               subject=f"invoice_draft:{found.id}", before={"line": line.position, "description": before},
               after={"line": line.position, "description": text})
    db.session.commit()
    return line


def add_discount(draft_id: int, *, amount_cents: int, reason: str, actor: Actor) -> InvoiceDraftLine:
    """A one-off discount on a pending draft: a negative adjustment line, never more than what the draft's lines
    add up to (the total never goes below zero), with the reason finance gives (required; audited). Commits."""
    reason = " ".join((reason or "").split())
    if amount_cents is None or amount_cents <= 0:
        raise ServiceError(_("Informe um valor maior que zero."), field="amount")
    if not reason:
        raise ServiceError(_("Informe o motivo do desconto."), field="reason")
    if len(reason) > MAX_REASON:
        raise ServiceError(_("Use no máximo %(num)d caracteres.", num=MAX_REASON), field="reason")
    found = _pending_locked(draft_id)
    subtotal = found.subtotal_cents
    if amount_cents > subtotal:
        db.session.rollback()
        raise ServiceError(_("O desconto não pode passar do subtotal do rascunho (%(subtotal)s).",
                             subtotal=format_money(subtotal)), field="amount")
    line = InvoiceDraftLine(position=max((line.position for line in found.lines), default=0) + 1,
                            kind=str(LineKind.ADJUSTMENT), description=_("Desconto"), quantity=1,
                            unit_price_cents=-amount_cents, amount_cents=-amount_cents, reason=reason)
    found.lines.append(line)
    record(AuditTag.INVOICE_DRAFT_DISCOUNTED, actor=actor, organization_id=found.organization_id,
           subject=f"invoice_draft:{found.id}",
           before={"subtotal_cents": subtotal},
           after={"amount_cents": amount_cents, "reason": reason, "subtotal_cents": subtotal - amount_cents})
    db.session.commit()
    return line


# ---------------------------------------------------------------- approval

def approve(draft_id: int, *, settings: BillingSettings, actor: Actor) -> run.Approved:
    """Issue the draft's invoice (see `run.approve_draft`); approving it again gives the same invoice."""
    try:
        outcome = run.approve_draft(draft_id, settings=settings, actor=actor)
    except (run.DayAlreadyInvoiced, IntegrityError):  # that organization's invoice of the day exists already
        db.session.rollback()
        raise ServiceError(_("Já existe uma fatura desta organização para esta data de faturamento; o rascunho "
                             "não pode ser emitido.")) from None
    if outcome is None:
        raise ServiceError(_("Rascunho não encontrado."))
    return outcome


@dataclass
class ManyApproved:
    issued: list[int]  # invoice ids issued now
    already: list[int]  # invoice ids of drafts approved before
    failed: list[tuple[int, str]]  # (draft id, message)


def approve_many(draft_ids: list[int], *, settings: BillingSettings, actor: Actor) -> ManyApproved:
    """Approve each draft in its own transaction (one draft's trouble does not stop the others)."""
    outcome = ManyApproved([], [], [])
    for draft_id in sorted(set(draft_ids))[:MAX_SELECTED]:
        try:
            approved = approve(draft_id, settings=settings, actor=actor)
        except ServiceError as error:
            outcome.failed.append((draft_id, error.message))
        else:
            (outcome.issued if approved.created else outcome.already).append(approved.invoice_id)
    return outcome


# ---------------------------------------------------------------- late drafts

def _finance_staff() -> list[User]:
    return list(db.session.scalars(
        select(User).join(StaffRoleGrant, StaffRoleGrant.user_id == User.id)
        .where(User.is_staff.is_(True), User.active.is_(True), StaffRoleGrant.role == StaffRole.FINANCEIRO)
        .order_by(User.id)))


def flag_late_drafts(*, today: date, lead_days: int) -> list[int]:
    """Mark the drafts late for approval that were not yet, and e-mail finance staff about them (one e-mail per
    person, once per draft however often the job runs). Commits. → the ids flagged now."""
    late = db.session.scalars(
        select(InvoiceDraft).where(InvoiceDraft.status == InvoiceDraftStatus.PENDING,
                                   InvoiceDraft.flagged_at.is_(None),
                                   InvoiceDraft.due_date <= today + timedelta(days=lead_days))
        .order_by(InvoiceDraft.due_date, InvoiceDraft.id).with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    if not late:
        db.session.rollback()
        return []
    now = clock.now()
    for found in late:
        found.flagged_at = now
    rows = [{"organization": found.organization.display_name, "billing_date": found.billing_date,
             "due_date": found.due_date, "total_cents": found.total_cents,
             "url": absolute_url("backoffice.invoice_draft", draft_id=found.id)} for found in late]
    context = {"drafts": rows, "lead_days": lead_days, "list_url": absolute_url("backoffice.invoice_drafts")}

    def subject():
        return ngettext("%(num)d rascunho de fatura aguarda aprovação perto do vencimento",
                        "%(num)d rascunhos de fatura aguardam aprovação perto do vencimento", len(rows))

    people = _finance_staff()
    if not people:
        queue_email("invoice_drafts_late", to=[current_app.config["MAIL_STAFF_TO"]], subject_fn=subject,
                    context={**context, "person": None}, language=current_app.config["BABEL_DEFAULT_LOCALE"])
    for person in people:
        queue_email("invoice_drafts_late", to=[person.email], subject_fn=subject, context={**context, "person": person},
                    language=person.language or current_app.config["BABEL_DEFAULT_LOCALE"])
    ids = [found.id for found in late]
    db.session.commit()
    return ids
