"""Fixtures: the app on each database engine, a rolled-back transaction per test, logins, servers.

The schema is built once per engine by running the migrations; every test then runs inside a
transaction that is rolled back at its end (savepoints absorb the code's own commits). Tests
that need real commits (concurrency, consumers, the browser) get a fresh database of their own.
"""

import os
import tempfile
import threading
from pathlib import Path
from types import SimpleNamespace

# Settings for the whole test process, before the portal is imported (the Huey instance reads them).
os.environ["PORTAL_ENV"] = "test"
os.environ["JOBS_URL"] = "memory://"
os.environ["MAIL_BACKEND"] = "memory"
os.environ["PASSWORD_HASH_METHOD"] = "pbkdf2:sha256:1000"
os.environ["LOGIN_RATE_LIMIT"] = "1000 per minute"
os.environ.setdefault("PORTAL_INSTANCE_DIR", tempfile.mkdtemp(prefix="portal-instance-"))

import pytest  # noqa: E402
from sqlalchemy import orm  # noqa: E402

from portal.app import create_app  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.migrate import upgrade  # noqa: E402
from tests.fakes.externals import (  # noqa: E402
    CHROMIUM_ARGS,
    PostgresServer,
    RedisServer,
    SMTPSink,
    chromium_path,
    new_sqlite_url,
)

ENGINES = ["sqlite", "postgresql"]


# ---------------------------------------------------------------- servers

@pytest.fixture(scope="session")
def pg_server():
    server = PostgresServer()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_url():
    server = RedisServer()
    yield server.ensure()
    server.stop()


@pytest.fixture
def smtp_sink():
    sink = SMTPSink().start()
    yield sink
    sink.stop()


@pytest.fixture(scope="session")
def workdir():
    return Path(tempfile.mkdtemp(prefix="portal-tests-"))


# ---------------------------------------------------------------- databases and apps

def app_settings(database_url: str, **extra) -> dict:
    return {
        "PORTAL_ENV": "test",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "WTF_CSRF_ENABLED": False,
        "JOBS_URL": "memory://",
        "MAIL_BACKEND": "memory",
        "PROVISIONING_SIMULATOR_DELAY_SECONDS": 0,  # tests that want a 202 set a delay themselves
        "BASE_URL": "http://portal.test",
        "SERVER_NAME": None,
        **extra,
    }


@pytest.fixture(autouse=True)
def _clock_not_left_frozen():
    """The clock is one global of the process (the live server of the browser tests reads it too): a test that
    leaves it frozen — e.g. `clock.frozen` entered in two threads, whose exits restore each other's state — fails
    here, by name, instead of every later two-factor sign-in."""
    from portal.shared import clock

    yield
    if clock._frozen is not None:
        left = clock._frozen
        clock._frozen = None
        pytest.fail(f"the test left the clock frozen at {left.isoformat()}")


@pytest.fixture(scope="session")
def fresh_database(pg_server, workdir):
    """Factory: `fresh_database(engine)` → URL of a new, empty database (dropped at the end)."""
    created: list[str] = []

    def make(engine: str) -> str:
        if engine == "sqlite":
            return new_sqlite_url(workdir)
        url = pg_server.create_database()
        created.append(url)
        return url

    yield make
    for url in created:
        pg_server.drop_database(url)


_APPS_MADE: list = []  # every app `make_app` made in this process, in order


def _close_pools(apps) -> None:
    for made in apps:
        with made.app_context():
            db.engine.dispose()


@pytest.fixture(autouse=True)
def _pools_of_the_test_closed():
    """The apps a test made keep their pooled connections open until the session ends (the factory is the
    session's): after ~40 PostgreSQL apps the server's 200 connections were gone ("too many clients already",
    failing whichever test connected next). Their pools are closed when the test ends; an app still used by a
    later test (a module's or the session's) simply opens new connections."""
    before = len(_APPS_MADE)
    yield
    _close_pools(_APPS_MADE[before:])


@pytest.fixture(scope="session")
def make_app(fresh_database):
    """Factory: a migrated app on a new database of `engine`, committing for real."""

    def make(engine: str, **extra):
        app = create_app(app_settings(fresh_database(engine), **extra))
        with app.app_context():
            upgrade(app)
            db.session.remove()
        _APPS_MADE.append(app)
        return app

    yield make
    _close_pools(_APPS_MADE)


@pytest.fixture(scope="session", params=ENGINES)
def engine_name(request):
    return request.param


@pytest.fixture(scope="session")
def app(engine_name, make_app):
    return make_app(engine_name)


@pytest.fixture
def app_ctx(app):
    """An app context whose sessions all share one connection; everything is rolled back afterwards."""
    with app.app_context():
        connection = db.engine.connect()
        transaction = connection.begin()
        original = db.session
        factory = orm.sessionmaker(bind=connection, join_transaction_mode="create_savepoint")
        db.session = orm.scoped_session(factory, scopefunc=original.registry.scopefunc)
        app.extensions["mailer"].outbox.clear()
        try:
            yield app
        finally:
            db.session.remove()
            db.session = original
            transaction.rollback()
            connection.close()


@pytest.fixture
def store_down(app_ctx, monkeypatch, tmp_path):
    """The document store is down for this test: a folder that cannot be made (its parent is a file). The fixture's
    value, `store_down()`, brings it back up (a folder that can be made)."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setitem(app_ctx.config, "DOCUMENT_STORE", "filesystem")
    monkeypatch.setitem(app_ctx.config, "DOCUMENT_STORE_DIR", str(blocker / "documents"))
    app_ctx.extensions["document_backends"] = {}

    def back_up() -> None:
        monkeypatch.setitem(app_ctx.config, "DOCUMENT_STORE_DIR", str(tmp_path / "documents"))
        app_ctx.extensions["document_backends"] = {}

    yield back_up
    app_ctx.extensions["document_backends"] = {}


@pytest.fixture
def outbox(app_ctx):
    """E-mails sent (through the real job, inline) during the test."""
    return app_ctx.extensions["mailer"].outbox


@pytest.fixture
def client(app_ctx):
    return app_ctx.test_client()


# ---------------------------------------------------------------- people

@pytest.fixture
def world(app_ctx):
    """Two customer organizations with a user per role, and one staff user per staff role."""
    from tests import factories

    demo = factories.OrganizationFactory(legal_name="Demo Tecnologia Ltda", trade_name="Demo Tecnologia")
    other = factories.OrganizationFactory(legal_name="Outra Empresa S.A.", trade_name="Outra Empresa")
    people = SimpleNamespace(demo=demo, other=other)
    for role in ("master", "adm", "cobranca", "suporte"):
        membership = factories.MembershipFactory(organization=demo, roles=[role], user__name=f"{role.title()} Demo")
        setattr(people, role, membership.user)
        setattr(people, f"{role}_membership", membership)
    people.other_master_membership = factories.MembershipFactory(organization=other, roles=["master"])
    people.other_master = people.other_master_membership.user
    for role in ("comercial", "financeiro", "suporte", "compliance", "admin"):
        setattr(people, f"staff_{role}", factories.StaffUserFactory(roles=[role]))
    db.session.commit()
    return people


def sign_in(client, user, organization=None):
    """Put `user` in the test client's session as if the sign-in (and two-factor) had happened."""
    from portal.accounts.context import SESSION_KEY
    from portal.accounts.service import open_session
    from portal.extensions import db
    from portal.shared import clock

    key = open_session(user)
    db.session.commit()  # as a sign-in does: a view's rollback must not take the session back
    with client.session_transaction() as session:
        session[SESSION_KEY] = key
        session["_user_id"] = user.get_id()
        session["_fresh"] = True
        session["seen"] = session["started"] = int(clock.now().timestamp())
        if organization is not None:
            session["org_id"] = organization.id
    return client


@pytest.fixture
def login_as(client, world):
    """`login_as("adm")`, `login_as("staff_admin")`, `login_as("other_master")` → the signed-in client."""

    def login(who: str):
        sign_in(client, getattr(world, who))
        return client

    return login


# ---------------------------------------------------------------- browser

@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    path = chromium_path()
    return {**browser_type_launch_args, "executable_path": path, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def live_server(engine_name, make_app):
    """The portal on a real HTTP server (own database, CSRF on, demo data loaded)."""
    from werkzeug.serving import make_server

    from portal import demo

    app = make_app(engine_name, WTF_CSRF_ENABLED=True)
    with app.app_context():
        demo.load(app.config["DEMO_PASSWORD"], app.config["PASSWORD_HASH_METHOD"])
    server = make_server("127.0.0.1", 0, app, threaded=True)
    app.config["BASE_URL"] = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield SimpleNamespace(url=app.config["BASE_URL"], app=app)
    server.shutdown()
