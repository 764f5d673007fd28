"""Billing jobs: the daily billing run, each issued invoice's documents, nota fiscal and e-mail, the daily
delinquency check, the dunning reminders and the bank's file-transfer folder.

`complete_invoice` does whatever is still missing for an invoice, in order (PDFs → nota fiscal →
e-mail), each step idempotent; `sweep_invoices` re-runs it for any invoice left half-way (a crash, a
fiscal issuer that was down), which is what makes a failure midway recoverable. A batch of the billing
run queues one `complete_invoices` message, which fans out to one `complete_invoice` per invoice.
"""

from datetime import date

from flask import current_app
from huey import crontab
from sqlalchemy import and_, exists, or_, select

from portal.billing import bank_transfer, delivery, documents, dunning, fiscal, pack, payments, pix_charges, review
from portal.billing.delivery import has_recipient
from portal.billing.models import (
    MAX_PDF_ATTEMPTS,
    Boleto,
    FiscalDocument,
    FiscalStatus,
    Invoice,
    InvoiceKind,
    InvoiceStatus,
)
from portal.billing.run import billing_days_back, run_billing
from portal.billing.settings import BillingSettings
from portal.extensions import db
from portal.integrations.fiscal import FiscalUnavailable
from portal.integrations.pix import PixError
from portal.jobs import periodic_task, task
from portal.shared import clock
from portal.shared.audit import Actor

SYSTEM = Actor.system("billing")
CATCH_UP_DAYS = 2  # the daily run also invoices the two days before, in case it did not run then


def _settings() -> BillingSettings:
    return BillingSettings.from_config(current_app.config)


@task(retries=3, retry_delay=300)
def complete_invoice(invoice_id: int) -> str:

    invoice = db.session.get(Invoice, invoice_id)
    if invoice is None:
        return "missing"
    settings = _settings()
    if pix_charges.provider() is not None:  # the dynamic Pix first, so that the PDFs and the e-mail carry it
        try:
            pix_charges.ensure_charge(invoice, settings=settings)
        except PixError:  # the PSP is down: the documents say "Pix em preparação"; ensure_pix_charge retries
            db.session.rollback()
    documents.ensure_invoice_documents(invoice, settings=settings, actor=SYSTEM)
    issuer = current_app.extensions["fiscal_issuer"]
    # FiscalUnavailable propagates: the job is retried, with the same DPS / RPS number (taken once per invoice).
    fiscal.ensure_fiscal_document(invoice, issuer=issuer, settings=settings, actor=SYSTEM)
    try:
        fiscal.ensure_fiscal_pdf(invoice, issuer=issuer, settings=settings)
    except FiscalUnavailable:  # the note is kept; the sweep asks for its PDF again
        db.session.rollback()
    delivery.send_invoice(invoice, actor=SYSTEM)
    return "complete"


@task(retries=6, retry_delay=300)
def ensure_pix_charge(invoice_id: int) -> str:
    """The invoice's cobv at the PSP (dynamic Pix). A PSP error or timeout raises, and the job is retried
    (6 × 5 min); between tries the charge stays "pending" with its `last_error`."""
    invoice = db.session.get(Invoice, invoice_id)
    if invoice is None:
        return "missing"
    charge = pix_charges.ensure_charge(invoice, settings=_settings())
    return charge.status if charge is not None else "none"


@periodic_task(crontab(minute="*/10"))
def poll_pix() -> dict[str, int]:
    """Every 10 minutes: the Pix the PSP received in the last 25 hours, recorded if a webhook missed them."""
    outcome = pix_charges.poll(hours=25)
    return {"recorded": outcome.recorded, "duplicate": outcome.duplicate, "unmatched": outcome.unmatched,
            "reversed": outcome.reversed}


@task()
def complete_invoices(invoice_ids: list[int]) -> int:
    """A batch of the billing run: one `complete_invoice` job per invoice, so that every consumer takes
    some of them (PDFs are the slow part: the consumers, not the billing run, are the parallelism).

    Enqueueing is all it does, so it is not retried (a retry would queue some invoices twice): an invoice
    it could not queue is picked up by `sweep_invoices`.
    """
    for invoice_id in invoice_ids:
        complete_invoice(invoice_id)
    return len(invoice_ids)


@periodic_task(crontab(hour="9", minute="0"))
def daily_billing_run() -> int:
    """06:00 in São Paulo (09:00 UTC): invoice today's billing days (and catch up on the two before)."""

    issued = 0
    for day in billing_days_back(clock.today(), CATCH_UP_DAYS):
        issued += len(run_billing(on=day, settings=_settings(), actor=SYSTEM).issued)
    return issued


@periodic_task(crontab(hour="9", minute="30"))
def flag_late_drafts() -> int:
    """06:30 in São Paulo, after the run: with BILLING_REVIEW, drafts still waiting BILLING_REVIEW_LEAD_DAYS before
    their due date are e-mailed to finance (once per draft)."""
    settings = _settings()
    return len(review.flag_late_drafts(today=clock.today(), lead_days=settings.review_lead_days))


@task()
def billing_run_for_day(day_iso: str) -> int:
    """Staff/ops re-run of one billing day (ISO date): what is already issued stays, the rest is issued.

    Safe to queue more than once and on several consumers at once (see `run_billing`). Returns how many
    invoices this run issued; organizations that failed are logged (the next re-run tries them again).
    """
    result = run_billing(on=date.fromisoformat(day_iso), settings=_settings(), actor=SYSTEM)
    for organization_id, error in result.failed:
        current_app.logger.warning("billing %s: organization %s failed: %s", day_iso, organization_id, error)
    return len(result.issued)


@periodic_task(crontab(minute="*/10"))
def sweep_invoices() -> int:
    """Every 10 minutes: regular invoices whose documents, nota fiscal or e-mail are still missing.

    With FISCAL_BACKEND=upload an invoice waits for staff to upload its nota fiscal (the upload queues
    `complete_invoice` itself), so one without it is not picked up here over and over.
    """
    waiting_for_upload = current_app.config["FISCAL_BACKEND"] == "upload"
    issuer = current_app.extensions["fiscal_issuer"]
    # Not e-mailed and someone to e-mail it to (one with nobody is taken up again once the organization has one).
    unsent = and_(Invoice.emailed_at.is_(None), has_recipient(Invoice.organization_id))
    missing = [Invoice.pdf_sha256.is_(None),
               exists().where(Boleto.invoice_id == Invoice.id, Boleto.pdf_sha256.is_(None))]  # e.g. a 2ª via
    if waiting_for_upload:
        missing.append(and_(FiscalDocument.id.is_not(None), unsent))
    else:
        missing += [FiscalDocument.id.is_(None), unsent]
        if issuer.gives_pdf:  # a note without its DANFSe, while fiscal.ensure_fiscal_pdf would still ask for it
            missing.append(and_(FiscalDocument.pdf_sha256.is_(None), FiscalDocument.status == FiscalStatus.ISSUED,
                                FiscalDocument.source == issuer.backend,
                                FiscalDocument.pdf_attempts < MAX_PDF_ATTEMPTS))
    pending = db.session.scalars(
        select(Invoice.id).outerjoin(FiscalDocument, FiscalDocument.invoice_id == Invoice.id)
        .where(Invoice.kind == InvoiceKind.REGULAR, Invoice.status != InvoiceStatus.CANCELLED, or_(*missing))
        .order_by(Invoice.id).limit(500)
    ).all()
    db.session.rollback()  # end this read: each invoice is completed by a job in a session of its own
    for invoice_id in pending:
        try:
            complete_invoice.call_local(invoice_id)
        except Exception:  # one invoice's trouble (a fiscal issuer down) must not stop the others
            current_app.logger.exception("completing invoice %s failed; the next sweep tries again", invoice_id)
            db.session.rollback()
    return len(pending)


@periodic_task(crontab(hour="10", minute="0"))
def daily_delinquency() -> dict[str, int]:
    """07:00 in São Paulo (10:00 UTC): mark organizations "inadimplente", or back in good standing."""
    return payments.refresh_all_delinquency(clock.today(), BillingSettings.from_config(current_app.config), SYSTEM)


@periodic_task(crontab(hour="12", minute="0"))
def send_dunning_reminders() -> int:
    """Every day at 09:00 in São Paulo (12:00 UTC): the reminders of the régua de cobrança (finance's schedule,
    by default at due date −3, +1 and +7 days)."""
    return dunning.send_reminders(today=clock.today())


@periodic_task(crontab(minute="*/15"))
def bank_transfer_folder() -> dict[str, int]:
    """Every 15 minutes, with BANK_TRANSFER_DIR set: import the retornos the bank dropped in the folder, and
    from BANK_TRANSFER_REMESSA_HOUR (São Paulo) on write the day's remessa there when movements are pending
    (once a day: the day's file is then the stored one)."""
    directory = current_app.config.get("BANK_TRANSFER_DIR")
    if not directory:
        return {}
    settings = _settings()
    outcome = bank_transfer.import_folder(directory, settings, SYSTEM)
    written = 0
    if clock.to_business(clock.now()).hour >= int(current_app.config["BANK_TRANSFER_REMESSA_HOUR"]):
        written = int(bank_transfer.write_remessa(directory, settings, SYSTEM) is not None)
    return {"imported": len(outcome.processed), "refused": len(outcome.refused), "waiting": len(outcome.waiting),
            "remessa": written}


@periodic_task(crontab(hour="11", minute="0"))
def send_accountant_packs() -> int:
    """Every day at 08:00 in São Paulo (11:00 UTC): the previous month's pack to each accountant whose day has
    come (once per organization and month, whatever the number of consumers)."""
    return pack.send_due_packs(clock.today(), actor=SYSTEM)
