"""Alembic environment: runs against the portal app's database (or a connection handed in by tests)."""

from alembic import context

import portal.models  # noqa: F401 - registers every table on the metadata
from portal.extensions import db

config = context.config
target_metadata = db.metadata


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite ALTERs go through table copies
        compare_type=True,
        compare_server_default=False,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    app = config.attributes.get("app")
    if app is None:
        from portal.app import create_app

        app = create_app()
    with app.app_context(), db.engine.connect() as connection:
        _run(connection)
        connection.commit()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run `flask db upgrade`")
run_migrations_online()
