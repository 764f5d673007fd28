"""CPU per request of the same pages as bench/pages.py, in one process (Flask's test client, no HTTP server):
the steadiest view of what a page costs, since it leaves out how wrk's connections fall on gunicorn's workers.

    .venv/bin/python bench/page_cpu.py [--orgs 20] [--rounds 6] [--requests 300] [--database-url …]

The dataset is bench/pages.py's (each organization: 50 subscriptions with their orders, 36 invoices), on a
throwaway PostgreSQL cluster; the app runs with the production settings. The pages are measured in turn, round
after round (`time.process_time()` over `--requests` requests after 20 of warm-up); the table gives each page's
fastest and median round, the ratio of /ping's fastest round to the page's, and the SQL statements one
request runs.
"""

import argparse
import os
import re
import secrets
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pages  # noqa: E402 - the dataset and the scratch directory come from bench/pages.py
from databases import migrate, throwaway_database  # noqa: E402

ROOT = pages.ROOT


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    args = parser.parse_args()

    from portal.app import create_app
    from portal.extensions import db

    with throwaway_database(args.database_url) as url:
        migrate(url)
        who = pages.build_dataset(url, args.orgs, 50, 36)
        os.environ.update({"PORTAL_ENV": "production", "SECRET_KEY": secrets.token_urlsafe(32), "DATABASE_URL": url,
                           "JOBS_URL": "memory://", "MAIL_BACKEND": "memory", "RATELIMIT_ENABLED": "false",
                           "SESSION_COOKIE_SECURE": "false", "BASE_URL": "http://localhost"})
        app = create_app()
        client = app.test_client()

        def csrf(path: str) -> str:
            return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', client.get(path).text).group(1)

        client.post("/entrar", data={"csrf_token": csrf("/entrar"), "email": who["master"],
                                     "password": pages.PASSWORD})
        subscription = re.search(r'href="/licencas/(\d+)/alterar"', client.get("/licencas").text).group(1)
        change = f"/licencas/{subscription}/alterar"
        preview = client.post(change, data={"csrf_token": csrf(change), "quantity": "30"}).headers["Location"]
        paths = {"/ping (trivial)": "/ping", "Licenças": "/licencas", "Faturas": "/faturas", "quote preview": preview}
        times: dict[str, list[float]] = {label: [] for label in paths}
        for _round in range(args.rounds):
            for label, path in paths.items():
                for _ in range(20):
                    assert client.get(path).status_code == 200, path
                started = time.process_time()
                for _ in range(args.requests):
                    client.get(path)
                times[label].append((time.process_time() - started) / args.requests * 1000)
        statements = {label: _statements(app, client, path) for label, path in paths.items()}
        baseline = min(times["/ping (trivial)"])
        print(f"\n{args.orgs} organizations, {args.rounds} rounds of {args.requests} requests; CPU ms per request")
        print(f"{'page':18} {'fastest':>8} {'median':>8} {'ratio':>6} {'SQL':>4}")
        for label, values in times.items():
            print(f"{label:18} {min(values):8.2f} {sorted(values)[len(values) // 2]:8.2f} {baseline / min(values):6.2f} "
                  f"{statements[label]:4}")
        with app.app_context():
            db.engine.dispose()
    return 0


def _statements(app, client, path: str) -> int:
    """How many SQL statements one request of `path` runs (the SQL column)."""
    from sqlalchemy import event

    from portal.extensions import db

    count = 0

    def counted(*_args) -> None:
        nonlocal count
        count += 1

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
