"""The 2ª via of an overdue boleto: a new due date, multa and juros de mora, a new boleto; the old ones stay.

The amounts (all integer centavos, exact `Fraction` arithmetic, each component rounded once, ROUND_HALF_UP):

- base  = what is still owed on the invoice: total − payments received;
- multa = round(base × fine_bp / 10 000) — at most 2% (BillingSettings refuses a larger setting);
- juros = round(base × interest_monthly_bp / 10 000 × days_late / 30) — 1% a.m. "pro rata die", a month
  counted as 30 days;
- days_late runs from the invoice's ORIGINAL due date to the NEW due date (not to today): the boleto is
  paid on its new due date at the latest, and every day until then is a day late. This keeps the boleto's
  amount valid for its whole life instead of charging the days after the request for free;
- new due date = the next business day on or after today + settings.second_copy_days.

Each 2ª via is computed from the original due date and the amount still owed, never from a previous
2ª via, so a third request does not charge multa on multa.
"""

from dataclasses import dataclass
from datetime import date, timedelta
from fractions import Fraction

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal import jobs
from portal.billing import boleto as boleto_codes
from portal.billing import documents, pix_charges
from portal.billing.boletos import new_boleto
from portal.billing.models import Boleto, Invoice, InvoiceStatus
from portal.billing.settings import BillingSettings
from portal.extensions import db
from portal.integrations.pix import PixError
from portal.shared import clock
from portal.shared.audit import Actor, AuditTag, record
from portal.shared.errors import ServiceError
from portal.shared.formatting import format_date
from portal.shared.money import round_half_up

DAYS_PER_MONTH = 30  # juros de mora pro rata die: the monthly rate over a 30-day month
BASIS_POINTS = 10_000


@dataclass(frozen=True)
class SecondCopyQuote:
    """What a 2ª via asked for `today` would charge (centavos) and when it would be due."""

    base_cents: int  # still owed on the invoice
    original_due: date
    new_due: date
    days_late: int  # original due date → new due date
    fine_cents: int  # multa
    interest_cents: int  # juros de mora
    fine_bp: int
    interest_monthly_bp: int

    @property
    def total_cents(self) -> int:
        return self.base_cents + self.fine_cents + self.interest_cents


def fine_cents(base_cents: int, fine_bp: int) -> int:
    return round_half_up(Fraction(base_cents * fine_bp, BASIS_POINTS))


def interest_cents(base_cents: int, interest_monthly_bp: int, days_late: int) -> int:
    return round_half_up(Fraction(base_cents * interest_monthly_bp * days_late, BASIS_POINTS * DAYS_PER_MONTH))


def new_due_date(today: date, settings: BillingSettings) -> date:
    return boleto_codes.next_business_day(today + timedelta(days=settings.second_copy_days))


def _check_eligible(invoice: Invoice, today: date) -> int:
    """The amount still owed, or a ServiceError saying why there is no 2ª via for this invoice."""
    if invoice.status == InvoiceStatus.PAID:
        raise ServiceError(_("Esta fatura já está paga: não há 2ª via a emitir."))
    if invoice.status == InvoiceStatus.CANCELLED:
        raise ServiceError(_("Esta fatura foi cancelada: não há 2ª via a emitir."))
    if invoice.due_date >= today:
        raise ServiceError(_("Esta fatura ainda não venceu: use o boleto atual, que vence em %(date)s.",
                             date=format_date(invoice.due_date)))
    base = invoice.total_cents - invoice.paid_cents
    if base <= 0 or invoice.current_boleto is None:
        raise ServiceError(_("Não há valor em aberto nesta fatura."))
    return base


def quote(invoice: Invoice, *, settings: BillingSettings, today: date) -> SecondCopyQuote:
    """The amounts a 2ª via would have if asked for `today`; ServiceError when the invoice has none."""
    base = _check_eligible(invoice, today)
    due = new_due_date(today, settings)
    days_late = (due - invoice.due_date).days
    return SecondCopyQuote(
        base_cents=base, original_due=invoice.due_date, new_due=due, days_late=days_late,
        fine_cents=fine_cents(base, settings.fine_bp),
        interest_cents=interest_cents(base, settings.interest_monthly_bp, days_late),
        fine_bp=settings.fine_bp, interest_monthly_bp=settings.interest_monthly_bp,
    )


def _same_day_copy(invoice: Invoice, wanted: SecondCopyQuote, today: date) -> Boleto | None:
    """The 2ª via already issued today for the same amount and due date (a repeated request), if any."""
    current = invoice.current_boleto
    if (current is not None and current.sequence > 1 and clock.to_business(current.created_at).date() == today
            and current.due_date == wanted.new_due and current.amount_cents == wanted.total_cents):
        return current
    return None


def _locked(invoice: Invoice) -> Invoice:
    """The invoice re-read under a row lock (two requests at once issue one 2ª via)."""
    found = db.session.scalar(select(Invoice).where(Invoice.id == invoice.id).with_for_update()
                              .execution_options(populate_existing=True))
    db.session.expire(found, ["boletos", "payments"])  # read again inside the lock
    return found


@dataclass(frozen=True)
class Issued:
    boleto: Boleto
    created: bool  # False: the same request had already been answered today


class ChangedSinceShown(ServiceError):
    """The amount or due date differs from what the person confirmed (a payment arrived, the day turned)."""


def issue(invoice: Invoice, *, settings: BillingSettings, today: date, actor: Actor,
          expected: tuple[int, date] | None = None) -> Issued:
    """Issue the 2ª via of an overdue invoice's boleto (or return the one issued today). Commits.

    `expected`: the (total in centavos, due date) the person confirmed; when today's quote differs,
    ChangedSinceShown asks them to look again instead of issuing an amount they did not see.
    """
    invoice = _locked(invoice)
    try:
        wanted = quote(invoice, settings=settings, today=today)
    except ServiceError:
        db.session.rollback()
        raise
    existing = _same_day_copy(invoice, wanted, today)
    if existing is not None:
        db.session.rollback()
        return Issued(existing, False)
    if expected is not None and expected != (wanted.total_cents, wanted.new_due):
        db.session.rollback()
        raise ChangedSinceShown(_("Os valores da 2ª via mudaram desde que a página foi aberta. Confira os novos "
                                  "valores e confirme de novo."))
    previous = invoice.current_boleto
    try:
        boleto = new_boleto(invoice, settings, due=wanted.new_due, amount_cents=wanted.total_cents,
                            sequence=len(invoice.boletos) + 1, fine_cents=wanted.fine_cents,
                            interest_cents=wanted.interest_cents)
        record(AuditTag.SECOND_COPY_ISSUED, actor=actor, organization_id=invoice.organization_id,
               subject=f"invoice:{invoice.id}",
               before={"boleto_sequence": previous.sequence, "due_date": previous.due_date.isoformat(),
                       "amount_cents": previous.amount_cents},
               after={"number": invoice.display_number, "boleto_sequence": boleto.sequence,
                      "nosso_numero": boleto.nosso_numero, "due_date": wanted.new_due.isoformat(),
                      "base_cents": wanted.base_cents, "fine_cents": wanted.fine_cents,
                      "interest_cents": wanted.interest_cents, "amount_cents": wanted.total_cents,
                      "days_late": wanted.days_late})
        db.session.commit()
    except IntegrityError:  # a boleto with this sequence exists already (the unique nosso número): theirs stands
        db.session.rollback()
        invoice = _locked(invoice)
        db.session.rollback()
        return Issued(invoice.current_boleto, False)
    _new_pix_charge(invoice, settings)
    _render_pdf(invoice, settings, actor)
    return Issued(boleto, True)


def _new_pix_charge(invoice: Invoice, settings: BillingSettings) -> None:
    """With a PSP, the new boleto's cobv (its Pix is then the dynamic one, in the PDF too) and the previous
    boleto's removed; if the PSP fails now, the job tries again (the PDF keeps the static Pix)."""
    if pix_charges.provider() is None:
        return
    try:
        pix_charges.ensure_charge(invoice, settings=settings)
    except PixError:
        db.session.rollback()
        jobs.enqueue_now("billing.ensure_pix_charge", invoice.id)


def _render_pdf(invoice: Invoice, settings: BillingSettings, actor: Actor) -> None:
    """The new boleto's PDF, right away (the page links to it). If rendering fails the boleto still stands:
    the page says "em preparação" and the invoice job (which renders whatever PDF is missing) tries again."""

    try:
        documents.ensure_invoice_documents(invoice, settings=settings, actor=actor)
    except Exception:  # the 2ª via is issued and audited; only its PDF is late
        current_app.logger.exception("rendering the 2ª via PDF of invoice %s failed; queued again", invoice.id)
        db.session.rollback()
        jobs.enqueue_now("billing.complete_invoice", invoice.id)
