"""The billing run: who is billed on a day, and THE one way an invoice is issued.

`invoice_batch` issues the invoices of several organizations in one transaction: it locks their rows (in
id order, so consumers never deadlock), skips those already invoiced for the day, reads what it needs for
all of them with a constant number of queries, takes its numbers from the series in one step under the
series' row lock, and writes invoices, lines, credit entries, boletos and audit events with multi-row
inserts. `invoice_organization` (cancel-and-reissue, the demo data, and the fallback below) is the same
path for one organization: it drafts through `draft_invoice` and writes through `_write_batch`, so the
two cannot disagree on what an invoice holds (tests/billing/test_run_batch.py still compares them).

`run_billing` invoices organizations in batches of `BATCH_SIZE` per transaction. If anything in a batch
fails, the batch is rolled back and redone organization by organization through `invoice_organization`, so
one bad organization is reported and the others are issued.

Running the billing twice, or in several consumers at once, issues each invoice once (the row locks, and the
unique index on (organization, billing day) behind them). Numbers are gapless per series and year because
they are taken under the series' row lock in the issuing transaction. Documents (PDF, nota fiscal, e-mail)
come after the commit, in jobs that each do what is missing, so a failure midway is picked up again by the
next sweep.
"""

import gc
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from portal import jobs
from portal.accounts.models import Organization, OrganizationStatus
from portal.billing import boleto as boleto_codes
from portal.billing.boletos import boleto_values
from portal.billing.lines import (
    _BATCH_FACTS,
    Billable,
    Draft,
    LineDraft,
    draft_invoice,
    existing_invoice,
    load_billing_facts,
)
from portal.billing.models import (
    Boleto,
    CreditEntry,
    Invoice,
    InvoiceDraft,
    InvoiceDraftLine,
    InvoiceDraftStatus,
    InvoiceKind,
    InvoiceLine,
    InvoiceStatus,
    LineKind,
)
from portal.billing.numbering import INVOICE_SERIES, take_numbers
from portal.billing.settings import BillingSettings
from portal.extensions import db
from portal.shared import clock, data_versions, periods
from portal.shared.audit import Actor, AuditTag, NewEvent, record, record_many
from portal.webhooks import outbox as webhook_outbox

# Organizations per transaction in `run_billing`: large enough that the per-statement latency no longer
# dominates, small enough that a batch's row locks are held briefly and a failed batch is cheap to redo.
BATCH_SIZE = 200

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- who is billed when

def organizations_due(on: date) -> list[int]:
    candidates = db.session.execute(
        select(Organization.id, Organization.billing_day)
        .where(Organization.status.in_([OrganizationStatus.ACTIVE, OrganizationStatus.RESCINDING,
                                        OrganizationStatus.SUSPENDED]))
        .order_by(Organization.id)
    )
    return [org_id for org_id, day in candidates if periods.is_billing_day(day, on)]


def due_date_for(billing_date: date, settings: BillingSettings) -> date:
    return boleto_codes.next_business_day(billing_date + timedelta(days=settings.due_days))


# ---------------------------------------------------------------- issuing

@dataclass(frozen=True)
class Issued:
    invoice: Invoice | None  # None: nothing to bill
    created: bool  # False when it had been issued already (by an earlier run, or another consumer)


def invoice_organization(organization_id: int, *, on: date, settings: BillingSettings, actor: Actor,
                         replaces: Invoice | None = None) -> Issued:
    """Issue the invoice of one organization for billing day `on`, or find the one already issued. Commits.

    The batch path with one organization (`invoice_batch`): the same lock, draft and rows. With `replaces`
    (cancel-and-reissue) the invoice is issued even though the replaced one exists for that day.
    """
    try:
        outcome = invoice_batch([organization_id], on=on, settings=settings, actor=actor, replaces=replaces)
    except IntegrityError:  # another consumer issued it between our check and our insert
        db.session.rollback()
        return Issued(existing_invoice(organization_id, on), False)
    if organization_id in outcome.issued:
        return Issued(db.session.get(Invoice, outcome.issued[organization_id].id), True)
    if organization_id in outcome.existing:
        return Issued(db.session.get(Invoice, outcome.existing[organization_id]), False)
    return Issued(None, False)  # nothing to bill, or no such organization


def _issued_event_after(invoice: Any, replaces: Invoice | None = None) -> dict[str, Any]:
    """What the INVOICE_ISSUED audit event records of an invoice (an Invoice or an `IssuedInvoice`)."""
    return {"number": invoice.display_number, "billing_date": invoice.billing_date.isoformat(),
            "subtotal_cents": invoice.subtotal_cents, "credit_cents": invoice.credit_applied_cents,
            "total_cents": invoice.total_cents, "due_date": invoice.due_date.isoformat(),
            "replaces": replaces.display_number if replaces is not None else None}


_DOCUMENTS_PENDING = "billing_documents_pending"


def _queue_documents(invoice: Any) -> None:
    """Have the documents of `invoice` (anything with an `id`) made once the transaction commits.

    One job per transaction, not per invoice: `complete_invoice` for a single invoice, `complete_invoices`
    (which fans out to one `complete_invoice` per invoice inside a consumer) for a batch of the run.
    """
    session = db.session()  # the Session itself (the scoped proxy has no get_transaction)
    transaction = session.get_transaction()
    pending = session.info.get(_DOCUMENTS_PENDING)
    if pending is None or pending[0] is not transaction:  # the first invoice of this transaction
        pending = (transaction, [])
        session.info[_DOCUMENTS_PENDING] = pending
        jobs.enqueue_after_commit(session, _enqueue_documents, pending[1])  # the list fills up until the commit
    pending[1].append(invoice.id)


def _enqueue_documents(invoice_ids: list[int]) -> None:
    if current_app.extensions.get("pix_provider") is not None:  # dynamic Pix: each invoice's cobv at the PSP
        for invoice_id in invoice_ids:
            jobs.enqueue_now("billing.ensure_pix_charge", invoice_id)
    if len(invoice_ids) == 1:
        jobs.enqueue_now("billing.complete_invoice", invoice_ids[0])
    elif invoice_ids:
        jobs.enqueue_now("billing.complete_invoices", list(invoice_ids))


@dataclass
class RunResult:
    on: date
    issued: list[int] = field(default_factory=list)  # invoice ids issued by this run
    existing: int = 0  # organizations already invoiced for that day
    nothing_to_bill: int = 0
    failed: list[tuple[int, str]] = field(default_factory=list)  # (organization id, error)
    drafted: list[int] = field(default_factory=list)  # BILLING_REVIEW: draft ids made by this run (nothing issued)

    def add(self, issued: "Issued") -> None:
        if issued.invoice is None:
            self.nothing_to_bill += 1
        elif issued.created:
            self.issued.append(issued.invoice.id)
        else:
            self.existing += 1


def run_billing(*, on: date, settings: BillingSettings, actor: Actor,
                progress: Callable[[int, int], None] | None = None, batch_size: int = BATCH_SIZE) -> RunResult:
    """Invoice every organization whose billing day is `on`. Safe to repeat: what exists is not re-issued.

    `batch_size` organizations per transaction (see the module docstring); 1 issues organization by
    organization through `invoice_organization`, as the run did before batches.
    """
    with _old_objects_out_of_collections():
        if settings.review:  # BILLING_REVIEW: drafts for finance to approve instead of invoices (see below)
            return draft_run(on=on, settings=settings, progress=progress, batch_size=batch_size)
        return _run_batches(on=on, settings=settings, actor=actor, progress=progress, batch_size=batch_size)


@contextmanager
def _old_objects_out_of_collections() -> Iterator[None]:
    """The objects alive when the run starts (the app, its modules, SQLAlchemy's metadata and caches: 320,000 just
    after `create_app`) left out of the garbage collector's full collections until the run ends (`gc.freeze`,
    undone by `gc.unfreeze`, so they are collectable again afterwards). Each full collection otherwise walks all
    of them (0.17 s of CPU for the bare app): 17 full collections took 9.5 s of a 100,000-invoice run on the
    loaded bench machine, 0.25 s with the freeze (bench/README.md). Young garbage is still collected as usual:
    memory stays flat."""
    gc.freeze()  # (no gc.collect() first: in a test process of 1 GB it cost seconds per run, and CI took 2.5×)
    try:
        yield
    finally:
        gc.unfreeze()


def _run_batches(*, on: date, settings: BillingSettings, actor: Actor,
                 progress: Callable[[int, int], None] | None, batch_size: int) -> RunResult:
    result = RunResult(on=on)
    due = organizations_due(on)
    batch_size = max(batch_size, 1)
    for start in range(0, len(due), batch_size):
        batch = due[start:start + batch_size]
        outcomes = None
        if len(batch) > 1:
            try:
                outcomes = invoice_batch(batch, on=on, settings=settings, actor=actor)
            except Exception as exc:  # redone one by one below, which reports the organization at fault
                db.session.rollback()
                log.warning("billing batch of %d organizations (%d…%d) for %s failed (%s: %s); invoicing them "
                            "one by one", len(batch), batch[0], batch[-1], on, type(exc).__name__, exc)
        if outcomes is not None:
            for organization_id in batch:  # in the batch's order, as one by one would report them
                if organization_id in outcomes.issued:
                    result.issued.append(outcomes.issued[organization_id].id)
                elif organization_id in outcomes.existing:
                    result.existing += 1
                else:
                    result.nothing_to_bill += 1
        else:
            for organization_id in batch:
                _invoice_one(organization_id, on=on, settings=settings, actor=actor, result=result)
        if progress is not None:
            for index in range(start + 1, start + len(batch) + 1):
                progress(index, len(due))
    return result


def _invoice_one(organization_id: int, *, on: date, settings: BillingSettings, actor: Actor,
                 result: RunResult) -> None:
    try:
        issued = invoice_organization(organization_id, on=on, settings=settings, actor=actor)
    except Exception as exc:  # one organization's problem must not stop the others; it is reported
        db.session.rollback()
        result.failed.append((organization_id, f"{type(exc).__name__}: {exc}"[:500]))
    else:
        result.add(issued)


@dataclass(slots=True)
class IssuedInvoice:
    """An invoice written by a batch (its columns as inserted; the batch does not load ORM objects)."""

    id: int
    organization_id: int
    series: str
    year: int
    number: int
    billing_date: date
    due_date: date
    subtotal_cents: int
    credit_applied_cents: int
    total_cents: int

    display_number = property(Invoice.display_number.fget)  # the same `2026/000123` as Invoice's


@dataclass
class BatchOutcome:
    issued: dict[int, IssuedInvoice] = field(default_factory=dict)  # organization id → its new invoice
    existing: dict[int, int] = field(default_factory=dict)  # organization id → invoice id issued before
    # every other organization of the batch had nothing to bill (or no longer exists)


def invoice_batch(organization_ids: Sequence[int], *, on: date, settings: BillingSettings,
                  actor: Actor, replaces: Invoice | None = None) -> BatchOutcome:
    """Issue the invoices of several organizations for billing day `on` in one transaction. Commits.

    Raises (the caller rolls the transaction back) on any error, e.g. one organization whose data cannot be
    drafted; `run_billing` then redoes the batch one by one. About 20 statements per batch whatever its size
    (on SQLite, multi-row inserts are split further by its limit on bound parameters).
    """
    session = db.session
    ids = sorted(set(organization_ids))
    # Row locks in id order: two consumers on overlapping batches queue up instead of deadlocking, and a
    # concurrent `invoice_organization` (one row, then the series) cannot close a cycle either.
    locked = session.execute(
        select(Organization.id, Organization.billing_day).where(Organization.id.in_(ids))
        .order_by(Organization.id).with_for_update()
    ).all()
    already = {} if replaces is not None else dict(session.execute(  # a reissue stands beside the replaced one
        select(Invoice.organization_id, Invoice.id).where(
            Invoice.organization_id.in_(ids), Invoice.billing_date == on, Invoice.kind == InvoiceKind.REGULAR,
            Invoice.replaces_id.is_(None))
    ).all())
    to_draft = [row for row in locked if row.id not in already]
    facts = load_billing_facts([row.id for row in to_draft], on)
    token = _BATCH_FACTS.set({(organization_id, on): found for organization_id, found in facts.items()})
    try:
        drafts = [(row, draft_invoice(row, on)) for row in to_draft]
    finally:
        _BATCH_FACTS.reset(token)
    billable = [(row, draft) for row, draft in drafts if draft.lines]
    outcome = BatchOutcome(existing=already)
    if not billable:
        session.rollback()  # nothing written; releases the locks
        return outcome
    issued = _write_batch(billable, on=on, settings=settings, actor=actor, replaces=replaces)
    session.commit()
    outcome.issued = {invoice.organization_id: invoice for invoice in issued}
    return outcome


_INVOICE_COLUMNS = ("organization_id", "kind", "series", "year", "number", "status", "billing_date", "period_start",
                    "period_end", "issued_at", "due_date", "subtotal_cents", "credit_applied_cents", "total_cents",
                    "paid_at", "replaces_id")
_LINE_COLUMNS = ("invoice_id", "position", "kind", "description", "quantity", "unit_price_cents", "amount_cents",
                 "period_start", "period_end", "subscription_id", "change_id", "purchase_order", "cost_centre")
_CREDIT_COLUMNS = ("organization_id", "amount_cents", "description", "invoice_id", "created_at")
_BOLETO_COLUMNS = ("invoice_id", "sequence", "bank", "nosso_numero", "due_date", "amount_cents", "fine_cents",
                   "interest_cents", "barcode", "digitable_line", "pix_payload", "registered", "created_at")


def _write_batch(billable: list[tuple[Billable, Draft]], *, on: date, settings: BillingSettings,
                 actor: Actor, replaces: Invoice | None = None) -> list[IssuedInvoice]:
    """Insert the batch's invoices, lines, credit entries, boletos and audit events (one statement each).

    Rows are tuples of plain values (enum members as their strings): nothing in them for the garbage
    collector to follow, which keeps full collections rare while thousands of them are alive.
    """
    now = clock.now()
    due = due_date_for(on, settings)
    numbers = take_numbers(INVOICE_SERIES, on.year, len(billable))  # in organization order, like one by one
    status_open, status_paid = str(InvoiceStatus.OPEN), str(InvoiceStatus.PAID)
    replaces_id = replaces.id if replaces is not None else None
    invoice_rows = [
        (row.id, str(InvoiceKind.REGULAR), INVOICE_SERIES, on.year, number,
         status_paid if draft.total_cents <= 0 else status_open, on, draft.period[0], draft.period[1], now, due,
         draft.subtotal_cents, draft.credit_cents, draft.total_cents, now if draft.total_cents <= 0 else None,
         replaces_id)
        for (row, draft), number in zip(billable, numbers, strict=True)
    ]
    organization_ids = [row.id for row, _draft in billable]
    invoice_ids = _insert_rows(Invoice.__table__, _INVOICE_COLUMNS, invoice_rows, ids_by="organization_id",
                               organization_ids=organization_ids)
    issued: list[IssuedInvoice] = []
    line_rows, credit_rows, boleto_rows = [], [], []
    credit_kind = str(LineKind.CREDIT)
    for (row, draft), number, invoice_id in zip(billable, numbers, invoice_ids, strict=True):
        credit, total = draft.credit_cents, draft.total_cents
        invoice = IssuedInvoice(invoice_id, row.id, INVOICE_SERIES, on.year, number, on, due, draft.subtotal_cents,
                                credit, total)
        issued.append(invoice)
        for position, line in enumerate(draft.lines, start=1):
            line_rows.append((invoice_id, position, str(line.kind), line.description[:300], line.quantity,
                              line.unit_price_cents, line.amount_cents, line.period_start, line.period_end,
                              line.subscription_id, line.change_id, line.purchase_order, line.cost_centre))
        if credit:
            line_rows.append((invoice_id, len(draft.lines) + 1, credit_kind, "credit", 1, -credit, -credit, None,
                              None, None, None, "", ""))
            credit_rows.append((row.id, -credit, f"invoice {invoice.display_number}", invoice_id, now))
        if total > 0:  # else fully paid by credit (status paid above)
            values = boleto_values(invoice, settings, due=due, amount_cents=total, sequence=1, created_at=now)
            boleto_rows.append(tuple(values[name] for name in _BOLETO_COLUMNS))
    _insert_rows(InvoiceLine.__table__, _LINE_COLUMNS, line_rows, organization_ids=organization_ids)
    _insert_rows(CreditEntry.__table__, _CREDIT_COLUMNS, credit_rows, organization_ids=organization_ids)
    _insert_rows(Boleto.__table__, _BOLETO_COLUMNS, boleto_rows, organization_ids=organization_ids)
    # Last, so the audit chain's head (one lock for every writer in the portal) is held only briefly.
    record_many([NewEvent(AuditTag.INVOICE_ISSUED, organization_id=invoice.organization_id,
                          subject=f"invoice:{invoice.id}", after=_issued_event_after(invoice, replaces))
                 for invoice in issued], actor=actor)
    webhook_outbox.invoices_issued(issued)
    for invoice in issued:
        _queue_documents(invoice)
    return issued


def _insert_rows(table: Any, columns: Sequence[str], rows: list[tuple], *, organization_ids: Sequence[int],
                 ids_by: str | None = None) -> list[int] | None:
    """Insert `rows` (tuples in `columns` order) into `table` in one statement. With `ids_by` (a column
    whose value is different in every row), the new rows' ids, in the order of `rows`.

    PostgreSQL: COPY, several times faster than a multi-row INSERT for thousands of rows (no SQL text to
    build and parse); the ids are drawn from the table's sequence first. The values go through the
    columns' own bind processors, exactly as they would in an INSERT. Other engines: a multi-row INSERT,
    RETURNING the ids with `ids_by` to match them to the rows (SQLite does not promise RETURNING's order).
    """
    if not rows:
        return [] if ids_by else None
    session = db.session
    data_versions.touch(session, organization_ids)  # the organizations whose rows these are (COPY is not seen)
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name != "postgresql":
        values = [dict(zip(columns, row, strict=True)) for row in rows]
        statement = insert(table).execution_options(organization_ids=organization_ids)
        if not ids_by:
            session.execute(statement, values)
            return None
        new_ids = {key: new_id for new_id, key in session.execute(
            statement.returning(table.c.id, table.c[ids_by]), values)}
        return [new_ids[value[ids_by]] for value in values]
    ids = None
    if ids_by:
        ids = sorted(session.scalars(
            select(func.nextval(func.pg_get_serial_sequence(table.name, "id")))
            .select_from(func.generate_series(1, len(rows)))
        ))
        columns = ("id", *columns)
        rows = [(new_id, *row) for new_id, row in zip(ids, rows, strict=True)]
    processors = [(index, process) for index, name in enumerate(columns)
                  if (process := table.c[name].type.bind_processor(dialect)) is not None]
    if processors:  # only the columns that have one (most have none: a call per value was a tenth of the run)
        converted = []
        for row in rows:
            row = list(row)
            for index, process in processors:
                row[index] = process(row[index])
            converted.append(row)
        rows = converted
    names = ", ".join(dialect.identifier_preparer.quote(name) for name in columns)
    statement = f"COPY {dialect.identifier_preparer.format_table(table)} ({names}) FROM STDIN"
    with connection.connection.driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)
    return ids


def billing_days_back(today: date, days: int) -> Iterator[date]:
    """Today and the days before it, oldest first (the daily job catches up on days it missed)."""
    for back in range(days, -1, -1):
        yield today - timedelta(days=back)


# ---------------------------------------------------------------- review before issuing (issue 16 point 8)
#
# With BILLING_REVIEW the run writes drafts (billing/models.py InvoiceDraft) with what `draft_invoice` finds, and
# nothing else: no number, boleto, Pix, nota fiscal or e-mail. `approve_draft` issues a draft through
# `_write_batch`, the same rows and queued documents as the run without review; the number is taken then, so the
# series stays gapless. Finance's corrections of a draft live in billing/review.py.

def draft_run(*, on: date, settings: BillingSettings, progress: Callable[[int, int], None] | None = None,
              batch_size: int = BATCH_SIZE) -> RunResult:
    """`run_billing` with review: a draft per organization with something to bill on `on` (none twice)."""
    result = RunResult(on=on)
    due = organizations_due(on)
    batch_size = max(batch_size, 1)
    for start in range(0, len(due), batch_size):
        batch = due[start:start + batch_size]
        try:
            drafted, existing = draft_batch(batch, on=on, settings=settings)
        except Exception as exc:  # redone one by one, which reports the organization at fault
            db.session.rollback()
            log.warning("billing drafts of %d organizations for %s failed (%s: %s); drafting them one by one",
                        len(batch), on, type(exc).__name__, exc)
            drafted, existing = {}, set()
            for organization_id in batch:
                try:
                    one_drafted, one_existing = draft_batch([organization_id], on=on, settings=settings)
                except IntegrityError:  # another consumer drafted it between our check and our insert
                    db.session.rollback()
                    existing.add(organization_id)
                except Exception as error:  # one organization's problem must not stop the others
                    db.session.rollback()
                    result.failed.append((organization_id, f"{type(error).__name__}: {error}"[:500]))
                else:
                    drafted.update(one_drafted)
                    existing |= one_existing
        for organization_id in batch:
            if organization_id in drafted:
                result.drafted.append(drafted[organization_id])
            elif organization_id in existing:
                result.existing += 1
            elif all(organization_id != failed for failed, _error in result.failed):
                result.nothing_to_bill += 1
        if progress is not None:
            for index in range(start + 1, start + len(batch) + 1):
                progress(index, len(due))
    return result


def draft_batch(organization_ids: Sequence[int], *, on: date,
                settings: BillingSettings) -> tuple[dict[int, int], set[int]]:
    """Draft the invoices of several organizations for billing day `on` in one transaction. Commits.

    → (organization id → new draft id, organizations already invoiced or drafted for `on`). The same locks and
    `draft_invoice` as `invoice_batch`; the unique (organization, billing day) of drafts backs the check up.
    """
    session = db.session
    ids = sorted(set(organization_ids))
    locked = session.execute(
        select(Organization.id, Organization.billing_day).where(Organization.id.in_(ids))
        .order_by(Organization.id).with_for_update()
    ).all()
    existing = set(session.scalars(select(Invoice.organization_id).where(
        Invoice.organization_id.in_(ids), Invoice.billing_date == on, Invoice.kind == InvoiceKind.REGULAR,
        Invoice.replaces_id.is_(None))))
    existing |= set(session.scalars(select(InvoiceDraft.organization_id).where(
        InvoiceDraft.organization_id.in_(ids), InvoiceDraft.billing_date == on)))
    to_draft = [row for row in locked if row.id not in existing]
    facts = load_billing_facts([row.id for row in to_draft], on)
    token = _BATCH_FACTS.set({(organization_id, on): found for organization_id, found in facts.items()})
    try:
        drafts = [(row, draft_invoice(row, on)) for row in to_draft]
    finally:
        _BATCH_FACTS.reset(token)
    # A change already on a pending draft (of an earlier day, not approved yet) is not drafted again: approving both
    # would charge it twice. Once that draft is approved the change is invoiced, which `draft_invoice` knows.
    pending_changes = set(session.scalars(
        select(InvoiceDraftLine.change_id).join(InvoiceDraft, InvoiceDraft.id == InvoiceDraftLine.draft_id)
        .where(InvoiceDraft.organization_id.in_(ids), InvoiceDraft.status == InvoiceDraftStatus.PENDING,
               InvoiceDraftLine.change_id.is_not(None))))
    due = due_date_for(on, settings)
    made = []
    for row, draft in drafts:
        draft.lines = [line for line in draft.lines if line.change_id is None or line.change_id not in pending_changes]
        if not draft.lines:
            continue
        made.append(InvoiceDraft(
            organization_id=row.id, status=InvoiceDraftStatus.PENDING, billing_date=on, period_start=draft.period[0],
            period_end=draft.period[1], due_date=due, credit_available_cents=max(draft.credit_available_cents, 0),
            lines=[InvoiceDraftLine(position=position, kind=str(line.kind), description=line.description[:300],
                                    quantity=line.quantity, unit_price_cents=line.unit_price_cents,
                                    amount_cents=line.amount_cents, period_start=line.period_start,
                                    period_end=line.period_end, subscription_id=line.subscription_id,
                                    change_id=line.change_id, purchase_order=line.purchase_order,
                                    cost_centre=line.cost_centre)
                   for position, line in enumerate(draft.lines, start=1)]))
    if not made:
        session.rollback()  # nothing written; releases the locks
        return {}, existing
    session.add_all(made)
    session.flush()
    drafted = {draft.organization_id: draft.id for draft in made}
    session.commit()
    return drafted, existing


class DayAlreadyInvoiced(Exception):
    """The draft's organization already has its invoice of that billing day (issued while review was off)."""


@dataclass(frozen=True)
class Approved:
    invoice_id: int
    created: bool  # False: the draft had been approved already (a double click, two staff at once)


def approve_draft(draft_id: int, *, settings: BillingSettings, actor: Actor) -> Approved | None:
    """Issue the invoice of a pending draft, exactly as the run without review would have (number, lines, credit,
    boleto, audit, and the Pix and documents queued after the commit). Commits. Idempotent: a draft approved
    already (by an earlier call, or another session at the same moment) gives its invoice and issues nothing.
    None when there is no such draft.

    The organization's row lock (taken first, as the run takes it) serializes approvals of a draft; the invoice's
    unique (organization, billing day) backs it up."""
    session = db.session
    organization_id = session.scalar(select(InvoiceDraft.organization_id).where(InvoiceDraft.id == draft_id))
    if organization_id is None:
        session.rollback()
        return None
    row = session.execute(select(Organization.id, Organization.billing_day)
                          .where(Organization.id == organization_id).with_for_update()).one()
    draft = session.scalar(select(InvoiceDraft).where(InvoiceDraft.id == draft_id).with_for_update()
                           .execution_options(populate_existing=True))
    if draft.status == InvoiceDraftStatus.APPROVED:
        invoice_id = draft.invoice_id
        session.rollback()
        return Approved(invoice_id, False)
    if existing_invoice(organization_id, draft.billing_date) is not None:  # issued without review meanwhile
        session.rollback()
        raise DayAlreadyInvoiced(organization_id, draft.billing_date)
    balance = int(session.scalar(select(func.coalesce(func.sum(CreditEntry.amount_cents), 0))
                                 .where(CreditEntry.organization_id == organization_id)))
    built = Draft(billing_date=draft.billing_date, period=(draft.period_start, draft.period_end),
                  lines=[LineDraft(LineKind(line.kind), line.description, line.quantity, line.unit_price_cents,
                                   line.amount_cents, line.period_start, line.period_end, line.subscription_id,
                                   line.change_id, line.purchase_order, line.cost_centre) for line in draft.lines],
                  credit_available_cents=min(draft.credit_available_cents, max(balance, 0)))
    [issued] = _write_batch([(row, built)], on=draft.billing_date, settings=settings, actor=actor)
    draft.status = InvoiceDraftStatus.APPROVED
    draft.invoice_id = issued.id
    draft.approved_at = clock.now()
    draft.approved_by_id = actor.user_id
    record(AuditTag.INVOICE_DRAFT_APPROVED, actor=actor, organization_id=organization_id,
           subject=f"invoice:{issued.id}", after={"draft_id": draft.id, "number": issued.display_number,
                                                  "total_cents": issued.total_cents})
    session.commit()
    return Approved(issued.id, True)

