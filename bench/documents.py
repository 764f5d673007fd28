"""Benchmark of an invoice's month-end documents, side by side in one process (issue 19, point 5).

    .venv/bin/python bench/documents.py [--rounds 30] [--jobs 30] [--profile] [--database-url postgresql+psycopg://…]

A small dataset (bench/billing_run.py's, on a throwaway PostgreSQL unless --database-url / BENCH_DATABASE_URL)
is billed once, then for the SAME invoice, alternating round by round so that the machine's load hits all
three alike:

  (a) bare:  the invoice's HTML (rendered once, as `render_invoice_pdf` renders it) through
             `weasyprint.HTML(string=html).write_pdf()` — no stylesheet, font configuration or asset kept
             between calls by the portal;
  (b) pair:  what the job does for the invoice and its boleto: `documents.render_invoice_documents`
             (the invoice PDF and the boleto PDF, from the invoice's rows);

and then (c) the whole `complete_invoice` job (invoice PDF + boleto PDF stored, NFS-e simulator with its
PDF, the e-mail queued to the Huey SQLite file) for `--jobs` other invoices one after the other, as a consumer
runs them (each in its own app context, one worker thread). Medians and p90; the ratio (b)/(a) is the target
(≤ 2) and (c)'s median the other (≤ 250 ms). `--profile` prints cProfile's top functions of (b) instead.
"""

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import billing_run  # noqa: E402 - bench/billing_run.py: the environment (JOBS_URL), the dataset, the billing day
from databases import throwaway_database  # noqa: E402

os.environ.setdefault("MAIL_BACKEND", "memory")
os.environ.setdefault("FISCAL_BACKEND", "simulator")


def _stats(seconds: list[float]) -> tuple[float, float]:
    ordered = sorted(seconds)
    return statistics.median(ordered), ordered[int(0.9 * (len(ordered) - 1))]


def _line(label: str, seconds: list[float], cpu: list[float]) -> str:
    median, p90 = _stats(seconds)
    cpu_median, cpu_p90 = _stats(cpu)
    return (f"{label}: median {median * 1000:.1f} ms, p90 {p90 * 1000:.1f} ms wall; CPU of this process "
            f"median {cpu_median * 1000:.1f} ms, p90 {cpu_p90 * 1000:.1f} ms ({len(seconds)} runs)")


def _timed(fn, wall: list[float], cpu: list[float]):
    started, started_cpu = time.perf_counter(), time.process_time()
    result = fn()
    wall.append(time.perf_counter() - started)
    cpu.append(time.process_time() - started_cpu)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30, help="rounds of (a) and (b) on the same invoice")
    parser.add_argument("--jobs", type=int, default=30, help="complete_invoice jobs, one invoice each")
    parser.add_argument("--profile", action="store_true", help="cProfile (b) and print its top functions")
    parser.add_argument("--profile-jobs", action="store_true", help="cProfile (c) and print its top functions")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    args = parser.parse_args()

    with throwaway_database(args.database_url) as url:
        from flask import render_template
        from flask_babel import force_locale
        from weasyprint import HTML

        from portal import jobs as jobs_module
        from portal.app import create_app
        from portal.billing import documents
        from portal.billing.jobs import complete_invoice
        from portal.billing.models import Invoice
        from portal.billing.run import run_billing
        from portal.billing.settings import BillingSettings
        from portal.extensions import db
        from portal.migrate import upgrade
        from portal.shared import clock
        from portal.shared.audit import Actor
        from portal.shared.documents import DOCUMENT_LOCALE

        app = create_app({"PORTAL_ENV": "test", "SQLALCHEMY_DATABASE_URI": url, "JOBS_URL": os.environ["JOBS_URL"],
                          "MAIL_BACKEND": "memory", "FISCAL_BACKEND": "simulator"})
        with app.app_context():
            upgrade(app)
            billing_run._dataset(args.jobs + 2, 5)
            settings = BillingSettings.from_config(app.config)
            with clock.frozen(datetime(2026, 4, 1, 9, tzinfo=UTC)):
                issued = run_billing(on=billing_run.BILLING_DAY, settings=settings, actor=Actor.system("bench"),
                                     batch_size=200).issued
            billing_run._billing_contacts(issued)
            sample, warm_up, job_ids = issued[0], issued[1], issued[2:2 + args.jobs]
            load_before = os.getloadavg()

            invoice = db.session.get(Invoice, sample)
            with force_locale(DOCUMENT_LOCALE):  # the invoice's HTML, as render_invoice_pdf renders it
                html = render_template("documents/invoice.html", **documents.invoice_template_context(
                    invoice, settings=settings))
            HTML(string=html).write_pdf()  # WeasyPrint's first render (imports, fontconfig) before the clock
            documents.render_invoice_documents(invoice, settings=settings)

            if args.profile:
                profile = cProfile.Profile()
                profile.enable()
                for _ in range(args.rounds):
                    documents.render_invoice_documents(invoice, settings=settings)
                profile.disable()
                pstats.Stats(profile).sort_stats("cumulative").print_stats(45)
                pstats.Stats(profile).sort_stats("tottime").print_stats(30)
                return 0

            bare, pair, bare_cpu, pair_cpu = [], [], [], []
            for _ in range(args.rounds):
                _timed(lambda: HTML(string=html).write_pdf(), bare, bare_cpu)
                _timed(lambda: documents.render_invoice_documents(invoice, settings=settings), pair, pair_cpu)
            db.session.rollback()

        # (c) as a consumer runs the job: the app already made, each job in its own app context
        jobs, jobs_cpu = [], []
        profile = cProfile.Profile() if args.profile_jobs else None
        with clock.frozen(datetime(2026, 4, 1, 9, 5, tzinfo=UTC)):
            with app.app_context():  # the first job's imports and connections, before the clock
                complete_invoice.call_local(warm_up)
            jobs_module.settle_process()  # as a consumer does once its app is made (portal/jobs)
            if profile:
                profile.enable()
            for invoice_id in job_ids:
                with app.app_context():
                    outcome = _timed(lambda: complete_invoice.call_local(invoice_id), jobs, jobs_cpu)  # noqa: B023
                assert outcome == "complete", outcome
        load_after = os.getloadavg()
        if profile:
            profile.disable()
            pstats.Stats(profile).sort_stats("cumulative").print_stats(r"portal/|sqlalchemy/orm/session|segno/__init__|jinja2/environment|weasyprint/__init__", 60)

        bare_median, pair_median = statistics.median(bare), statistics.median(pair)
        print(_line("(a) bare WeasyPrint render of the invoice HTML", bare, bare_cpu))
        print(_line("(b) invoice + boleto PDFs (render_invoice_documents)", pair, pair_cpu))
        print(f"    ratio (b)/(a) of the medians: {pair_median / bare_median:.2f} wall, "
              f"{statistics.median(pair_cpu) / statistics.median(bare_cpu):.2f} CPU (target ≤ 2)")
        print(_line("(c) complete_invoice job (PDFs stored, NFS-e simulator + PDF, e-mail queued)", jobs, jobs_cpu)
              + " (target: median ≤ 250 ms)")
        print(f"load average (1 min) {load_before[0]:.2f} before, {load_after[0]:.2f} after")
        with app.app_context():
            db.engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
