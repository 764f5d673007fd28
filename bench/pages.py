"""Benchmark of the pages people wait for: requests/s and p50/p95 latency under a bounded load, each page's
throughput as a ratio of a trivial endpoint's (/ping) measured in the same run.

    .venv/bin/python bench/pages.py [--orgs 2000] [--subs 50] [--invoices 36] [--seconds 10] [--connections 2,8]
                                    [--workers 5] [--rounds 3] [--fragment-cache-bytes N] [--no-caches]
                                    [--only LABELS|all]
                                    [--database-url postgresql+psycopg://…]

The dataset (PostgreSQL: a throwaway cluster unless --database-url / BENCH_DATABASE_URL) is loaded with COPY:
N organizations, each with S subscriptions (one lot and its purchase order each), I issued invoices of S
lines each with a boleto, a Master, and audit events; then VACUUM (ANALYZE). gunicorn runs with the
production settings on 127.0.0.1; `wrk` (Debian package `wrk`) applies the load as a subprocess, one page at
a time (every page once per round), signed in through the real login form.
Besides requests/s and latency, each page's CPU per request is read from /proc: the gunicorn workers' and the
PostgreSQL server processes' (every `postgres` process on the machine: run it where no other cluster works).
`--fragment-cache-bytes 0` turns the rendered-fragment cache off (FRAGMENT_CACHE_BYTES), to see every page
rendered afresh; by default the production setting applies.
Results go to bench/README.md by hand, with the date and the machine.
"""

import argparse
import base64
import hashlib
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from http.cookiejar import CookieJar
from pathlib import Path

import pyotp
from databases import migrate, throwaway_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PORTAL_ENV", "test")
os.environ.setdefault("JOBS_URL", "memory://")
_SCRATCH = tempfile.TemporaryDirectory(prefix="bench-pages-")  # the instance and wrk's script; removed at exit
os.environ.setdefault("PORTAL_INSTANCE_DIR", f"{_SCRATCH.name}/instance")

# label → (who, path): every customer page (seen by an organization's Master) and the staff pages finance
# ("financeiro": invoices, billing run, payments/reconciliation, remessa/retorno, dunning, draft review) and
# compliance (the audit trail, the cancellations audit) use daily. {placeholders} are filled after signing in.
PAGES = {
    "/ping (trivial)": ("master", "/ping"),
    "Início (Master)": ("master", "/"),
    "Licenças": ("master", "/licencas"),
    "licença": ("master", "/licencas/{subscription}"),
    "Alterar quantidades": ("master", "/licencas/{subscription}/alterar"),
    "quote preview": ("master", "{preview}"),
    "Produtos (catálogo)": ("master", "/produtos"),
    "Carrinho": ("master", "/carrinho"),
    "Faturas": ("master", "/faturas"),
    "fatura": ("master", "/faturas/{invoice}"),
    "pedido": ("master", "/pedidos/{order}"),
    "Chamados": ("master", "/chamados"),
    "chamado": ("master", "/chamados/{ticket}"),
    "Renovações": ("master", "/renovacoes"),
    "Minha conta": ("master", "/conta"),
    "Usuários": ("master", "/usuarios"),
    "Histórico": ("master", "/historico"),
    "Integrações (tokens)": ("master", "/integracoes/tokens"),
    "Integrações (Microsoft)": ("master", "/integracoes/microsoft"),
    "staff /ping": ("finance", "/ping"),
    "bo Faturas": ("finance", "/backoffice/faturas"),
    "bo fatura": ("finance", "/backoffice/faturas/{invoice}"),
    "bo faturamento": ("finance", "/backoffice/faturamento"),
    "bo conciliação": ("finance", "/backoffice/conciliacao"),
    "bo banco (remessa)": ("finance", "/backoffice/banco"),
    "bo régua de cobrança": ("finance", "/backoffice/regua-de-cobranca"),
    "bo rascunhos": ("finance", "/backoffice/faturas/rascunhos"),
    "bo audit trail": ("staff", "/backoffice/auditoria/trilha"),
    "bo cancelamentos": ("staff", "/backoffice/auditoria/cancelamentos"),
}

PASSWORD = "Bench#Senha2026"  # noqa: S105 - the dataset's own password
STAFF_TOTP = pyotp.random_base32()
LUA = """
done = function(summary, latency, requests)
  io.write(string.format("JSON {\\"requests\\": %d, \\"seconds\\": %f, \\"errors\\": %d, \\"p50\\": %f, \\"p95\\": %f}\\n",
    summary.requests, summary.duration / 1e6,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000))
end
"""


def copy_rows(connection, table: str, columns: list[str], rows) -> int:
    """COPY rows (tuples) into `table`; None is NULL. Returns the number of rows."""
    count = 0
    with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def build_dataset(url: str, orgs: int, subs: int, invoices: int) -> dict:
    """Everything through COPY (minutes, not hours); returns what the load needs (a Master, a quote token …)."""
    import psycopg
    from werkzeug.security import generate_password_hash

    from portal.shared.audit import GENESIS_HASH
    from tests.factories import valid_cnpj

    started = time.perf_counter()
    now = datetime.now(UTC)
    bought = now - timedelta(days=400)
    password_hash = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
    raw_url = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(raw_url) as conn:
        cur = conn.cursor()
        cur.execute("INSERT INTO product_families (name, description, position, active) VALUES "
                    "('Microsoft 365', '', 0, true) RETURNING id")
        family = cur.fetchone()[0]
        products = []
        for n in range(subs):
            cur.execute(
                "INSERT INTO products (sku, name, description, family_id, provider, offer_id, term, billing_frequency,"
                " decrease_window_hours, min_quantity, max_quantity, active, created_at) VALUES (%s, %s, '', %s, "
                "'microsoft_csp', %s, 'annual', 'monthly', 168, 1, 1000, true, %s) RETURNING id",
                (f"BENCH-{n}", f"Produto {n}", family, f"P{n}:0001:A{n}", now))
            product = cur.fetchone()[0]
            cur.execute("INSERT INTO product_prices (product_id, unit_price_cents, effective_from, created_at) "
                        "VALUES (%s, %s, '2024-01-01', %s)", (product, 3600 + 100 * n, now))
            products.append((product, 3600 + 100 * n))
        copy_rows(conn, "organizations",
                  ["id", "legal_name", "trade_name", "cnpj", "street", "number", "complement", "district", "city",
                   "state", "postal_code", "billing_day", "status", "require_2fa", "created_at",
                   "microsoft_tenant_id"],
                  ((o, f"Cliente {o} Ltda", f"Cliente {o}", valid_cnpj(30_000_000 + o), "Rua A", "1", "", "Centro",
                    "São Paulo", "SP", "01000000", 10, "active", False, bought, str(uuid.UUID(int=o)))
                   for o in range(1, orgs + 1)))
        copy_rows(conn, "users", ["id", "email", "name", "phone", "password_hash", "active", "is_staff",
                                  "session_token", "created_at"],
                  ((o, f"master{o}@bench.example.com", f"Master {o}", "", password_hash, True, False,
                    secrets.token_hex(16), bought) for o in range(1, orgs + 1)))
        copy_rows(conn, "memberships", ["id", "user_id", "organization_id", "active", "created_at", "accepted_at"],
                  ((o, o, o, True, bought, bought) for o in range(1, orgs + 1)))
        copy_rows(conn, "membership_roles", ["membership_id", "role"], ((o, "master") for o in range(1, orgs + 1)))
        staff_id = orgs + 1
        cur.execute("INSERT INTO users (id, email, name, phone, password_hash, active, is_staff, session_token, "
                    "created_at, totp_secret, totp_enabled_at) VALUES (%s, 'compliance@bench.example.com', "
                    "'Compliance', '', %s, true, true, %s, %s, %s, %s)",
                    (staff_id, password_hash, secrets.token_hex(16), bought, STAFF_TOTP, bought))
        cur.execute("INSERT INTO staff_roles (user_id, role) VALUES (%s, 'compliance')", (staff_id,))
        finance_id = orgs + 2
        cur.execute("INSERT INTO users (id, email, name, phone, password_hash, active, is_staff, session_token, "
                    "created_at, totp_secret, totp_enabled_at) VALUES (%s, 'financeiro@bench.example.com', "
                    "'Financeiro', '', %s, true, true, %s, %s, %s, %s)",
                    (finance_id, password_hash, secrets.token_hex(16), bought, STAFF_TOTP, bought))
        cur.execute("INSERT INTO staff_roles (user_id, role) VALUES (%s, 'financeiro')", (finance_id,))
        for table in ("organizations", "users", "memberships"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        # Subscriptions, their first ledger row and lot.
        sub_rows = [(o * subs + n, o, product, 10 + n % 7, price)
                    for o in range(1, orgs + 1) for n, (product, price) in enumerate(products)]
        copy_rows(conn, "subscriptions",
                  ["id", "organization_id", "product_id", "quantity", "status", "term_start", "term_end",
                   "provider_subscription_id", "created_at", "version"],
                  ((sid, o, product, q, "active", (now - timedelta(days=30)).date(),
                    (now + timedelta(days=335)).date(), str(uuid.uuid4()), bought, 1)
                   for sid, o, product, q, _p in sub_rows))
        copy_rows(conn, "quantity_changes",
                  ["id", "subscription_id", "organization_id", "kind", "delta", "quantity_after", "effective_on",
                   "charge_cents", "credit_cents", "created_at"],
                  ((sid, sid, o, "initial", q, q, bought.date(), 0, 0, bought) for sid, o, _p, q, _pr in sub_rows))
        copy_rows(conn, "lots", ["id", "subscription_id", "change_id", "quantity", "unit_price_cents", "added_at",
                                 "window_end", "billed_cents"],
                  ((sid, sid, sid, q, price, bought, bought + timedelta(hours=168), q * price)
                   for sid, _o, _p, q, price in sub_rows))
        # Each subscription's purchase order, done (the "Licenças" rows show the last order's state).
        copy_rows(conn, "orders",
                  ["id", "organization_id", "kind", "subscription_id", "quantity", "status", "correlation_id",
                   "attempts", "needs_staff", "created_at", "completed_at"],
                  ((sid, o, "purchase", sid, q, "done", str(uuid.uuid4()), 1, False, bought, bought)
                   for sid, o, _p, q, _pr in sub_rows))
        for table in ("subscriptions", "quantity_changes", "lots", "orders"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        print(f"  subscriptions: {len(sub_rows)} in {time.perf_counter() - started:.0f} s", flush=True)
        # Invoices (monthly, the last `invoices` months), their lines and boletos.
        invoice_rows, line_rows, boleto_rows = [], [], []
        invoice_id = line_id = 0
        by_org = {}
        for sid, o, _product, q, price in sub_rows:
            by_org.setdefault(o, []).append((sid, q, price))
        for o in range(1, orgs + 1):
            for m in range(invoices):
                invoice_id += 1
                day = (now - timedelta(days=30 * (invoices - m))).date()
                total = sum(q * p for _s, q, p in by_org[o])
                invoice_rows.append((invoice_id, o, "regular", "F", day.year, invoice_id, "paid" if m < invoices - 1
                                     else "open", day, day, day + timedelta(days=30), now, day + timedelta(days=10),
                                     total, 0, total))
                for position, (sid, q, p) in enumerate(by_org[o], start=1):
                    line_id += 1
                    line_rows.append((line_id, invoice_id, position, "recurring", "Produto", q, p, q * p, day,
                                      day + timedelta(days=30), sid))
                boleto_rows.append((invoice_id, invoice_id, 1, "341", f"{invoice_id:08d}", day + timedelta(days=10),
                                    total, 0, 0, "3" * 44, "34191.09008 00000.000000 00000.000000 1 00000000000000",
                                    "000201", False, now))
        copy_rows(conn, "invoices",
                  ["id", "organization_id", "kind", "series", "year", "number", "status", "billing_date",
                   "period_start", "period_end", "issued_at", "due_date", "subtotal_cents", "credit_applied_cents",
                   "total_cents"], invoice_rows)
        copy_rows(conn, "invoice_lines",
                  ["id", "invoice_id", "position", "kind", "description", "quantity", "unit_price_cents",
                   "amount_cents", "period_start", "period_end", "subscription_id"], line_rows)
        copy_rows(conn, "boletos", ["id", "invoice_id", "sequence", "bank", "nosso_numero", "due_date",
                                    "amount_cents", "fine_cents", "interest_cents", "barcode", "digitable_line",
                                    "pix_payload", "registered", "created_at"],
                  boleto_rows)
        for table in ("invoices", "invoice_lines", "boletos"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        print(f"  invoices: {len(invoice_rows)} with {len(line_rows)} lines in {time.perf_counter() - started:.0f} s",
              flush=True)
        # Tickets: 20 per organization, each opened by its Master with a staff reply (the "Chamados" pages).
        ticket_rows = [((o - 1) * 20 + n + 1, o) for o in range(1, orgs + 1) for n in range(20)]
        copy_rows(conn, "tickets", ["id", "organization_id", "opened_by_id", "category", "priority", "subject",
                                    "status", "created_at", "updated_at", "first_response_at"],
                  ((t, o, o, "technical", "normal", f"Chamado {t}", "open" if t % 3 else "waiting_customer",
                    now - timedelta(days=t % 40), now - timedelta(days=t % 40), now - timedelta(days=t % 40))
                   for t, o in ticket_rows))
        copy_rows(conn, "ticket_messages", ["id", "ticket_id", "author_id", "kind", "from_staff", "body",
                                            "created_at"],
                  ((2 * t - 1 + staff, t, staff_id if staff else o, "message", bool(staff),
                    "Resposta da equipe" if staff else "Preciso de ajuda com as licenças", now - timedelta(days=t % 40))
                   for t, o in ticket_rows for staff in (0, 1)))
        for table in ("tickets", "ticket_messages"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        # An audit trail: a sign-in per organization and month (a valid hash chain).
        events, prev = [], GENESIS_HASH
        for seq in range(1, orgs * 12 + 1):
            org = (seq - 1) % orgs + 1
            payload = {"seq": seq, "created_at": now.isoformat(), "tag": "accounts:login:succeeded", "actor_id": org,
                       "actor_label": f"master{org}@bench.example.com", "organization_id": org,
                       "subject": f"user:{org}", "ip": "127.0.0.1", "user_agent": "bench", "before": None,
                       "after": None, "prev_hash": prev}
            digest = hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":"),
                                               ensure_ascii=False).encode()).hexdigest()
            events.append((seq, now, "accounts:login:succeeded", org, payload["actor_label"], org, f"user:{org}",
                           "127.0.0.1", "bench", None, None, prev, digest))
            prev = digest
        copy_rows(conn, "audit_events", ["seq", "created_at", "tag", "actor_id", "actor_label", "organization_id",
                                         "subject", "ip", "user_agent", "before", "after", "prev_hash", "hash"],
                  events)
        cur.execute("UPDATE audit_chain_head SET length = %s, last_hash = %s WHERE id = 1", (len(events), prev))
        # What the portal's own writes would have left (portal/shared/data_versions.py): a data version per
        # organization and the catalog's (the migration gives them to organizations that exist when it runs).
        cur.execute("DELETE FROM data_versions")
        copy_rows(conn, "data_versions", ["scope", "token"],
                  ((scope, secrets.token_hex(16)) for scope in range(orgs + 1)))
        conn.commit()
        # As a database in service would be: vacuumed (visibility map set, so index-only scans work and
        # autovacuum does not start on the fresh tables in the middle of the measurement) and analysed.
        conn.autocommit = True
        cur.execute("VACUUM (ANALYZE)")
    print(f"dataset: {orgs} organizations × {subs} subscriptions × {invoices} invoices in "
          f"{time.perf_counter() - started:.0f} s", flush=True)
    return {"master": "master1@bench.example.com", "staff": "compliance@bench.example.com",
            "finance": "financeiro@bench.example.com", "org": 1}


class Browser:
    """Signs in through the real form (CSRF token, cookies) and hands wrk the session cookie."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=30) as response:  # noqa: S310 - our loopback server
            return response.read().decode()

    def post(self, path: str, data: dict) -> str:
        body = urllib.parse.urlencode(data).encode()
        with self.opener.open(self.base + path, data=body, timeout=30) as response:  # noqa: S310
            return response.read().decode()

    def csrf(self, path: str) -> str:
        return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', self.get(path)).group(1)

    def sign_in(self, email: str, totp: str | None = None) -> None:
        self.post("/entrar", {"csrf_token": self.csrf("/entrar"), "email": email, "password": PASSWORD})
        if totp:
            self.post("/entrar/verificacao", {"csrf_token": self.csrf("/entrar/verificacao"),
                                              "code": pyotp.TOTP(totp).now()})

    @property
    def cookie(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.jar)


def cpu_seconds(process_group: int) -> dict[str, float]:
    """CPU seconds (user + system) used so far by the gunicorn process group and by the PostgreSQL servers."""
    tick = os.sysconf("SC_CLK_TCK")
    used = {"gunicorn": 0.0, "postgres": 0.0}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            data = stat.read_text()
        except OSError:  # the process ended meanwhile
            continue
        name, fields = data[data.index("(") + 1:data.rindex(")")], data[data.rindex(")") + 2:].split()
        seconds = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        if int(fields[2]) == process_group:  # pgrp
            used["gunicorn"] += seconds
        elif name.startswith("postgres"):
            used["postgres"] += seconds
    return used


def load(url: str, cookie: str, seconds: int, connections: int, script: Path, process_group: int) -> dict:
    before = cpu_seconds(process_group)
    wrk = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(script),
         "-H", f"Cookie: {cookie}", url],
        capture_output=True, text=True, check=True, timeout=seconds + 60,
    )
    result = json.loads(wrk.stdout.split("JSON ", 1)[1].splitlines()[0])
    result["rps"] = result["requests"] / result["seconds"]
    after = cpu_seconds(process_group)
    for part in ("gunicorn", "postgres"):  # milliseconds of CPU per request
        result[f"{part}_ms"] = 1000 * (after[part] - before[part]) / max(result["requests"], 1)
    return result


def report(rounds: list[dict[str, dict]], labels: list[str], setting: str) -> None:
    """Each page's round with the median req/s, its ratio to /ping's median, that round's CPU per request, and
    the ratio of CPU per request (gunicorn + PostgreSQL) of /ping to the page's: the steadier figure where the
    machine is shared (a round's throughput also moves with how wrk's connections fall on gunicorn's workers)."""
    print(f"\n{setting}; each page's round with the median req/s, its ratio to /ping's, that round's CPU per "
          f"request (gunicorn workers, PostgreSQL) and the ratio of /ping's CPU per request to the page's")
    print(f"{'page':22} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'ratio':>6} {'errors':>6} {'cpu ms':>7} "
          f"{'pg ms':>6} {'cpu ratio':>9}  all rounds req/s")
    medians = {label: sorted((r[label] for r in rounds), key=lambda result: result["rps"])[len(rounds) // 2]
               for label in labels}
    baseline = medians[labels[0]]["rps"]
    cost = {label: sorted(r[label]["gunicorn_ms"] + r[label]["postgres_ms"] for r in rounds)[len(rounds) // 2]
            for label in labels}
    for label, r in medians.items():
        every = " ".join(f"{one[label]['rps']:.0f}" for one in rounds)
        print(f"{label:22} {r['rps']:8.1f} {r['p50']:8.1f} {r['p95']:8.1f} {r['rps'] / baseline:6.2f} "
              f"{r['errors']:6d} {r['gunicorn_ms']:7.2f} {r['postgres_ms']:6.2f} {cost[labels[0]] / cost[label]:9.2f}"
              f"  {every}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=2000)
    parser.add_argument("--subs", type=int, default=50)
    parser.add_argument("--invoices", type=int, default=36)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=lambda text: [int(n) for n in text.split(",")], default=[2, 8],
                        help="wrk connections, comma-separated: every page is measured at each (default 2,8)")
    parser.add_argument("--workers", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3, help="measure every page this many times, in turn")
    parser.add_argument("--fragment-cache-bytes", type=int, default=None,
                        help="FRAGMENT_CACHE_BYTES for gunicorn (0: every page rendered afresh)")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    parser.add_argument("--no-caches", action="store_true",
                        help="FRAGMENT_CACHE_BYTES=0 and READ_MODEL_CACHE_BYTES=0 (issue 19's measurement)")
    parser.add_argument("--only", help="comma-separated labels of PAGES to load (default: the five of issue 8 and "
                        "17 plus the staff audit trail; 'all': every page)")
    args = parser.parse_args()
    if args.only is None:
        args.only = "Licenças,Faturas,quote preview,Início (Master),bo audit trail"
    elif args.only == "all":
        args.only = None

    from tests.fakes.externals import free_port

    with throwaway_database(args.database_url) as url:
        migrate(url)
        run(url, args, free_port())
    return 0


def run(url: str, args, port: int) -> None:
    """The dataset, gunicorn on `port`, and the load on every page; gunicorn is stopped at the end."""
    gunicorn = None
    try:
        who = build_dataset(url, args.orgs, args.subs, args.invoices)
        env = {**os.environ, "PORTAL_ENV": "production", "SECRET_KEY": secrets.token_urlsafe(32),
               "DATABASE_URL": url, "JOBS_URL": "memory://", "MAIL_BACKEND": "memory",
               "RATELIMIT_ENABLED": "false", "SESSION_COOKIE_SECURE": "false", "PORT": str(port),
               "AUDIT_CHAIN_KEY": secrets.token_hex(32),  # production requires the audit keys
               "AUDIT_SIGNING_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
               "BASE_URL": f"http://127.0.0.1:{port}"}  # production requires it (and trusts only its host)
        if args.fragment_cache_bytes is not None:
            env["FRAGMENT_CACHE_BYTES"] = str(args.fragment_cache_bytes)
        if args.no_caches:  # issue 19's target: every page rendered afresh, the home's read model too
            env.update({"FRAGMENT_CACHE_BYTES": "0", "READ_MODEL_CACHE_BYTES": "0"})
        gunicorn = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers",
             str(args.workers), "--threads", "2", "--worker-class", "gthread", "wsgi:app"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                urllib.request.urlopen(base + "/ping", timeout=2).read()  # noqa: S310
                break
            except OSError:
                time.sleep(0.1)
        # Production cookies are Secure: over plain loopback HTTP the cookie jar would drop them, so the
        # environment above turns that one setting off (everything else is the production configuration).
        browsers = {"master": Browser(base), "finance": Browser(base), "staff": Browser(base)}
        browsers["master"].sign_in(who["master"])
        browsers["finance"].sign_in(who["finance"], totp=STAFF_TOTP)
        browsers["staff"].sign_in(who["staff"], totp=STAFF_TOTP)
        customer = browsers["master"]
        licences = customer.get("/licencas")
        subscription = re.search(r'href="/licencas/(\d+)/alterar"', licences).group(1)
        token_form = customer.get(f"/licencas/{subscription}/alterar")
        csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', token_form).group(1)
        request = urllib.request.Request(base + f"/licencas/{subscription}/alterar", method="POST",
                                         data=urllib.parse.urlencode({"csrf_token": csrf, "quantity": "30"}).encode())
        with customer.opener.open(request, timeout=30) as response:  # noqa: S310
            preview_path = urllib.parse.urlsplit(response.geturl()).path
        filled = {"subscription": subscription, "preview": preview_path,
                  "invoice": re.search(r'href="/faturas/(\d+)"', customer.get("/faturas")).group(1),
                  "ticket": re.search(r'href="/chamados/(\d+)"', customer.get("/chamados")).group(1),
                  "order": re.search(r'href="/pedidos/(\d+)"', customer.get(f"/licencas/{subscription}")).group(1)}
        script = Path(_SCRATCH.name) / "report.lua"
        script.write_text(LUA)
        wanted = set(args.only.split(",")) if args.only else None
        pages = [(label, path.format(**filled), browsers[person]) for label, (person, path) in PAGES.items()
                 if (wanted is None or label in wanted or label == "/ping (trivial)") and label != "staff /ping"]
        cache = "default" if args.fragment_cache_bytes is None else args.fragment_cache_bytes
        cache = "0 and READ_MODEL_CACHE_BYTES 0" if args.no_caches else cache
        for connections in args.connections:
            rounds: list[dict[str, dict]] = []
            for _round in range(args.rounds):  # the pages in turn, so a slow moment of the machine hits them all
                rounds.append({label: load(base + path, browser.cookie, args.seconds, connections, script,
                                           gunicorn.pid)
                               for label, path, browser in pages})
            report(rounds, [label for label, _path, _browser in pages],
                   f"{args.workers} gunicorn workers × 2 threads, wrk -t2 -c{connections} -d{args.seconds}s each, "
                   f"{args.rounds} round(s), FRAGMENT_CACHE_BYTES {cache}")
    finally:
        if gunicorn is not None:
            os.killpg(gunicorn.pid, signal.SIGTERM)
            gunicorn.wait(timeout=30)


if __name__ == "__main__":
    raise SystemExit(main())
