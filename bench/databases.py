"""The benches' database: a new one on BENCH_DATABASE_URL's server (or `--database-url`), else on a throwaway
PostgreSQL cluster; dropped, and the cluster stopped, when the bench ends."""

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def throwaway_database(admin_url: str | None = None) -> Iterator[str]:
    """The URL of a new, empty database, dropped at the end."""
    from tests.fakes.externals import PostgresServer

    server = PostgresServer()
    if admin_url:
        server.admin_url = admin_url
    url = server.create_database()
    try:
        yield url
    finally:
        server.drop_database(url)
        server.stop()


def migrate(url: str) -> None:
    """The portal's schema on `url` (its migrations, as `flask db upgrade` runs them)."""
    from portal.app import create_app
    from portal.extensions import db
    from portal.migrate import upgrade

    app = create_app({"PORTAL_ENV": "test", "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade(app)
        db.engine.dispose()
