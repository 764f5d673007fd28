"""Each organization's data version, so a read model can keep what it computed until the data it read changes.

A version is a random token, replaced at commit in every transaction that wrote any row of the organization; one
more token (scope 0, `GLOBAL`) stands for the data every organization reads (the catalog: families, products,
prices). A read model keyed by an organization's tokens and the day (`cached`) is recomputed exactly when one of
them changed: no time-to-live, and no writer has to remember to invalidate anything.

Whose row a write is comes from the row's class, so a new model cannot be forgotten, only classified too broadly:

- a class with an `organization_id` column: that organization (`__organization_data__ = "self"`: the row's own id,
  the Organization);
- `__organization_via__ = "invoice_id"`: the organization of the row that foreign key points to (a boleto's is its
  invoice's), looked up at commit with one query per parent class;
- `__organization_data__ = False`: rows no read model reads (sessions, throttles, the audit chain, e-mail records);
- anything else (`__organization_data__ = "global"`, the catalog): the global token, renewing every organization's
  read models. That is also what an unclassified class gets (tests/shared/test_data_versions.py names them).

ORM writes are seen at flush. A Core INSERT, UPDATE or DELETE run through the session is seen by its table: with the
execution option `organization_ids` it touches those organizations, without it the global token. Writes that bypass
the session (the billing run's COPY) call `touch`. The tokens are replaced by one statement just before the commit,
in scope order, so two writers never wait on each other in opposite orders (a statement built once: on PostgreSQL
the scopes and tokens go as two arrays, so 200 organizations cost what one does to parse and plan); every writer
already queues on the audit chain's head at that moment (portal/shared/audit.py), so this adds no new point of
waiting.

Tokens are random rather than counters, so two databases (the tests') never show a cache the same version of
different data. A transaction's own writes are not in the tokens before it commits: `tokens()` returns None when
the session has written the organization's (or global) data, and the caller computes afresh.
"""

import secrets
from collections.abc import Callable, Hashable, Iterable
from typing import Any, TypeVar

from flask import current_app
from sqlalchemy import Integer, String, bindparam, event, inspect, select, text
from sqlalchemy.orm import Mapped, ORMExecuteState, Session, mapped_column

from portal.extensions import db

GLOBAL = 0  # the scope of the data every organization reads
_TOUCHED = "data_versions.touched"  # session.info: the scopes this transaction wrote
_PARENTS = "data_versions.parents"  # session.info: {parent class: ids} whose organizations are looked up at commit

T = TypeVar("T")


class DataVersion(db.Model):
    """One row per scope (an organization's id, or 0 for the global data): its current token."""

    __tablename__ = "data_versions"
    __organization_data__ = False  # the versions themselves

    scope: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    token: Mapped[str] = mapped_column(String(32))


# ---------------------------------------------------------------- which scope a row belongs to

class _Rule:
    SKIP, GLOBAL, COLUMN, SELF, VIA = "skip", "global", "column", "self", "via"


_rules: dict[type, tuple[str, Any]] = {}


def rule_for(cls: type) -> tuple[str, Any]:
    """How a row of `cls` names its organization: (kind, detail), detail being the parent class and foreign key
    column for `via`."""
    found = _rules.get(cls)
    if found is not None:
        return found
    declared = cls.__dict__.get("__organization_data__", getattr(cls, "__organization_data__", None))
    via = getattr(cls, "__organization_via__", None)
    columns = inspect(cls).columns
    if declared is False:
        found = (_Rule.SKIP, None)
    elif declared == "self":
        found = (_Rule.SELF, None)
    elif declared == "global":
        found = (_Rule.GLOBAL, None)
    elif "organization_id" in columns:
        found = (_Rule.COLUMN, None)
    elif via is not None:
        (foreign_key,) = columns[via].foreign_keys
        found = (_Rule.VIA, (_class_of_table(foreign_key.column.table.name), via))
    else:
        found = (_Rule.GLOBAL, None)
    _rules[cls] = found
    return found


def declared(cls: type) -> bool:
    """Whether `cls` says whose its rows are (an organization_id column, a via, or `__organization_data__`)."""
    return ("organization_id" in inspect(cls).columns or getattr(cls, "__organization_via__", None) is not None
            or getattr(cls, "__organization_data__", None) is not None)


_classes: dict[str, type] = {}


def _class_of_table(name: str) -> type:
    if not _classes:
        _classes.update({mapper.local_table.name: mapper.class_ for mapper in db.Model.registry.mappers})
    return _classes[name]


# ---------------------------------------------------------------- what a transaction wrote

def touch(session: Session, organization_ids: Iterable[int]) -> None:
    """Record that this transaction wrote these organizations' data (writes the session cannot see, e.g. COPY)."""
    session.info.setdefault(_TOUCHED, set()).update(organization_ids)


def _note(session: Session, obj: Any, *, current: bool) -> None:
    kind, detail = rule_for(type(obj))
    if kind == _Rule.SKIP:
        return
    touched = session.info.setdefault(_TOUCHED, set())
    if kind == _Rule.GLOBAL:
        touched.add(GLOBAL)
        return
    attribute = {_Rule.SELF: "id", _Rule.COLUMN: "organization_id", _Rule.VIA: detail and detail[1]}[kind]
    values = {getattr(obj, attribute)}
    if current:  # a dirty row that moved from one organization (or parent) to another: both
        values.update(inspect(obj).attrs[attribute].history.deleted or ())
    for value in values:
        if value is None:
            if kind == _Rule.VIA:
                touched.add(GLOBAL)  # no parent to ask: the safe side
            continue
        if kind == _Rule.VIA:
            session.info.setdefault(_PARENTS, {}).setdefault(detail[0], set()).add(value)
        else:
            touched.add(value)


def _before_flush(session: Session, _context, _instances) -> None:
    # Deleted rows are read now, while they can still be loaded; new and changed ones after the flush, when their
    # ids and foreign keys are set.
    with session.no_autoflush:
        for obj in session.deleted:
            _note(session, obj, current=False)


def _after_flush(session: Session, _context) -> None:
    for obj in session.new:
        _note(session, obj, current=False)
    for obj in session.dirty:
        if obj not in session.deleted and session.is_modified(obj):
            _note(session, obj, current=True)


def _on_execute(state: ORMExecuteState) -> None:
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    table = getattr(state.statement, "table", None)
    kind = rule_for(_class_of_table(table.name))[0] if table is not None else _Rule.GLOBAL
    if kind == _Rule.SKIP:
        return
    named = state.execution_options.get("organization_ids")
    touch(state.session, [GLOBAL] if named is None else named)


def _before_commit(session: Session) -> None:
    session.flush()
    parents = session.info.pop(_PARENTS, None)
    if parents:
        touch(session, _organizations_of(session, parents))
    touched = session.info.pop(_TOUCHED, None)
    if not touched:
        return
    scopes = sorted(touched)
    hexed = secrets.token_bytes(_TOKEN_BYTES * len(scopes)).hex()  # one call: 32 hex characters per scope
    width = 2 * _TOKEN_BYTES
    connection = session.connection()
    if connection.dialect.name == "postgresql":  # two array parameters, whatever the number of scopes
        connection.execute(_RENEW_POSTGRESQL, {"scopes": scopes,
                                               "tokens": [hexed[i:i + width] for i in range(0, len(hexed), width)]})
    else:  # executemany of one prepared statement, in scope order
        connection.execute(_RENEW_OTHER, [{"scope": scope, "token": hexed[i * width:(i + 1) * width]}
                                          for i, scope in enumerate(scopes)])


# The tokens' upsert, built once: each scope's row replaced (or created), in scope order, so two writers lock the rows
# they share in the same order. On PostgreSQL the rows come from two arrays (`unnest`), so the statement's text and
# plan are the same for 1 scope or 2,000 and no per-row parameters are bound.
_TOKEN_BYTES = 16
_RENEW_POSTGRESQL = text(
    "INSERT INTO data_versions (scope, token) "
    "SELECT scope, token FROM unnest(CAST(:scopes AS INTEGER[]), CAST(:tokens AS VARCHAR[])) AS renewed(scope, token) "
    "ORDER BY scope "
    "ON CONFLICT (scope) DO UPDATE SET token = excluded.token")
_RENEW_OTHER = text(
    "INSERT INTO data_versions (scope, token) VALUES (:scope, :token) "
    "ON CONFLICT (scope) DO UPDATE SET token = excluded.token")


def _organizations_of(session: Session, parents: dict[type, set[int]]) -> set[int]:
    """The organizations of the parent rows named by `via` foreign keys (one query per parent class; a parent that
    is itself `via` another is followed up). A parent not found (deleted in this transaction) counts as global."""
    found: set[int] = set()
    while parents:
        cls, ids = parents.popitem()
        kind, detail = rule_for(cls)
        if kind in (_Rule.SKIP,):
            continue
        if kind == _Rule.GLOBAL:
            found.add(GLOBAL)
            continue
        if kind == _Rule.SELF:
            found.update(ids)
            continue
        column = cls.organization_id if kind == _Rule.COLUMN else getattr(cls, detail[1])
        with session.no_autoflush:
            rows = session.execute(select(cls.id, column).where(cls.id.in_(sorted(ids)))).all()
        if len(rows) < len(ids):
            found.add(GLOBAL)
        for _id, value in rows:
            if value is None:
                found.add(GLOBAL)
            elif kind == _Rule.COLUMN:
                found.add(value)
            else:
                parents.setdefault(detail[0], set()).add(value)
    return found


def _after_transaction_end(session: Session, transaction) -> None:
    if transaction.parent is None:  # the session's whole transaction ended (commit or rollback)
        session.info.pop(_TOUCHED, None)
        session.info.pop(_PARENTS, None)


def install() -> None:
    """Listen to every session's writes (once per process)."""
    if event.contains(Session, "after_flush", _after_flush):
        return
    event.listen(Session, "before_flush", _before_flush)
    event.listen(Session, "after_flush", _after_flush)
    event.listen(Session, "do_orm_execute", _on_execute)
    event.listen(Session, "before_commit", _before_commit)
    event.listen(Session, "after_transaction_end", _after_transaction_end)


# ---------------------------------------------------------------- reading

_TOKENS = select(DataVersion.scope, DataVersion.token).where(
    DataVersion.scope.in_(bindparam("scopes", expanding=True)))


def tokens(organization_id: int) -> tuple[str, str | None] | None:
    """The organization's token and the global one (None while nothing global was written), in one query; None when
    its data must be read afresh: this transaction wrote it (or global data) and has not committed, nothing
    recorded a version for it yet, or no read model is kept (READ_MODEL_CACHE_BYTES=0: then no query either)."""
    if not current_app.extensions["read_models"].max_bytes:
        return None
    session = db.session
    found = dict(session.execute(_TOKENS, {"scopes": [GLOBAL, organization_id]}).all())  # flushes pending writes
    touched = session.info.get(_TOUCHED, set())
    if organization_id in touched or GLOBAL in touched or session.info.get(_PARENTS):
        return None
    if organization_id not in found:
        return None
    return found[organization_id], found.get(GLOBAL)


def cached(versions: tuple[str, str | None] | None, key: tuple[Hashable, ...], compute: Callable[[], T]) -> T:
    """`compute()`, or the value it returned before in this process for the same `key` while `versions` (from
    `tokens`) stayed the same. The key must hold everything else the value depends on (the organization, the day)."""
    if versions is None:
        return compute()
    cache = current_app.extensions["read_models"]
    full_key = (key, versions)
    found = cache.get(full_key) if cache.max_bytes else None  # (value,): a value of None is kept too
    if found is None:
        found = (compute(),)
        if cache.max_bytes:
            cache.put(full_key, found)
    return found[0]
