"""Benchmark of the bank's loop at month-end size: the day's remessa for N issued invoices, the bank simulator's
retorno confirming and paying them all, and the import of that retorno (each payment recorded as finance's would
be: audit, credit, standing, the "pagamento recebido" e-mail queued).

    .venv/bin/python bench/money_loop.py [--orgs 2000] [--database-url postgresql+psycopg://…]

Without --database-url (or BENCH_DATABASE_URL) a throwaway PostgreSQL cluster is started. The dataset and the
billing run are bench/billing_run.py's (N organizations × 1 subscription). Reported: remessa build (movements
derived, file written) and retorno import, each in seconds and per boleto, the files' sizes, and the Python
allocation peak of the import with `--trace-memory` (tracemalloc slows Python: that run's time is not
comparable). Results go to bench/README.md by hand.
"""

import argparse
import os
import sys
import time
import tracemalloc
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import billing_run  # noqa: E402 - bench/billing_run.py: the environment, the dataset and BILLING_DAY
from databases import throwaway_database  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=2000)
    parser.add_argument("--trace-memory", action="store_true", help="trace Python allocations during the import")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    args = parser.parse_args()
    with throwaway_database(args.database_url) as url:
        from sqlalchemy import func, select

        from portal.app import create_app
        from portal.billing import bank
        from portal.billing.bank_simulator import BankSimulator
        from portal.billing.models import Invoice, InvoiceStatus, Payment
        from portal.billing.run import run_billing
        from portal.billing.settings import BillingSettings
        from portal.extensions import db
        from portal.migrate import upgrade
        from portal.shared import clock
        from portal.shared.audit import Actor

        app = create_app({"PORTAL_ENV": "test", "SQLALCHEMY_DATABASE_URI": url, "JOBS_URL": os.environ["JOBS_URL"],
                          "MAIL_BACKEND": "memory"})
        actor = Actor.system("bench")
        with app.app_context():
            upgrade(app)
            billing_run._dataset(args.orgs, 1)
            settings = BillingSettings.from_config(app.config)
            with clock.frozen(datetime(2026, 4, 1, 9, tzinfo=UTC)):
                issued = run_billing(on=billing_run.BILLING_DAY, settings=settings, actor=actor).issued
            print(f"{len(issued)} invoices issued")
            day = date(2026, 4, 1)
            with clock.frozen(datetime(2026, 4, 1, 18, tzinfo=UTC)):
                started = time.perf_counter()
                result = bank.build_remessa(day, settings, actor)
                db.session.commit()
                built = time.perf_counter() - started
            remessa = result.data
            print(f"remessa: {result.remessa.movement_count} movements, {len(remessa) / 1024:.0f} KiB, built in "
                  f"{built:.2f} s ({1000 * built / max(result.remessa.movement_count, 1):.2f} ms per boleto)")
            simulator = BankSimulator()
            pay = dict.fromkeys(entry.nosso_numero for entry in simulator.entradas(remessa))
            data = simulator.respond(remessa, pay=pay, on=date(2026, 4, 10)).data
            with clock.frozen(datetime(2026, 4, 11, 9, tzinfo=UTC)):
                if args.trace_memory:
                    tracemalloc.start()
                started = time.perf_counter()
                summary = bank.import_retorno(data, "bench.ret", actor, settings)
                elapsed = time.perf_counter() - started
                peak = tracemalloc.get_traced_memory()[1] if args.trace_memory else None
                tracemalloc.stop()
            paid = db.session.scalar(select(func.count(Invoice.id)).where(Invoice.status == InvoiceStatus.PAID))
            payments = db.session.scalar(select(func.count(Payment.id)))
            print(f"retorno: {len(data) / 1024:.0f} KiB; {summary.confirmed} confirmed, {summary.paid} paid "
                  f"(R$ {summary.paid_cents / 100:,.2f}); imported in {elapsed:.2f} s "
                  f"({1000 * elapsed / max(summary.paid + summary.confirmed, 1):.2f} ms per occurrence); "
                  f"{paid} invoices paid, {payments} payments"
                  + (f"; Python allocations peak {peak / 2**20:.1f} MiB (tracemalloc on)" if peak else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
