"""The audit trail: chained appends in the action's transaction, tamper detection, the PostgreSQL guard, concurrency."""

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError

from portal.extensions import db
from portal.shared import clock
from portal.shared.audit import (
    GENESIS_HASH,
    Actor,
    AuditChainHead,
    AuditEvent,
    AuditTag,
    NewEvent,
    VerifyResult,
    record,
    record_many,
    verify,
)
from tests.audit.tampering import tamper

SYSTEM = Actor.system("tests")


def _append(count: int, organization_id: int | None = None) -> list[AuditEvent]:
    events = [
        record(AuditTag.PROFILE_UPDATED, actor=SYSTEM, organization_id=organization_id, subject=f"user:{n}",
               before={"name": f"antes {n}"}, after={"name": f"depois {n}", "acentos": "ação"})
        for n in range(count)
    ]
    db.session.commit()
    return events




def test_events_are_chained_in_order(app_ctx):
    first, second, third = _append(3)
    assert (first.seq, second.seq, third.seq) == (1, 2, 3)
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash and third.prev_hash == second.hash
    assert third.hash == third.compute_hash()
    head = db.session.get(AuditChainHead, 1)
    assert (head.length, head.last_hash) == (3, third.hash)
    assert verify() == verify().__class__(ok=True, checked=3)


def test_what_is_stored_is_what_was_hashed(app_ctx):
    [event] = _append(1)
    db.session.expire_all()
    stored = db.session.get(AuditEvent, event.seq)
    assert stored.after == {"name": "depois 0", "acentos": "ação"}
    assert stored.compute_hash() == stored.hash


def test_the_event_rolls_back_with_the_action(app_ctx):
    _append(2)
    record(AuditTag.PROFILE_UPDATED, actor=SYSTEM, subject="user:99")
    db.session.rollback()
    assert db.session.scalar(select(AuditChainHead.length)) == 2
    [again] = _append(1)
    assert again.seq == 3
    assert verify().ok


@pytest.mark.parametrize(
    ("change", "broken", "reason"),
    [
        (lambda: update(AuditEvent).where(AuditEvent.seq == 2).values(actor_label="outra pessoa"), 2, "content"),
        (lambda: update(AuditEvent).where(AuditEvent.seq == 3).values(after={"name": "forjado"}), 3, "content"),
        (lambda: delete(AuditEvent).where(AuditEvent.seq == 2), 2, "missing"),
        (lambda: delete(AuditEvent).where(AuditEvent.seq == 4), 4, "removed"),
    ],
    ids=["edited-label", "edited-after", "deleted-middle", "deleted-last"],
)
def test_verify_names_the_first_broken_event(app_ctx, change, broken, reason):
    _append(4)
    tamper(change())
    result = verify()
    assert not result.ok
    assert result.broken_seq == broken
    assert reason in result.reason


def test_a_rewritten_chain_still_fails_at_the_head(app_ctx):
    # Recomputing a row's hash after editing it breaks the next row's link instead.
    _append(3)
    event = db.session.get(AuditEvent, 2)
    event.actor_label = "outra pessoa"
    new_hash = event.compute_hash()
    db.session.expunge(event)
    tamper(update(AuditEvent).where(AuditEvent.seq == 2).values(actor_label="outra pessoa", hash=new_hash))
    result = verify()
    assert (result.ok, result.broken_seq) == (False, 3)
    assert "link" in result.reason


def test_postgresql_refuses_to_change_history(make_app):
    # The trigger exists on PostgreSQL only; on SQLite, verify() is what catches a change.
    app = make_app("postgresql")
    with app.app_context():
        _append(2)
        for statement in ("UPDATE audit_events SET actor_label = 'x'", "DELETE FROM audit_events",
                          "TRUNCATE audit_events"):
            with pytest.raises(DBAPIError, match="append-only"):
                db.session.execute(text(statement))
            db.session.rollback()
        assert verify().ok and verify().checked == 2


def test_audit_verify_command(make_app, engine_name):
    app = make_app(engine_name)
    runner = app.test_cli_runner()
    with app.app_context():
        _append(3)
    intact = runner.invoke(args=["audit", "verify"])
    assert intact.exit_code == 0 and "intact: 3 events" in intact.output
    with app.app_context():
        tamper(update(AuditEvent).where(AuditEvent.seq == 2).values(subject="user:forjado"))
        db.session.commit()
    broken = runner.invoke(args=["audit", "verify"])
    assert broken.exit_code == 1
    assert "BROKEN at event 2" in broken.output


def test_concurrent_writers_keep_one_gapless_chain(make_app, engine_name):
    app = make_app(engine_name)
    writers, per_writer = 6, 15
    errors: list[BaseException] = []
    start = threading.Barrier(writers)

    def write(n: int) -> None:
        try:
            with app.app_context():
                start.wait()
                for i in range(per_writer):
                    record(AuditTag.PROFILE_UPDATED, actor=SYSTEM, subject=f"user:{n}", after={"i": i})
                    db.session.commit()
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    with app.app_context():
        seqs = list(db.session.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq)))
        assert seqs == list(range(1, writers * per_writer + 1))
        result = verify()
        assert result.ok and result.checked == writers * per_writer


# ---------------------------------------------------------------- record_many: many events, one append

def _events(count: int, first: int = 0) -> list[NewEvent]:
    return [NewEvent(AuditTag.INVOICE_ISSUED, organization_id=n % 3 or None, subject=f"invoice:{n}",
                     before=None if n % 2 else {"n": n}, after={"number": f"2026/{n:06d}", "acentos": "ação"})
            for n in range(first, first + count)]


def test_record_many_writes_the_rows_record_would(app_ctx):
    # Same instant, same events: one record() each, then (rolled back) one record_many() → identical rows.
    with clock.frozen(datetime(2026, 4, 1, 9, tzinfo=UTC)):
        _append(2)
        one_by_one = [record(e.tag, actor=SYSTEM, organization_id=e.organization_id, subject=e.subject,
                             before=e.before, after=e.after) for e in _events(4)]
        expected = [(e.seq, e.tag, e.organization_id, e.subject, e.before, e.after, e.prev_hash, e.hash)
                    for e in one_by_one]
        db.session.rollback()
        rows = record_many(_events(4), actor=SYSTEM)
        db.session.commit()
    assert [(r["seq"], r["tag"], r["organization_id"], r["subject"], r["before"], r["after"], r["prev_hash"],
             r["hash"]) for r in rows] == expected
    db.session.expire_all()
    stored = db.session.scalars(select(AuditEvent).where(AuditEvent.seq > 2).order_by(AuditEvent.seq)).all()
    assert [(e.seq, e.hash, e.compute_hash(), e.before, e.after) for e in stored] == [
        (r["seq"], r["hash"], r["hash"], r["before"], r["after"]) for r in rows]
    head = db.session.get(AuditChainHead, 1)
    assert (head.length, head.last_hash) == (6, rows[-1]["hash"])
    assert verify() == VerifyResult(ok=True, checked=6)
    # An absent `before` is stored the same way by both (not SQL NULL by one and JSON null by the other).
    db.session.rollback()
    record(AuditTag.PROFILE_UPDATED, actor=SYSTEM, before=None)
    record_many([NewEvent(AuditTag.PROFILE_UPDATED, before=None)], actor=SYSTEM)
    by_record, by_record_many = db.session.execute(
        text("SELECT before IS NULL, after IS NULL FROM audit_events WHERE seq IN (7, 8) ORDER BY seq")).all()
    assert tuple(by_record) == tuple(by_record_many)


def test_a_chain_of_record_and_record_many_verifies(app_ctx):
    _append(2)
    record_many(_events(5), actor=Actor.system("billing"))
    _append(1)
    assert record_many([], actor=SYSTEM) == []  # nothing to append: the head is not touched
    record_many(_events(3, first=5), actor=SYSTEM)
    db.session.commit()
    seqs = list(db.session.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq)))
    assert seqs == list(range(1, 12))
    assert verify() == VerifyResult(ok=True, checked=11)
    tamper(update(AuditEvent).where(AuditEvent.seq == 5).values(subject="invoice:forjada"))
    assert (verify().ok, verify().broken_seq) == (False, 5)


def test_record_many_rolls_back_with_the_action(app_ctx):
    _append(1)
    record_many(_events(3), actor=SYSTEM)
    db.session.rollback()
    assert db.session.scalar(select(AuditChainHead.length)) == 1
    [again] = _append(1)
    assert again.seq == 2 and verify().ok


def test_concurrent_record_and_record_many_keep_one_gapless_chain(make_app, engine_name):
    app = make_app(engine_name)
    writers, rounds = 6, 8
    errors: list[BaseException] = []
    start = threading.Barrier(writers)

    def write(n: int) -> None:
        try:
            with app.app_context():
                start.wait()
                for i in range(rounds):
                    if n % 2:
                        record_many(_events(3, first=100 * n + 10 * i), actor=SYSTEM)
                    else:
                        record(AuditTag.PROFILE_UPDATED, actor=SYSTEM, subject=f"user:{n}", after={"i": i})
                    db.session.commit()
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    total = (writers // 2) * rounds * 3 + (writers - writers // 2) * rounds
    with app.app_context():
        seqs = list(db.session.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq)))
        assert seqs == list(range(1, total + 1))
        assert verify() == VerifyResult(ok=True, checked=total)
