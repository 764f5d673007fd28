"""The health endpoint: is the database answering, and are orders reaching the provider in time.

GET /saude, public, counts only (three COUNT queries), never cached. The HTTP status is what load
balancers read, so it says whether *this node* can serve:

- 200 {"status": "ok"}: the database answers and no order is past the 30-minute promise;
- 200 {"status": "degraded"}: the database answers but orders are overdue. The node still serves;
  taking it out of the pool would not make the provider faster, so monitoring reads the body instead;
- 503 {"status": "error", "database": "error"}: the database does not answer; this node cannot serve.
"""

import contextlib

from flask import Blueprint, current_app, jsonify
from sqlalchemy.exc import SQLAlchemyError

from portal.extensions import db
from portal.shared import clock
from portal.shared.permissions import public
from portal.subscriptions import orders

bp = Blueprint("health", __name__)


@bp.get("/saude")
@public
def health():
    now = clock.now()
    try:
        counts = orders.health_counts(now)
    except SQLAlchemyError:
        current_app.logger.exception("health check: the database did not answer")
        with contextlib.suppress(SQLAlchemyError):  # the connection may be gone: nothing to roll back then
            db.session.rollback()
        body, status = {"status": "error", "database": "error", "checked_at": now.isoformat()}, 503
    else:
        body = {
            "status": "degraded" if counts["orders_overdue"] else "ok",
            "database": "ok",
            **counts,
            "checked_at": now.isoformat(),
        }
        status = 200
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/ping")
@public
def ping():
    """Liveness: the process answers (no database). Load balancers' cheapest check, and the benchmark's
    baseline for "what does a request cost here"."""
    response = current_app.response_class("pong\n", mimetype="text/plain")
    response.headers["Cache-Control"] = "no-store"
    return response
