"""GET /saude (public): the database answers, nothing more; GET /saude/detalhes (staff): orders reach the provider
within the promised 30 minutes."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, orm

from portal.extensions import db
from portal.shared import clock
from portal.subscriptions.models import OrderStatus
from tests.backoffice.routes_orders import make_order

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


def check(client, status, url="/saude"):
    response = client.get(url)
    assert response.status_code == status
    assert response.headers["Cache-Control"] == "no-store"
    assert response.mimetype == "application/json"
    return response.get_json()


def test_ok_for_anyone_without_signing_in(client):
    with clock.frozen(NOW):
        body = check(client, 200)
    assert body == {"status": "ok", "database": "ok", "checked_at": "2026-03-10T15:00:00+00:00"}


def test_the_public_answer_says_nothing_about_orders(client, world):
    with clock.frozen(NOW):
        make_order(world.demo, status=OrderStatus.FAILED)
        make_order(world.other, status=OrderStatus.SENT, created_at=NOW - timedelta(hours=2))  # overdue
        body = check(client, 200)
    assert body == {"status": "ok", "database": "ok", "checked_at": "2026-03-10T15:00:00+00:00"}
    assert not any(key.startswith("orders") for key in body)


def test_details_need_a_signed_in_staff_user_who_reads_orders(client, world, login_as):
    assert client.get("/saude/detalhes").status_code == 302  # to the sign-in page
    assert login_as("master").get("/saude/detalhes").status_code == 404  # customers: no such page
    with clock.frozen(NOW):
        body = check(login_as("staff_suporte"), 200, "/saude/detalhes")
    assert body == {"status": "ok", "database": "ok", "orders_open": 0, "orders_overdue": 0,
                    "orders_needing_staff": 0, "checked_at": "2026-03-10T15:00:00+00:00"}


def test_degraded_while_an_order_is_late_but_the_node_still_serves(client, world, login_as):
    staff = login_as("staff_suporte")
    with clock.frozen(NOW):
        make_order(world.demo)  # on time
        make_order(world.demo, status=OrderStatus.FAILED)  # waiting for staff, not open
        make_order(world.other, status=OrderStatus.SENT, created_at=NOW - timedelta(minutes=29))
        assert check(staff, 200, "/saude/detalhes")["status"] == "ok"
        clock.advance(timedelta(minutes=2))
        body = check(staff, 200, "/saude/detalhes")
        assert check(staff, 200)["status"] == "ok"  # the public answer: the service is up
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


def test_details_say_error_when_the_database_stops_answering(app_ctx, world, login_as, monkeypatch):
    from sqlalchemy.exc import OperationalError

    from portal.subscriptions import orders

    staff = login_as("staff_suporte")  # signed in while the database answered

    def down(_now):
        raise OperationalError("SELECT count(*)", {}, Exception("connection refused"))

    monkeypatch.setattr(orders, "health_counts", down)
    with clock.frozen(NOW):
        body = check(staff, 503, "/saude/detalhes")
    assert body == {"status": "error", "database": "error", "checked_at": "2026-03-10T15:00:00+00:00"}


def test_ping_answers_without_the_database(app_ctx, monkeypatch):
    from portal.extensions import db

    def no_database(*_args, **_kwargs):
        raise AssertionError("/ping must not touch the database")

    monkeypatch.setattr(db.session, "execute", no_database)
    response = app_ctx.test_client().get("/ping")
    assert response.status_code == 200 and response.get_data(as_text=True) == "pong\n"
    assert response.headers["Cache-Control"] == "no-store"
