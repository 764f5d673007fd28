"""CPU per request of the same pages as bench/pages.py, in one process (Flask's test client, no HTTP server):
the steadiest view of what a page costs, since it leaves out how wrk's connections fall on gunicorn's workers.

    .venv/bin/python bench/page_cpu.py [--orgs 20] [--rounds 6] [--requests 300] [--no-caches] [--only A,B] [--paired N]
                                       [--sql] [--profile PAGE] [--database-url …]

The dataset is bench/pages.py's (each organization: 50 subscriptions with their orders, 36 invoices), on a
throwaway PostgreSQL cluster; the app runs with the production settings. The pages are measured in turn, round
after round (`time.process_time()` over `--requests` requests after 20 of warm-up); the table gives each page's
fastest and median round, the ratio of /ping's fastest round to the page's, and the SQL statements one
request runs. The pages (PAGES below) are every customer page, seen by the Master of an organization, and the
staff pages finance ("financeiro": invoices, billing run, payments, remessa/retorno, dunning) and compliance (the
audit trail, the cancellations audit) use daily. `--no-caches` sets FRAGMENT_CACHE_BYTES=0 and
READ_MODEL_CACHE_BYTES=0: every table and the home rendered afresh (the target holds without them).
"""

import argparse
import base64
import os
import re
import secrets
import sys
import time

import pyotp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pages  # noqa: E402 - the dataset and the scratch directory come from bench/pages.py
from databases import migrate, throwaway_database  # noqa: E402

ROOT = pages.ROOT

PAGES = pages.PAGES  # every page measured, with who looks at it (bench/pages.py)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    parser.add_argument("--sql", action="store_true", help="also print the SQL statements one request of each page runs")
    parser.add_argument("--profile", metavar="PAGE", help="also print cProfile's top functions for one page "
                        "(its label, e.g. 'Início (Master)'), over --requests requests after the rounds")
    parser.add_argument("--no-caches", action="store_true",
                        help="FRAGMENT_CACHE_BYTES=0 and READ_MODEL_CACHE_BYTES=0: every page rendered afresh")
    parser.add_argument("--only", help="comma-separated labels of the pages to measure (besides /ping)")
    parser.add_argument("--paired", type=int, default=0, metavar="N",
                        help="also the 'paired' ratio: N blocks of 50 requests of /ping then 50 of the page, the "
                        "median of the blocks' ratios (steadier than fastest rounds when the machine's speed drifts)")
    args = parser.parse_args()

    from portal.app import create_app
    from portal.extensions import db

    with throwaway_database(args.database_url) as url:
        migrate(url)
        who = pages.build_dataset(url, args.orgs, 50, 36)
        os.environ.update({"PORTAL_ENV": "production", "SECRET_KEY": secrets.token_urlsafe(32), "DATABASE_URL": url,
                           "JOBS_URL": "memory://", "MAIL_BACKEND": "memory", "RATELIMIT_ENABLED": "false",
                           "SESSION_COOKIE_SECURE": "false", "BASE_URL": "http://localhost",
                           "AUDIT_CHAIN_KEY": secrets.token_hex(32),  # production requires the audit keys
                           "AUDIT_SIGNING_KEY": base64.b64encode(secrets.token_bytes(32)).decode()})
        if args.no_caches:
            os.environ.update({"FRAGMENT_CACHE_BYTES": "0", "READ_MODEL_CACHE_BYTES": "0"})
        app = create_app()
        clients = {"master": _signed_in(app, who["master"]), "finance": _signed_in(app, who["finance"], staff=True),
                   "staff": _signed_in(app, who["staff"], staff=True)}
        client = clients["master"]
        subscription = re.search(r'href="/licencas/(\d+)/alterar"', client.get("/licencas").text).group(1)
        change = f"/licencas/{subscription}/alterar"
        preview = client.post(change, data={"csrf_token": _csrf(client, change), "quantity": "30"}).headers["Location"]
        invoice = re.search(r'href="/faturas/(\d+)"', client.get("/faturas").text).group(1)
        ticket = re.search(r'href="/chamados/(\d+)"', client.get("/chamados").text).group(1)
        order = re.search(r'href="/pedidos/(\d+)"', client.get(f"/licencas/{subscription}").text).group(1)
        product = re.search(r'name="product_id" value="(\d+)"', client.get("/produtos").text)
        if product:  # one product in the cart, so the cart page shows a line
            client.post("/carrinho/adicionar", data={"csrf_token": _csrf(client, "/produtos"),
                                                     "product_id": product.group(1), "quantity": "3"})
        filled = {"subscription": subscription, "preview": preview, "invoice": invoice, "ticket": ticket,
                  "order": order}
        wanted = set(args.only.split(",")) if args.only else None
        paths = {label: (clients[person], path.format(**filled)) for label, (person, path) in PAGES.items()
                 if wanted is None or label in wanted or "ping" in label}
        times: dict[str, list[float]] = {label: [] for label in paths}
        for _round in range(args.rounds):
            for label, (browser, path) in paths.items():
                for _ in range(20):
                    assert browser.get(path).status_code == 200, path
                started = time.process_time()
                for _ in range(args.requests):
                    browser.get(path)
                times[label].append((time.process_time() - started) / args.requests * 1000)
        paired = {label: _paired_ratio(paths["/ping (trivial)"], page, args.paired)
                  for label, page in paths.items()} if args.paired else {}
        statements = {label: _statements(app, browser, path, show=args.sql and label)
                      for label, (browser, path) in paths.items()}
        baseline = min(times["/ping (trivial)"])
        caches = "caches off (FRAGMENT_CACHE_BYTES=0, READ_MODEL_CACHE_BYTES=0)" if args.no_caches else "caches on"
        print(f"\n{args.orgs} organizations, {args.rounds} rounds of {args.requests} requests, {caches}; "
              f"CPU ms per request")
        print(f"{'page':24} {'fastest':>8} {'median':>8} {'ratio':>6} {'SQL':>4}"
              + (f" {'paired':>6}" if paired else ""))
        for label, values in times.items():
            print(f"{label:24} {min(values):8.2f} {sorted(values)[len(values) // 2]:8.2f} "
                  f"{baseline / min(values):6.2f} {statements[label]:4}"
                  + (f" {paired[label]:6.2f}" if paired else ""))
        if args.profile:
            _profile(*paths[args.profile], args.requests)
        with app.app_context():
            db.engine.dispose()
    return 0


def _paired_ratio(ping: tuple, page: tuple, blocks: int, requests: int = 50) -> float:
    """/ping's CPU over the page's, measured in alternating blocks so both see the machine at the same moment: a
    drift in its speed (other work, frequency) changes both sides of each block's ratio alike. Each block runs
    /ping, the page, the page, /ping (the second of two runs was measured ~7 % cheaper: this order cancels it)."""
    ratios = []
    for _ in range(blocks):
        spent = {"ping": 0.0, "page": 0.0}
        for side, (browser, path) in (("ping", ping), ("page", page), ("page", page), ("ping", ping)):
            started = time.process_time()
            for _ in range(requests):
                browser.get(path)
            spent[side] += time.process_time() - started
        ratios.append(spent["ping"] / spent["page"])
    return sorted(ratios)[len(ratios) // 2]


def _csrf(client, path: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', client.get(path).text).group(1)


def _signed_in(app, email: str, staff: bool = False):
    """A test client signed in through the real forms (staff: with their TOTP code)."""
    client = app.test_client()
    client.post("/entrar", data={"csrf_token": _csrf(client, "/entrar"), "email": email, "password": pages.PASSWORD})
    if staff:
        client.post("/entrar/verificacao", data={"csrf_token": _csrf(client, "/entrar/verificacao"),
                                                 "code": pyotp.TOTP(pages.STAFF_TOTP).now()})
    return client


def _profile(client, path: str, requests: int) -> None:
    import cProfile
    import pstats

    profiler = cProfile.Profile(time.process_time)  # CPU, as the table measures: waiting for PostgreSQL is not in it
    profiler.enable()
    for _ in range(requests):
        client.get(path)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(60)
    pstats.Stats(profiler).sort_stats("tottime").print_stats(30)


def _statements(app, client, path: str, show: str | bool = False) -> int:
    """How many SQL statements one request of `path` runs (the SQL column)."""
    from sqlalchemy import event

    from portal.extensions import db

    count = 0

    def counted(_connection, _cursor, statement, *_args) -> None:
        nonlocal count
        count += 1
        if show:
            print(f"{show}: {' '.join(statement.split())[:150]}")

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", counted)
    try:
        client.get(path)
    finally:
        event.remove(engine, "before_cursor_execute", counted)
    return count


if __name__ == "__main__":
    raise SystemExit(main())
