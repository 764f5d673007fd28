"""The health endpoints: is this process up, can this node serve (public), are orders on time (staff), /metrics.

GET /saude/vivo, public (liveness: a Kubernetes livenessProbe): 200 {"status": "ok"} while the process answers;
no I/O at all, so a slow database never gets a healthy process restarted.

GET /saude/pronto, public (readiness: the load balancer's check, a readinessProbe): every check in READINESS_CHECKS
in turn — the database (`SELECT 1`), the job storage (Huey's Redis or SQLite answers) and the document store
(its folder writable, its bucket reachable) — as {"status": "ok"|"error", "checks": {name: "ok"|"error"}}: 200
when all answer, 503 when one does not. Only those words: no error text, no business data.

GET /saude, public, never cached: only whether the service is up, one `SELECT 1`. The HTTP status is what
load balancers read:

- 200 {"status": "ok", "database": "ok"}: the database answers; this node can serve;
- 503 {"status": "error", "database": "error"}: the database does not answer; this node cannot serve.

It says nothing about the business (how many orders, how late): an anonymous caller learns only up or down.

GET /saude stays what load balancers and monitors configured before the split read (the database only).

GET /metrics: the Prometheus text format, for a scraper holding METRICS_TOKEN as a bearer token; without the setting,
or without the right token, a plain 404 like any unknown address (README "Metrics, logs and health").

GET /saude/detalhes, signed-in staff who may read orders ("Pedidos"), never cached: the same check plus
the order counts (three COUNT queries):

- 200 {"status": "ok"}: no order is past the 30-minute promise;
- 200 {"status": "degraded"}: orders are overdue. The node still serves; taking it out of the pool would
  not make the provider faster, so monitoring reads the body instead;
- 503 {"status": "error", "database": "error"} as above.
"""

import contextlib
import hmac
from collections.abc import Callable

from flask import Blueprint, abort, current_app, jsonify, request
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from portal.accounts.roles import StaffPermission
from portal.extensions import db
from portal.jobs import current_huey
from portal.observability import web as observability
from portal.shared import clock, document_store
from portal.shared.permissions import public, staff_requires
from portal.subscriptions import orders

bp = Blueprint("health", __name__)


def _answer(body: dict, status: int):
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def _database_down(now):
    current_app.logger.exception("health check: the database did not answer")
    with contextlib.suppress(SQLAlchemyError):  # the connection may be gone: nothing to roll back then
        db.session.rollback()
    return _answer({"status": "error", "database": "error", "checked_at": now.isoformat()}, 503)


@bp.get("/saude")
@public
def health():
    now = clock.now()
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return _database_down(now)
    return _answer({"status": "ok", "database": "ok", "checked_at": now.isoformat()}, 200)


def _database() -> None:
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        with contextlib.suppress(SQLAlchemyError):  # the connection may be gone: nothing to roll back then
            db.session.rollback()
        raise


def _job_storage() -> None:
    """Huey's storage answers: a Redis LLEN, or a SELECT on the SQLite queue file (memory: always)."""
    current_huey().storage.queue_size()


# (name, check): a check returns when its dependency answers and raises when it does not.
READINESS_CHECKS: list[tuple[str, Callable[[], None]]] = [
    ("database", _database),
    ("jobs", _job_storage),
    ("documents", document_store.check),  # where new documents go: the database, a folder, or the S3 bucket
]


@bp.get("/saude/vivo")
@public
def liveness():
    return _answer({"status": "ok"}, 200)


@bp.get("/saude/pronto")
@public
def readiness():
    results = {}
    for name, check in READINESS_CHECKS:
        try:
            check()
        except Exception:  # whatever the dependency raised: "error", with the reason in the log only
            current_app.logger.exception("readiness: %s did not answer", name)
            results[name] = "error"
        else:
            results[name] = "ok"
    ready = all(result == "ok" for result in results.values())
    return _answer({"status": "ok" if ready else "error", "checks": results}, 200 if ready else 503)


@bp.get("/metrics")
@public  # not a session route: the scraper's bearer token (METRICS_TOKEN) is checked here
def metrics():
    expected = current_app.config.get("METRICS_TOKEN") or ""
    given = request.headers.get("Authorization", "")
    if not expected or not hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
        abort(404)
    response = current_app.response_class(observability.render(current_app), mimetype="text/plain")
    response.headers["Content-Type"] = "text/plain; version=0.0.4; charset=utf-8"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/saude/detalhes")
@staff_requires(StaffPermission.ORDERS_READ)
def health_details():
    now = clock.now()
    try:
        counts = orders.health_counts(now)
    except SQLAlchemyError:
        return _database_down(now)
    return _answer({"status": "degraded" if counts["orders_overdue"] else "ok", "database": "ok", **counts,
                    "checked_at": now.isoformat()}, 200)


@bp.get("/ping")
@public
def ping():
    """Liveness: the process answers (no database). Load balancers' cheapest check, and the benchmark's
    baseline for "what does a request cost here"."""
    response = current_app.response_class("pong\n", mimetype="text/plain")
    response.headers["Cache-Control"] = "no-store"
    return response
