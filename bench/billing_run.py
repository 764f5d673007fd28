"""Benchmark of the billing run: invoices per second and peak memory for N organizations × M subscriptions.

    .venv/bin/python bench/billing_run.py [--orgs 10000] [--subs 5] [--batch-size 200] [--pdfs 20 [--consumers 2]]
                                          [--trace-memory] [--database-url postgresql+psycopg://…]

Without --database-url (or BENCH_DATABASE_URL) a throwaway PostgreSQL cluster is started (as in the tests).
The dataset is bulk-inserted, then one `run_billing` for the shared billing day is timed (`--batch-size 1`:
organization by organization, the run before batches). Invoice documents are only queued (to a Huey SQLite
file), as in production where consumers render them; `--pdfs N` then renders N of the invoices' documents
(`documents.ensure_invoice_documents`, what each `complete_invoice` job does first) one after the other in
this process and reports the median time per invoice. The run is timed without tracemalloc (it slows Python
several times over); `--trace-memory` turns it on to report the run's Python allocation peak. Results go to
bench/README.md by hand, with the date and the machine.

`--pdfs N --consumers K` measures the real thing instead of rendering in this process: a throwaway
redis-server on loopback (tests/fakes/externals.py), K `huey_consumer portal.jobs.registry.huey` processes
on it (bench/consumers.py: one worker thread each, so the log says which consumer ran which job; all with
`-n`, so no scheduler queues `sweep_invoices` onto the invoices left unrendered), with the bench's database,
MAIL_BACKEND=memory and FISCAL_BACKEND=simulator. Each organization first gets one billing contact, so
every invoice is e-mailed. Before the clock starts every consumer has run a warm-up `complete_invoice` of
an invoice outside the N (its first job creates the app and pays WeasyPrint's first render). Then the N
invoices' `complete_invoice` jobs are queued at once (PDFs, NFS-e simulator, e-mail queued as a
`send_email` job, sent to the memory mailer by a consumer too) and the database is polled every 50 ms: the
wall time until the last invoice has its documents (invoice PDF and boleto PDF, as `sweep_invoices` checks)
and until every invoice is complete (nota fiscal, e-mail sent), invoices/s, and the median job time Huey
logs for each job ("… executed in 0.123s").
"""

import argparse
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PORTAL_ENV", "test")
_SCRATCH = tempfile.TemporaryDirectory(prefix="bench-billing-")  # the job queue and the instance; removed at exit
os.environ["JOBS_URL"] = f"sqlite:///{_SCRATCH.name}/jobs.db"
os.environ.setdefault("PORTAL_INSTANCE_DIR", f"{_SCRATCH.name}/instance")

from databases import throwaway_database  # noqa: E402 - bench/databases.py, beside this file

BILLING_DAY = date(2026, 4, 1)


def _dataset(orgs: int, subs: int) -> None:
    from sqlalchemy import insert

    from portal.accounts.models import Organization
    from portal.catalog.models import Product, ProductFamily, ProductPrice
    from portal.extensions import db
    from portal.subscriptions.models import Lot, QuantityChange, Subscription
    from tests.factories import valid_cnpj

    family = ProductFamily(name="Bench")
    db.session.add(family)
    products = []
    for n in range(subs):
        product = Product(sku=f"BENCH-{n}", name=f"Produto {n}", family=family, provider="microsoft_csp",
                          offer_id=f"P{n}:0001:A{n}", term="annual", billing_frequency="monthly",
                          decrease_window_hours=168, min_quantity=1, max_quantity=1000)
        product.prices = [ProductPrice(unit_price_cents=3600 + 1000 * n, effective_from=date(2025, 1, 1))]
        db.session.add(product)
        products.append(product)
    db.session.commit()
    bought = datetime(2026, 1, 5, 12, tzinfo=UTC)
    batch = 1000
    for first in range(0, orgs, batch):
        count = min(batch, orgs - first)
        org_ids = db.session.execute(insert(Organization).returning(Organization.id), [
            {"legal_name": f"Cliente {first + i} Ltda", "trade_name": f"Cliente {first + i}",
             "cnpj": valid_cnpj(20_000_000 + first + i), "street": "Rua A", "number": "1", "complement": "",
             "district": "Centro", "city": "São Paulo", "state": "SP", "postal_code": "01000000",
             "billing_day": 1, "status": "active", "require_2fa": False, "created_at": bought}
            for i in range(count)
        ]).scalars().all()
        sub_rows = [{"organization_id": org_id, "product_id": product.id, "quantity": 10, "status": "active",
                     "term_start": date(2026, 1, 5), "term_end": date(2027, 1, 5),
                     "provider_subscription_id": str(uuid.uuid4()), "created_at": bought, "version": 1}
                    for org_id in org_ids for product in products]
        sub_ids = db.session.execute(insert(Subscription).returning(Subscription.id), sub_rows).scalars().all()
        changes = db.session.execute(insert(QuantityChange).returning(QuantityChange.id), [
            {"subscription_id": sub_id, "organization_id": row["organization_id"], "kind": "initial", "delta": 10,
             "quantity_after": 10, "effective_on": date(2026, 1, 5), "charge_cents": 0, "credit_cents": 0,
             "created_at": bought}
            for sub_id, row in zip(sub_ids, sub_rows, strict=True)
        ]).scalars().all()
        prices = {p.id: p.prices[0].unit_price_cents for p in products}
        db.session.execute(insert(Lot), [
            {"subscription_id": sub_id, "change_id": change_id, "quantity": 10,
             "unit_price_cents": prices[row["product_id"]], "added_at": bought,
             "window_end": bought + timedelta(hours=168), "billed_cents": 10 * prices[row["product_id"]]}
            for sub_id, change_id, row in zip(sub_ids, changes, sub_rows, strict=True)
        ])
        db.session.commit()
        print(f"  dataset: {first + count}/{orgs} organizations", end="\r", flush=True)
    print()


def _pdfs(invoice_ids: list[int], settings) -> None:
    """Render the documents (invoice PDF and boleto PDF) of each invoice, one at a time; the median time."""
    from portal.billing import documents
    from portal.billing.models import Invoice
    from portal.extensions import db
    from portal.shared.audit import Actor

    actor = Actor.system("bench")
    times = []
    for invoice_id in invoice_ids:
        invoice = db.session.get(Invoice, invoice_id)
        started = time.perf_counter()
        documents.ensure_invoice_documents(invoice, settings=settings, actor=actor)
        times.append(time.perf_counter() - started)
    if times:
        first, rest = times[0], times[1:] or times
        print(f"documents: {len(times)} invoices rendered (invoice PDF + boleto PDF) one after the other; "
              f"median {statistics.median(rest) * 1000:.0f} ms per invoice (first, with WeasyPrint's warm-up: "
              f"{first * 1000:.0f} ms; p90 {sorted(rest)[int(0.9 * (len(rest) - 1))] * 1000:.0f} ms) → "
              f"{1 / statistics.median(rest):.1f} invoices/s per consumer process")


COMPLETE_INVOICE = "portal.billing.jobs.complete_invoice"
SEND_EMAIL = "portal.notifications.jobs.send_email"
WARM_UP_ROUNDS = 5


def _billing_contacts(invoice_ids: list[int]) -> None:
    """One billing contact for each invoice's organization (the dataset has no users): one e-mail per invoice."""
    from sqlalchemy import insert, select

    from portal.billing.models import BillingContact, Invoice
    from portal.extensions import db

    org_ids = db.session.scalars(select(Invoice.organization_id).where(Invoice.id.in_(invoice_ids))).all()
    db.session.execute(insert(BillingContact), [
        {"organization_id": org_id, "email": f"financeiro@cliente-{org_id}.example.com", "name": "Financeiro"}
        for org_id in org_ids
    ])
    db.session.commit()


def _progress(invoice_ids: list[int]) -> tuple[int, int]:
    """How many of the invoices have their documents (invoice PDF, every boleto's PDF), and how many are
    complete besides (nota fiscal issued, e-mailed, and the e-mail sent)."""
    from sqlalchemy import exists, func, select

    from portal.billing.models import Boleto, FiscalDocument, Invoice
    from portal.extensions import db
    from portal.notifications.models import DeliveryStatus, EmailDelivery

    with_documents = select(func.count(Invoice.id)).where(
        Invoice.id.in_(invoice_ids), Invoice.pdf_sha256.is_not(None),
        ~exists().where(Boleto.invoice_id == Invoice.id, Boleto.pdf_sha256.is_(None)))
    complete = with_documents.where(
        exists().where(FiscalDocument.invoice_id == Invoice.id), Invoice.emailed_at.is_not(None),
        ~exists().where(EmailDelivery.organization_id == Invoice.organization_id,
                        EmailDelivery.status != DeliveryStatus.SENT))
    counts = db.session.scalar(with_documents), db.session.scalar(complete)
    db.session.rollback()  # no transaction left open between polls
    return counts


def _wait_complete(invoice_ids: list[int], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _progress(invoice_ids)[1] < len(invoice_ids):
        if time.monotonic() > deadline:
            raise RuntimeError(f"invoices {invoice_ids} not complete after {timeout:.0f} s")
        time.sleep(0.05)


def _ms(seconds: list[float]) -> str:
    ordered = sorted(seconds)
    p90 = ordered[int(0.9 * (len(ordered) - 1))]
    return f"median {statistics.median(ordered) * 1000:.0f} ms (p90 {p90 * 1000:.0f} ms, max {ordered[-1] * 1000:.0f} ms)"


def _queue(invoice_ids: list[int], spare_ids: list[int], count: int, database_url: str) -> None:
    """The invoices' `complete_invoice` jobs queued to a throwaway Redis and run by `count` real consumers."""
    from bench.consumers import Consumers
    from portal.billing.jobs import complete_invoice
    from portal.jobs import huey, make_huey
    from tests.fakes.externals import RedisServer

    redis = RedisServer()
    redis.url = None  # always a throwaway server on loopback, never a shared REDIS_URL
    logs = Path(tempfile.mkdtemp(prefix="bench-consumers-"))
    consumers = None
    failed = True
    try:
        jobs_url = redis.ensure()
        consumers = Consumers(count, {**os.environ, "PORTAL_ENV": "test", "DATABASE_URL": database_url,
                                      "JOBS_URL": jobs_url, "MAIL_BACKEND": "memory", "FISCAL_BACKEND": "simulator",
                                      "PORTAL_INSTANCE_DIR": os.environ["PORTAL_INSTANCE_DIR"]}, logs)
        consumers.start()  # they import the portal while the contacts are inserted
        _billing_contacts(invoice_ids + spare_ids)
        queue = make_huey(jobs_url)

        def enqueue(ids: list[int]) -> dict[str, int]:
            """Each invoice's job, serialized as the portal's Huey does, pushed onto the Redis queue."""
            tasks = {}
            for invoice_id in ids:
                task = complete_invoice.s(invoice_id)
                queue.storage.enqueue(huey.serialize_task(task), task.priority)
                tasks[task.id] = invoice_id
            return tasks

        consumers.wait_until_running()
        for _ in range(WARM_UP_ROUNDS):  # until each consumer has run a complete_invoice of its own
            batch, spare_ids = spare_ids[:count], spare_ids[count:]
            if not batch or not consumers.wait_for_jobs(set(enqueue(batch)), timeout=120):
                raise RuntimeError("not enough spare invoices, or a warm-up job did not finish")
            _wait_complete(batch, timeout=60)  # its send_email job too
            if all(any(name == COMPLETE_INVOICE for name, _, _ in jobs) for jobs in consumers.executed()):
                break
        else:
            raise RuntimeError(f"a consumer got no warm-up job in {WARM_UP_ROUNDS} rounds")
        cold = [next(s for name, _, s in jobs if name == COMPLETE_INVOICE) for jobs in consumers.executed()]

        since = consumers.offsets()
        load_before = os.getloadavg()
        started = time.perf_counter()
        tasks = enqueue(invoice_ids)
        enqueued = time.perf_counter() - started
        documents_at = None
        deadline = started + 60 + 5 * len(invoice_ids) / count
        while True:
            with_documents, complete = _progress(invoice_ids)
            now = time.perf_counter() - started
            if documents_at is None and with_documents == len(invoice_ids):
                documents_at = now
            if complete == len(invoice_ids):
                complete_at = now
                break
            if time.perf_counter() > deadline:
                raise RuntimeError(f"after {now:.0f} s: {with_documents} invoices with documents, {complete} complete")
            time.sleep(0.05)
        load_after = os.getloadavg()
        consumers.wait_for_jobs(set(tasks), timeout=10)  # the last "executed" lines may trail the commit
        done = consumers.executed(since)
        jobs = [[s for name, task_id, s in found if task_id in tasks] for found in done]
        sends = [s for found in done for name, _, s in found if name == SEND_EMAIL]
        times = [s for found in jobs for s in found]
        n = len(invoice_ids)
        print(f"consumers: {count} × `huey_consumer {' '.join(consumers.command()[1:])}` on Redis {jobs_url} "
              f"(per invoice: PDFs + NFS-e simulator + e-mail to a memory mailer, sent by its own send_email job); "
              f"warm-up job per consumer (cold: app created, WeasyPrint's first render): "
              f"{', '.join(f'{s:.2f} s' for s in cold)}")
        print(f"queue: {n} complete_invoice jobs enqueued in {enqueued * 1000:.0f} ms → documents of all {n} "
              f"after {documents_at:.2f} s ({n / documents_at:.2f} invoices/s); every invoice complete (nota fiscal, "
              f"e-mail sent) after {complete_at:.2f} s ({n / complete_at:.2f} invoices/s)")
        print(f"jobs: complete_invoice {_ms(times)} per invoice, run {' + '.join(str(len(j)) for j in jobs)} by the "
              f"{count} consumer(s) ({len(times)} logged); send_email {_ms(sends) if sends else 'none logged'}; "
              f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after (1 min)")
        failed = False
    finally:
        if consumers is not None:
            consumers.stop()
            for problem in consumers.problems():
                print(f"consumers: {problem}")
                failed = True
        redis.stop()
        if failed:
            print(f"consumers' logs kept in {logs}")
        else:
            shutil.rmtree(logs, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=10_000)
    parser.add_argument("--subs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=None,
                        help="organizations per transaction (default: the service's BATCH_SIZE; 1 = one by one)")
    parser.add_argument("--pdfs", type=int, default=0, help="then render N invoices' documents; report the median")
    parser.add_argument("--consumers", type=int, default=0,
                        help="with --pdfs N: queue the N invoices' complete_invoice jobs to Redis, run by K "
                             "huey_consumer processes; report wall time, invoices/s and the median job time")
    parser.add_argument("--trace-memory", action="store_true",
                        help="trace Python allocations during the run (tracemalloc: the run is several times "
                             "slower, so the rate of such a run is not comparable)")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    args = parser.parse_args()
    if args.consumers and not args.pdfs:
        parser.error("--consumers K needs --pdfs N (how many invoices the consumers complete)")
    if args.consumers and not shutil.which("redis-server"):
        parser.error("--consumers needs redis-server (apt-get install redis-server)")

    with throwaway_database(args.database_url) as url:
        from sqlalchemy import func, select

        from portal.app import create_app
        from portal.billing import boleto as boleto_codes
        from portal.billing.models import Invoice
        from portal.billing.run import BATCH_SIZE, run_billing
        from portal.billing.settings import BillingSettings
        from portal.extensions import db
        from portal.migrate import upgrade
        from portal.shared import clock
        from portal.shared.audit import Actor

        app = create_app({"PORTAL_ENV": "test", "SQLALCHEMY_DATABASE_URI": url, "JOBS_URL": os.environ["JOBS_URL"]})
        with app.app_context():
            upgrade(app)
            started = time.perf_counter()
            _dataset(args.orgs, args.subs)
            print(f"dataset: {args.orgs} organizations × {args.subs} subscriptions in "
                  f"{time.perf_counter() - started:.1f} s")
            settings = BillingSettings.from_config(app.config)
            batch_size = args.batch_size or BATCH_SIZE
            boleto_codes.next_business_day(BILLING_DAY)  # loads the holidays package once, as a consumer has
            rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            if args.trace_memory:
                tracemalloc.start()
            with clock.frozen(datetime(2026, 4, 1, 9, tzinfo=UTC)):
                started = time.perf_counter()
                result = run_billing(on=BILLING_DAY, settings=settings, actor=Actor.system("bench"),
                                     batch_size=batch_size)
                elapsed = time.perf_counter() - started
            traced_peak = tracemalloc.get_traced_memory()[1] if args.trace_memory else None
            tracemalloc.stop()
            issued = db.session.scalar(select(func.count(Invoice.id)))
            rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"billing run (batches of {batch_size}): {len(result.issued)} invoices issued ({issued} in the "
                  f"table), {len(result.failed)} failed, in {elapsed:.1f} s → "
                  f"{len(result.issued) / elapsed:.1f} invoices/s")
            traced = (f"Python allocations peak {traced_peak / 2**20:.1f} MiB during the run (tracemalloc on); "
                      if traced_peak is not None else "")
            print(f"memory: {traced}process peak RSS {rss_mb:.0f} MiB ({rss_before:.0f} MiB before the run)")
            if args.consumers:
                measured, spare = result.issued[:args.pdfs], result.issued[args.pdfs:]
                _queue(measured, spare, args.consumers, url)
            elif args.pdfs:
                _pdfs(result.issued[:args.pdfs], settings)
            db.engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
