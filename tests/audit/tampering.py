"""Changing the audit trail behind the portal's back, as someone with write access to the database would."""

from sqlalchemy import text

from portal.extensions import db


def tamper(statement) -> None:
    """Run `statement` on the audit tables directly (on PostgreSQL as a superuser switching the append-only
    triggers off), then forget what the session had loaded."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SET LOCAL session_replication_role = replica"))
    db.session.execute(statement)
    db.session.expire_all()
