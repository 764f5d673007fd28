"""GET /saude (public): the database answers, nothing more; GET /saude/detalhes (staff): orders reach the provider
within the promised 30 minutes."""

import socket
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


# ---------------------------------------------------------------- liveness and readiness (issue 19)

def test_liveness_answers_without_any_io(app_ctx, monkeypatch):
    from portal import jobs

    def no_io(*_args, **_kwargs):
        raise AssertionError("/saude/vivo must not touch the database or the job storage")

    monkeypatch.setattr(db.session, "execute", no_io)
    monkeypatch.setattr(jobs.huey.storage, "queue_size", no_io)
    body = check(app_ctx.test_client(), 200, "/saude/vivo")
    assert body == {"status": "ok"}


def test_readiness_lists_each_check_and_nothing_else(client, world):
    with clock.frozen(NOW):
        make_order(world.other, status=OrderStatus.SENT, created_at=NOW - timedelta(hours=2))  # overdue
        body = check(client, 200, "/saude/pronto")
    assert body == {"status": "ok", "checks": {"database": "ok", "jobs": "ok", "documents": "ok"}}


def test_readiness_is_503_when_the_database_does_not_answer(client, unreachable_database):
    body = check(client, 503, "/saude/pronto")
    assert body == {"status": "error", "checks": {"database": "error", "jobs": "ok", "documents": "error"}}


@pytest.fixture
def job_storage(app_ctx, monkeypatch):
    """`job_storage(url)`: the app's Huey replaced by one on Redis at `url` for the test (as the app makes it, with
    its timeouts; `redis_timeout` shortens them)."""
    from portal.jobs import make_huey

    made = []

    def use(url, **timeouts):
        huey = make_huey(url, **timeouts)
        made.append(huey)
        monkeypatch.setitem(app_ctx.extensions, "huey", huey)
        return huey

    yield use
    for huey in made:
        huey.storage.conn.close()


def test_readiness_is_503_when_redis_does_not_answer(client, job_storage):
    job_storage("redis://127.0.0.1:1/0")  # nothing listens on port 1: connection refused
    body = check(client, 503, "/saude/pronto")
    assert body == {"status": "error", "checks": {"database": "ok", "jobs": "error", "documents": "ok"}}


def test_readiness_is_503_when_redis_accepts_but_never_answers(client, job_storage):
    """A Redis that hangs (the connection opens, no reply comes): the check gives up after the socket timeout."""
    with socket.create_server(("127.0.0.1", 0)) as silent:
        job_storage(f"redis://127.0.0.1:{silent.getsockname()[1]}/0", redis_timeout=0.5)
        response = client.get("/saude/pronto")  # (without a socket timeout, this would never return)
    assert response.status_code == 503
    assert response.json == {"status": "error", "checks": {"database": "ok", "jobs": "error", "documents": "ok"}}


def test_readiness_is_ok_with_redis_answering(client, job_storage, redis_url):
    from tests.jobs.support import private_redis_db

    with private_redis_db(redis_url) as url:
        job_storage(url)
        body = check(client, 200, "/saude/pronto")
    assert body == {"status": "ok", "checks": {"database": "ok", "jobs": "ok", "documents": "ok"}}


def test_readiness_reads_the_sqlite_job_storage(client, app_ctx, monkeypatch, tmp_path):
    from huey import SqliteHuey

    path = tmp_path / "jobs.db"
    huey = SqliteHuey("portal", filename=str(path))
    monkeypatch.setitem(app_ctx.extensions, "huey", huey)
    assert check(client, 200, "/saude/pronto")["checks"]["jobs"] == "ok"
    huey.storage.close()
    path.write_bytes(b"not a database, as after a bad restore" * 200)
    assert check(client, 503, "/saude/pronto")["checks"]["jobs"] == "error"
    huey.storage.close()


def test_metrics_still_answer_when_the_database_does_not(client, unreachable_database, monkeypatch):
    from tests.observability.helpers import TOKEN, scrape, value

    monkeypatch.setitem(client.application.config, "METRICS_TOKEN", TOKEN)
    client.get("/ping")
    samples = scrape(client)
    assert value(samples, "portal_business_metrics_up") == 0
    assert value(samples, "portal_jobs_storage_up") == 1
    assert value(samples, "portal_http_requests_total", route="health.ping", method="GET", status="200") >= 1
    assert not any(name == "portal_orders" for name, _labels in samples)


def test_readiness_is_503_when_the_document_folder_cannot_be_written(client, app_ctx, monkeypatch, tmp_path):
    blocked = tmp_path / "documents"
    blocked.write_text("a file where the store's folder should be")  # as after a bad mount
    monkeypatch.setitem(app_ctx.config, "DOCUMENT_STORE", "filesystem")
    monkeypatch.setitem(app_ctx.config, "DOCUMENT_STORE_DIR", str(blocked / "inside"))
    monkeypatch.setitem(app_ctx.extensions, "document_backends", {})
    body = check(client, 503, "/saude/pronto")
    assert body == {"status": "error", "checks": {"database": "ok", "jobs": "ok", "documents": "error"}}
    monkeypatch.setitem(app_ctx.config, "DOCUMENT_STORE_DIR", str(tmp_path / "fine"))
    monkeypatch.setitem(app_ctx.extensions, "document_backends", {})
    assert check(client, 200, "/saude/pronto")["checks"]["documents"] == "ok"


def test_readiness_is_503_while_the_s3_bucket_is_down(client, app_ctx, monkeypatch):
    import boto3

    from tests.fakes.s3 import CREDENTIALS, MotoServer

    server = MotoServer().start()
    try:
        boto3.client("s3", endpoint_url=server.url, region_name="us-east-1", aws_access_key_id="testing",
                     aws_secret_access_key="testing").create_bucket(Bucket="portal-readiness")
        settings = {"DOCUMENT_STORE": "s3", "DOCUMENT_STORE_S3_BUCKET": "portal-readiness",
                    "DOCUMENT_STORE_S3_ENDPOINT_URL": server.url, "DOCUMENT_STORE_S3_TIMEOUT": 2, **CREDENTIALS}
        for key, value in settings.items():
            monkeypatch.setitem(app_ctx.config, key, value)
        monkeypatch.setitem(app_ctx.extensions, "document_backends", {})
        assert check(client, 200, "/saude/pronto")["checks"]["documents"] == "ok"
    finally:
        server.stop()
    body = check(client, 503, "/saude/pronto")
    assert body == {"status": "error", "checks": {"database": "ok", "jobs": "ok", "documents": "error"}}
