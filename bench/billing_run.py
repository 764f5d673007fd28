"""Benchmark of the billing run: invoices per second and peak memory for N organizations × M subscriptions.

    .venv/bin/python bench/billing_run.py [--orgs 10000] [--subs 5] [--batch-size 200] [--pdfs 20]
                                          [--trace-memory] [--database-url postgresql+psycopg://…]

Without --database-url (or BENCH_DATABASE_URL) a throwaway PostgreSQL cluster is started (as in the tests).
The dataset is bulk-inserted, then one `run_billing` for the shared billing day is timed (`--batch-size 1`:
organization by organization, the run before batches). Invoice documents are only queued (to a Huey SQLite
file), as in production where consumers render them; `--pdfs N` then renders N of the invoices' documents
(`documents.ensure_invoice_documents`, what each `complete_invoice` job does first) one after the other in
this process and reports the median time per invoice. The run is timed without tracemalloc (it slows Python
several times over); `--trace-memory` turns it on to report the run's Python allocation peak. Results go to
bench/README.md by hand, with the date and the machine.
"""

import argparse
import os
import resource
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
os.environ["JOBS_URL"] = f"sqlite:///{tempfile.mkdtemp(prefix='bench-jobs-')}/jobs.db"
os.environ.setdefault("PORTAL_INSTANCE_DIR", tempfile.mkdtemp(prefix="bench-instance-"))

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=10_000)
    parser.add_argument("--subs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=None,
                        help="organizations per transaction (default: the service's BATCH_SIZE; 1 = one by one)")
    parser.add_argument("--pdfs", type=int, default=0, help="then render N invoices' documents; report the median")
    parser.add_argument("--trace-memory", action="store_true",
                        help="trace Python allocations during the run (tracemalloc: the run is several times "
                             "slower, so the rate of such a run is not comparable)")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    args = parser.parse_args()

    from tests.support.externals import PostgresServer

    server = PostgresServer()
    if args.database_url:
        server.admin_url = args.database_url
    url = server.create_database()
    try:
        from sqlalchemy import func, select

        from portal import create_app
        from portal.billing import boleto as boleto_codes
        from portal.billing.models import Invoice
        from portal.billing.service import BATCH_SIZE, run_billing
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
            if args.pdfs:
                _pdfs(result.issued[:args.pdfs], settings)
            db.engine.dispose()
    finally:
        server.drop_database(url)
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
