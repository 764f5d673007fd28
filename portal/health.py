"""The health endpoints: is this node's database answering (public), and are orders on time (staff).

GET /saude, public, never cached: only whether the service is up, one `SELECT 1`. The HTTP status is what
load balancers read:

- 200 {"status": "ok", "database": "ok"}: the database answers; this node can serve;
- 503 {"status": "error", "database": "error"}: the database does not answer; this node cannot serve.

It says nothing about the business (how many orders, how late): an anonymous caller learns only up or down.

GET /saude/detalhes, signed-in staff who may read orders ("Pedidos"), never cached: the same check plus
the order counts (three COUNT queries):

- 200 {"status": "ok"}: no order is past the 30-minute promise;
- 200 {"status": "degraded"}: orders are overdue. The node still serves; taking it out of the pool would
  not make the provider faster, so monitoring reads the body instead;
- 503 {"status": "error", "database": "error"} as above.
"""

import contextlib

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from portal.accounts.roles import StaffPermission
from portal.extensions import db
from portal.shared import clock
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
