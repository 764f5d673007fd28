"""GET /saude: the database answers, and orders reach the provider within the promised 30 minutes."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, orm

from portal.extensions import db
from portal.shared import clock
from portal.subscriptions.models import OrderStatus
from tests.backoffice.routes_orders import make_order

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


def check(client, status):
    response = client.get("/saude")
    assert response.status_code == status
    assert response.headers["Cache-Control"] == "no-store"
    assert response.mimetype == "application/json"
    return response.get_json()


def test_ok_for_anyone_without_signing_in(client):
    with clock.frozen(NOW):
        body = check(client, 200)
    assert body == {"status": "ok", "database": "ok", "orders_open": 0, "orders_overdue": 0,
                    "orders_needing_staff": 0, "checked_at": "2026-03-10T15:00:00+00:00"}


def test_degraded_while_an_order_is_late_but_the_node_still_serves(client, world):
    with clock.frozen(NOW):
        make_order(world.demo)  # on time
        make_order(world.demo, status=OrderStatus.FAILED)  # waiting for staff, not open
        make_order(world.other, status=OrderStatus.SENT, created_at=NOW - timedelta(minutes=29))
        assert check(client, 200)["status"] == "ok"
        clock.advance(timedelta(minutes=2))
        body = check(client, 200)
    assert body["status"] == "degraded" and body["database"] == "ok"
    assert (body["orders_open"], body["orders_overdue"], body["orders_needing_staff"]) == (2, 1, 1)


@pytest.fixture
def unreachable_database(app_ctx):
    """The portal's session pointed at a database of the same engine that does not answer."""
    url = db.engine.url
    if url.get_backend_name() == "sqlite":
        broken = url.set(database="/nonexistent-directory/portal.db")
    else:
        broken = url.set(host="127.0.0.1", port=1)  # nothing listens there: connection refused
    engine = create_engine(broken)
    original = db.session
    db.session = orm.scoped_session(orm.sessionmaker(bind=engine), scopefunc=original.registry.scopefunc)
    try:
        yield
    finally:
        db.session.remove()
        db.session = original
        engine.dispose()


def test_error_when_the_database_does_not_answer(client, unreachable_database):
    with clock.frozen(NOW):
        body = check(client, 503)
    assert body == {"status": "error", "database": "error", "checked_at": "2026-03-10T15:00:00+00:00"}


def test_ping_answers_without_the_database(app_ctx, monkeypatch):
    from portal.extensions import db

    def no_database(*_args, **_kwargs):
        raise AssertionError("/ping must not touch the database")

    monkeypatch.setattr(db.session, "execute", no_database)
    response = app_ctx.test_client().get("/ping")
    assert response.status_code == 200 and response.get_data(as_text=True) == "pong\n"
    assert response.headers["Cache-Control"] == "no-store"
