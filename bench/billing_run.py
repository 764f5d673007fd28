"""Benchmark of the billing run: invoices per second and peak memory for N organizations × M subscriptions.

    .venv/bin/python bench/billing_run.py [--orgs 10000] [--subs 5] [--batch-size 200] [--pdfs 20 [--consumers 2]]
                                          [--previous-month] [--statements] [--no-vacuum] [--trace-memory]
                                          [--database-url postgresql+psycopg://…]

Without --database-url (or BENCH_DATABASE_URL) a throwaway PostgreSQL cluster is started (as in the tests).
The dataset is bulk-inserted, then one `run_billing` for the shared billing day is timed (`--batch-size 1`:
organization by organization, the run before batches). Invoice documents are only queued (to a Huey SQLite
file), as in production where consumers render them; `--pdfs N` then renders N of the invoices' documents
(`documents.ensure_invoice_documents`, what each `complete_invoice` job does first) one after the other in
this process and reports the median time per invoice. The run is timed without tracemalloc (it slows Python
several times over); `--trace-memory` turns it on to report the run's Python allocation peak. Results go to
bench/README.md by hand, with the date and the machine.

Besides the wall time (which swings with the machine's load) the run reports the CPU it cost: this process's
(`time.process_time`) and the PostgreSQL cluster's (its postmaster and every child process, the ones that
exited included, from /proc), per invoice; and the garbage collector's pauses by generation. `--statements`
times every SQL statement, in total and per tenth of the run. `--previous-month` first bills the month before
(untimed, but reported per tenth: that run starts with empty invoice tables and just-COPYed, unanalyzed
dataset tables), then `VACUUM (ANALYZE)`s, so the timed run starts as a real month-end does: last month's
invoices, lines, boletos and audit events in the tables, and statistics that know them.

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
import contextlib
import gc
import os
import resource
import shutil
import statistics
import sys
import tempfile
import threading
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
    from portal.accounts.models import Organization
    from portal.billing.run import _insert_rows
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
    prices = {p.id: p.prices[0].unit_price_cents for p in products}
    tables = {model: model.__table__ for model in (Organization, Subscription, QuantityChange, Lot)}
    batch = 2000  # organizations per transaction: one COPY per table (PostgreSQL), a batch's rows alive at once
    for first in range(0, orgs, batch):
        count = min(batch, orgs - first)
        org_columns = ("legal_name", "trade_name", "cnpj", "street", "number", "complement", "district", "city",
                       "state", "postal_code", "billing_day", "status", "require_2fa", "created_at")
        org_ids = _insert_rows(tables[Organization], org_columns, [
            (f"Cliente {first + i} Ltda", f"Cliente {first + i}", valid_cnpj(20_000_000 + first + i), "Rua A", "1",
             "", "Centro", "São Paulo", "SP", "01000000", 1, "active", False, bought)
            for i in range(count)], organization_ids=[], ids_by="cnpj")
        pairs = [(org_id, product.id) for org_id in org_ids for product in products]
        sub_ids = _insert_rows(tables[Subscription], (
            "organization_id", "product_id", "quantity", "status", "term_start", "term_end",
            "provider_subscription_id", "created_at", "version"), [
            (org_id, product_id, 10, "active", date(2026, 1, 5), date(2027, 1, 5), str(uuid.uuid4()), bought, 1)
            for org_id, product_id in pairs], organization_ids=org_ids, ids_by="provider_subscription_id")
        change_ids = _insert_rows(tables[QuantityChange], (
            "subscription_id", "organization_id", "kind", "delta", "quantity_after", "effective_on", "charge_cents",
            "credit_cents", "created_at"), [
            (sub_id, org_id, "initial", 10, 10, date(2026, 1, 5), 0, 0, bought)
            for sub_id, (org_id, _) in zip(sub_ids, pairs, strict=True)], organization_ids=org_ids,
            ids_by="subscription_id")
        _insert_rows(tables[Lot], (
            "subscription_id", "change_id", "quantity", "unit_price_cents", "added_at", "window_end", "billed_cents"), [
            (sub_id, change_id, 10, prices[product_id], bought, bought + timedelta(hours=168), 10 * prices[product_id])
            for sub_id, change_id, (_, product_id) in zip(sub_ids, change_ids, pairs, strict=True)],
            organization_ids=org_ids)
        db.session.commit()
        print(f"  dataset: {first + count}/{orgs} organizations", end="\r", flush=True)
    print()


class RssSampler:
    """The process's resident set size (VmRSS, /proc/self/status) sampled every `interval` seconds by a thread
    during the run: flat memory is no growth from the first tenth of the run to the last (the batches are
    alike, so time stands for the number of batches done)."""

    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        self.samples: list[tuple[float, float]] = []  # (seconds since start, MiB)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def rss_mib() -> float:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def _run(self) -> None:
        started = time.perf_counter()
        while not self._stop.is_set():
            self.samples.append((time.perf_counter() - started, self.rss_mib()))
            self._stop.wait(self.interval)

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append((self.samples[-1][0] + self.interval if self.samples else 0.0, self.rss_mib()))

    def summary(self) -> str:
        """RSS at each tenth of the run, and the growth from the first tenth's end to the last's."""
        if not self.samples:
            return "no samples"
        total = self.samples[-1][0] or 1.0
        marks = []
        for tenth in range(1, 11):
            at = min(self.samples, key=lambda sample: abs(sample[0] - total * tenth / 10))
            marks.append(at[1])
        return (f"RSS sampled every {self.interval:g} s ({len(self.samples)} samples): at each tenth of the run "
                f"{', '.join(f'{mib:.0f}' for mib in marks)} MiB; min {min(m for _, m in self.samples):.0f}, "
                f"max {max(m for _, m in self.samples):.0f} MiB; growth from the first tenth to the end "
                f"{marks[-1] - marks[0]:+.0f} MiB")


class StatementTimes:
    """Wall time per SQL statement (its first 110 characters), from SQLAlchemy's cursor events: which
    statements a run's time goes to, and whether one grows with the tables."""

    def __init__(self, engine) -> None:
        from sqlalchemy import event

        self.engine, self.event = engine, event
        self.totals: dict[str, list[float]] = {}
        self.marks: list[dict[str, tuple[int, float]]] = []

    def _before(self, conn, cursor, statement, parameters, context, executemany) -> None:
        conn.info.setdefault("bench_started", []).append(time.perf_counter())

    def _after(self, conn, cursor, statement, parameters, context, executemany) -> None:
        took = time.perf_counter() - conn.info["bench_started"].pop()
        entry = self.totals.setdefault(" ".join(statement.split())[:110], [0, 0.0])
        entry[0] += 1
        entry[1] += took

    def __enter__(self) -> "StatementTimes":
        from portal.billing import run

        self.event.listen(self.engine, "before_cursor_execute", self._before)
        self.event.listen(self.engine, "after_cursor_execute", self._after)
        # The batch writer's COPYs bypass the cursor events: timed around `_insert_rows` (which includes its
        # `nextval` SELECT, also counted as a statement: ~2 ms of a batch counted twice).
        self._run, self._insert_rows = run, run._insert_rows

        def timed(table, *args, **kwargs):
            started = time.perf_counter()
            try:
                return self._insert_rows(table, *args, **kwargs)
            finally:
                entry = self.totals.setdefault(f"COPY {table.name} (run._insert_rows)", [0, 0.0])
                entry[0] += 1
                entry[1] += time.perf_counter() - started

        run._insert_rows = timed
        return self

    def __exit__(self, *exc) -> None:
        self.event.remove(self.engine, "before_cursor_execute", self._before)
        self.event.remove(self.engine, "after_cursor_execute", self._after)
        self._run._insert_rows = self._insert_rows

    def mark(self) -> None:
        """The end of a tenth of the run: its statements' times are the totals since the previous mark."""
        self.marks.append({text: tuple(entry) for text, entry in self.totals.items()})

    def tenths(self, top: int = 4) -> str:
        """Per tenth: all SQL's wall time (COPYs included), and the statements that took the most of it."""
        lines, previous = [], {}
        for n, snapshot in enumerate(self.marks, start=1):
            spent = {text: (count - previous.get(text, (0, 0.0))[0], total - previous.get(text, (0, 0.0))[1])
                     for text, (count, total) in snapshot.items()}
            costliest = sorted(spent.items(), key=lambda item: -item[1][1])[:top]
            lines.append(f"  tenth {n}: SQL and COPY {sum(total for _, total in spent.values()):6.2f} s; " + "; ".join(
                f"{total:5.2f} s ({total / count * 1000 if count else 0:.1f} ms × {count}) {text[:48]}"
                for text, (count, total) in costliest))
            previous = snapshot
        return "\n".join(lines)

    def report(self, top: int = 12) -> str:
        rows = sorted(self.totals.items(), key=lambda item: -item[1][1])[:top]
        return "\n".join(f"  {total:7.2f} s {count:7d}× {total / count * 1000:8.2f} ms  {text}"
                         for text, (count, total) in rows)


class CpuTimes:
    """CPU seconds spent by this process and by the PostgreSQL cluster the bench runs on, between `__enter__`
    and `__exit__`: a rate that can be read independently of the machine's load (what other processes take
    does not count). The cluster's time is its postmaster's own, that of its children while they live (the
    backends, autovacuum, the writers), and that of the children that exited (the postmaster's cutime/cstime),
    read from /proc: the cluster must run on this machine under this user (the throwaway one does)."""

    TICK = os.sysconf("SC_CLK_TCK")

    def __init__(self, connection) -> None:
        backend = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        self.postmaster = self._stat(backend)[1] if backend and self._stat(backend) else None
        self.process = self.cluster = 0.0

    @staticmethod
    def _stat(pid: int) -> tuple[list[str], int] | None:
        """The fields after the command name of /proc/<pid>/stat (state first), and the parent's pid."""
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return fields, int(fields[1])

    def _cluster_seconds(self) -> float:
        if self.postmaster is None:
            return 0.0
        found = self._stat(self.postmaster)
        if found is None:
            return 0.0
        fields = found[0]  # utime, stime, cutime, cstime are stat's fields 14-17 (11-14 here)
        ticks = sum(int(value) for value in fields[11:15])
        for entry in os.listdir("/proc"):
            if entry.isdigit() and (child := self._stat(int(entry))) is not None and child[1] == self.postmaster:
                ticks += int(child[0][11]) + int(child[0][12])
        return ticks / self.TICK

    def __enter__(self) -> "CpuTimes":
        self._process, self._cluster = time.process_time(), self._cluster_seconds()
        return self

    def __exit__(self, *exc) -> None:
        self.process = time.process_time() - self._process
        self.cluster = self._cluster_seconds() - self._cluster

    def summary(self, invoices: int) -> str:
        if self.postmaster is None:
            return f"CPU: bench process {self.process:.1f} s (PostgreSQL's processes not readable from /proc)"
        per = 1e6 / max(invoices, 1)
        return (f"CPU: bench process {self.process:.1f} s + PostgreSQL cluster {self.cluster:.1f} s = "
                f"{self.process + self.cluster:.1f} s → {self.process * per:.0f} + {self.cluster * per:.0f} = "
                f"{(self.process + self.cluster) * per:.0f} µs per invoice "
                f"({invoices / max(self.process + self.cluster, 1e-9):.0f} invoices per CPU second)")


class GcPauses:
    """Time spent in the cyclic garbage collector during the run, by generation (gc.callbacks)."""

    def __init__(self) -> None:
        self.seconds = [0.0, 0.0, 0.0]
        self.counts = [0, 0, 0]
        self._started = 0.0

    def _callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds[info["generation"]] += time.perf_counter() - self._started
            self.counts[info["generation"]] += 1

    def __enter__(self) -> "GcPauses":
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc) -> None:
        gc.callbacks.remove(self._callback)

    def summary(self) -> str:
        return "garbage collector: " + ", ".join(
            f"generation {n} {count}× {seconds:.2f} s" for n, (count, seconds) in
            enumerate(zip(self.counts, self.seconds, strict=True)))


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
    parser.add_argument("--no-vacuum", action="store_true",
                        help="skip the VACUUM (ANALYZE) after loading the dataset (rows just COPYed, no statistics)")
    parser.add_argument("--previous-month", action="store_true",
                        help="first run (untimed) the billing of the month before, so the timed run starts, as a "
                             "real month-end does, with last month's invoices, lines, boletos and audit events in "
                             "their tables (and their statistics)")
    parser.add_argument("--statements", action="store_true",
                        help="time every SQL statement of the run (cursor events) and print the costliest")
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
            if args.previous_month:
                previous = BILLING_DAY.replace(month=BILLING_DAY.month - 1)
                load = os.getloadavg()[0]
                earlier = StatementTimes(db.engine) if args.statements else contextlib.nullcontext()
                earlier_marks: list[float] = []

                def earlier_progress(done: int, total: int) -> None:
                    if done * 10 // total > len(earlier_marks):
                        earlier_marks.append(time.perf_counter() - started)
                        if args.statements:
                            earlier.mark()

                with clock.frozen(datetime(previous.year, previous.month, previous.day, 9, tzinfo=UTC)), earlier:
                    started = time.perf_counter()
                    before = run_billing(on=previous, settings=settings, actor=Actor.system("bench"),
                                         batch_size=batch_size, progress=earlier_progress)
                    took = time.perf_counter() - started
                print(f"previous month: {len(before.issued)} invoices of {previous} in {took:.1f} s "
                      f"({len(before.issued) / took:.1f} invoices/s, tables empty at its start; load "
                      f"{load:.2f} → {os.getloadavg()[0]:.2f}); seconds per tenth: " + ", ".join(
                          f"{later - first:.1f}" for first, later in zip([0.0, *earlier_marks], earlier_marks,
                                                                         strict=False)))
                if args.statements:
                    print(f"previous month's statements per tenth (wall):\n{earlier.tenths()}")
            if not args.no_vacuum and db.engine.dialect.name == "postgresql":
                # As the tables of a running portal are: analyzed, and the loaded rows' hint bits set and
                # visibility map made (else the run's first reads of the just-COPYed rows do that work).
                started = time.perf_counter()
                with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                    connection.exec_driver_sql("VACUUM (ANALYZE)")
                print(f"dataset: VACUUM (ANALYZE) in {time.perf_counter() - started:.1f} s")
            boleto_codes.next_business_day(BILLING_DAY)  # loads the holidays package once, as a consumer has
            rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            if args.trace_memory:
                tracemalloc.start()
            load_before = os.getloadavg()
            statements = StatementTimes(db.engine) if args.statements else contextlib.nullcontext()
            marks: list[float] = []  # when each tenth of the organizations was done

            def progress(done: int, total: int) -> None:
                if done * 10 // total > len(marks):
                    marks.append(time.perf_counter() - started)
                    if args.statements:
                        statements.mark()

            with db.engine.connect() as connection:
                cpu = CpuTimes(connection)
            with clock.frozen(datetime(2026, 4, 1, 9, tzinfo=UTC)), RssSampler() as sampler, statements, cpu, \
                    GcPauses() as pauses:
                started = time.perf_counter()
                result = run_billing(on=BILLING_DAY, settings=settings, actor=Actor.system("bench"),
                                     batch_size=batch_size, progress=progress)
                elapsed = time.perf_counter() - started
            load_after = os.getloadavg()
            tenths = [later - earlier for earlier, later in zip([0.0, *marks], marks, strict=False)]
            print("seconds per tenth of the organizations: " + ", ".join(f"{t:.1f}" for t in tenths))
            if args.statements:
                print(f"statements per tenth (wall):\n{statements.tenths()}")
                print(f"statements (total wall, count, mean):\n{statements.report()}")
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
            print(f"memory: {sampler.summary()}")
            print(cpu.summary(len(result.issued)))
            print(pauses.summary())
            print(f"load average (1 min) {load_before[0]:.2f} before the run, {load_after[0]:.2f} after")
            if args.consumers:
                measured, spare = result.issued[:args.pdfs], result.issued[args.pdfs:]
                _queue(measured, spare, args.consumers, url)
            elif args.pdfs:
                _pdfs(result.issued[:args.pdfs], settings)
            db.engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
