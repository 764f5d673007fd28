"""Migrations: one head, dated file names with a message, upgrade on an empty database, models agree."""

import re
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from portal.extensions import db
from portal.migrate import alembic_config

VERSIONS = Path(__file__).resolve().parent.parent / "portal" / "migrations" / "versions"


def _script(app) -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config(app))


def test_exactly_one_head(app):
    heads = _script(app).get_heads()
    assert len(heads) == 1, f"several migration heads, merge them: {heads}"


def test_files_are_dated_and_every_revision_has_a_message(app):
    files = sorted(p.name for p in VERSIONS.glob("*.py"))
    assert files
    for name in files:
        assert re.match(r"^\d{4}_\d{2}_\d{2}_\d{4}-\w+\.py$", name), name
    for revision in _script(app).walk_revisions():
        assert revision.doc and revision.doc.strip(), revision.revision


def test_upgrade_on_an_empty_database_creates_every_table(app):
    # `app` was built by running every migration on an empty database of this engine.
    with app.app_context():
        tables = set(inspect(db.engine).get_table_names())
    assert set(db.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_models_and_migrations_agree(app):
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, db.metadata)
    assert differences == [], f"run `flask db revision --autogenerate`: {differences}"


def test_downgrade_to_nothing_and_up_again(make_app, engine_name):
    from alembic import command

    app = make_app(engine_name)
    config = alembic_config(app)
    command.downgrade(config, "base")
    with app.app_context():
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
    command.upgrade(config, "head")
    with app.app_context():
        assert set(db.metadata.tables) <= set(inspect(db.engine).get_table_names())
