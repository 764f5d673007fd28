"""`audit verify` speed: events checked per second over a chain of N events (issue 19, point 1).

    .venv/bin/python bench/audit_verify.py --events 100000            # a keyed chain (HMAC-SHA256), a checkpoint
    .venv/bin/python bench/audit_verify.py --events 100000 --plain    # a pre-key chain (plain SHA-256)

Without --database-url (or BENCH_DATABASE_URL) a throwaway PostgreSQL cluster is started (as in the tests). The
plain chain is written row by row as the portal before issue 19 wrote it (so the same script times the code before
the change, exported with `git archive`); the keyed one through `record_many` in batches of 1,000.
"""

import argparse
import hashlib
import json
import os
import resource
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PORTAL_ENV", "test")

from databases import migrate, throwaway_database  # noqa: E402 - bench/databases.py, beside this file


def plain_chain(count: int) -> None:
    from sqlalchemy import insert, update

    from portal.extensions import db
    from portal.shared.audit import GENESIS_HASH, AuditChainHead, AuditEvent

    now, prev, rows = datetime(2026, 12, 1, tzinfo=UTC), GENESIS_HASH, []
    for seq in range(1, count + 1):
        payload = {"seq": seq, "created_at": now.isoformat(), "tag": "accounts:login:succeeded", "actor_id": seq,
                   "actor_label": f"user{seq}@bench.example.com", "organization_id": seq % 100, "subject": None,
                   "ip": "127.0.0.1", "user_agent": "bench", "before": None, "after": {"n": seq}, "prev_hash": prev}
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":"),
                                           ensure_ascii=False).encode()).hexdigest()
        rows.append({**payload, "created_at": now, "hash": digest})
        prev = digest
        if len(rows) == 5000:
            db.session.execute(insert(AuditEvent.__table__), rows)
            rows = []
    if rows:
        db.session.execute(insert(AuditEvent.__table__), rows)
    db.session.execute(update(AuditChainHead).where(AuditChainHead.id == 1).values(length=count, last_hash=prev))
    db.session.commit()


def keyed_chain(count: int) -> None:
    from portal.extensions import db
    from portal.shared.audit import Actor, AuditTag, NewEvent, record_many

    actor = Actor.system("bench")
    for start in range(0, count, 1000):
        record_many([NewEvent(AuditTag.LOGIN_SUCCEEDED, organization_id=n % 100, after={"n": n})
                     for n in range(start, min(count, start + 1000))], actor=actor)
        db.session.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--plain", action="store_true", help="a pre-key chain (plain SHA-256), no checkpoint")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    args = parser.parse_args()

    from portal.app import create_app
    from portal.extensions import db
    from portal.shared import audit

    with throwaway_database(args.database_url) as url:
        migrate(url)
        app = create_app({"PORTAL_ENV": "test", "SQLALCHEMY_DATABASE_URI": url, "JOBS_URL": "memory://",
                          "MAIL_BACKEND": "memory"})
        with app.app_context():
            started = time.perf_counter()
            (plain_chain if args.plain else keyed_chain)(args.events)
            print(f"chain of {args.events} events written in {time.perf_counter() - started:.1f} s", flush=True)
            if not args.plain:
                from portal.audit import checkpoints

                checkpoints.make_checkpoint(actor=audit.Actor.system("bench"))
            for _ in range(args.runs):
                db.session.remove()
                started = time.perf_counter()
                result = audit.verify()
                seconds = time.perf_counter() - started
                assert result.ok and result.checked >= args.events, result
                print(f"verify: {result.checked} events in {seconds:.2f} s = {result.checked / seconds:,.0f} "
                      f"events/s", flush=True)
            db.session.remove()
            db.engine.dispose()
    print(f"process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
