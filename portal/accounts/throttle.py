"""Rate limits counted in the database, so every web worker and every machine counts together.

A limit is a spec like "10 per minute;50 per hour" (the syntax Flask-Limiter uses) applied to an identity
("ip:203.0.113.7", "account:ana@cliente.example.com"). Each (scope, identity, window) has one row holding the
hits of its current fixed window, incremented by one atomic INSERT … ON CONFLICT DO UPDATE … RETURNING on
both engines, so two workers can never both read the same count. Identities are stored as SHA-256 only
(no e-mail address or IP in this table).
"""

import hashlib

from flask import current_app
from flask_babel import gettext as _
from limits import parse_many
from sqlalchemy import case, delete
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from portal.accounts.models import ThrottleCounter
from portal.extensions import db
from portal.shared import clock
from portal.shared.errors import ServiceError


class TooManyAttempts(ServiceError):
    """A limit was passed: the attempt is refused unexamined (the view answers 429)."""


def _key(scope: str, identity: str, window: int) -> str:
    digest = hashlib.sha256(identity.encode()).hexdigest()
    return f"{scope}:{identity.partition(':')[0]}:{window}:{digest}"


def _count(key: str, window_start: int, window: int) -> int:
    """Add one hit to `key`'s window starting at `window_start`; the hits of that window, this one included."""
    table = ThrottleCounter.__table__
    insert = postgresql_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(table).values(key=key, window_start=window_start, expires_at=window_start + window, hits=1)
    same_window = table.c.window_start == statement.excluded.window_start
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.key],
        set_={"hits": case((same_window, table.c.hits + 1), else_=1),
              "window_start": statement.excluded.window_start, "expires_at": statement.excluded.expires_at},
    ).returning(table.c.hits)
    return db.session.execute(statement).scalar_one()


def hit(scope: str, limits: list[tuple[str, str]]) -> None:
    """Count one attempt against each (identity, spec) of `limits` and commit; TooManyAttempts when any
    window is over its amount. Every limit is counted even when an earlier one is already passed, so a
    refused attempt still counts for the account and for the IP. An empty identity is not counted."""
    if not current_app.config["RATELIMIT_ENABLED"]:  # benches sign in many times from one address
        return
    now = int(clock.now().timestamp())
    db.session.execute(delete(ThrottleCounter).where(ThrottleCounter.expires_at <= now))
    passed = False
    for identity, spec in limits:
        if identity.partition(":")[2] == "":
            continue
        for item in parse_many(spec):
            window = item.get_expiry()
            if _count(_key(scope, identity, window), now - now % window, window) > item.amount:
                passed = True
    db.session.commit()
    if passed:
        raise TooManyAttempts(_("Muitas tentativas em pouco tempo. Aguarde um minuto e tente de novo."))


def count(scope: str, identity: str, spec: str) -> tuple[int, int, int]:
    """Count one request of `identity` against the first limit of `spec` (e.g. "120 per minute"), committed →
    (the limit, requests left in the window — negative once it is passed —, seconds until it resets): the REST
    API's RateLimit-* headers.
    Nothing is counted when limits are off (RATELIMIT_ENABLED=false): the whole limit stays left."""
    item = parse_many(spec)[0]
    window = item.get_expiry()
    now = int(clock.now().timestamp())
    start = now - now % window
    if not current_app.config["RATELIMIT_ENABLED"]:
        return item.amount, item.amount, start + window - now
    hits = _count(_key(scope, identity, window), start, window)
    db.session.commit()
    return item.amount, item.amount - hits, start + window - now
