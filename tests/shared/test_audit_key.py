"""The keyed audit chain (issue 19, point 1): HMAC under AUDIT_CHAIN_KEY, key switches recorded in the chain, the
from tests.audit.tampering import tamper
pre-key (plain SHA-256) part of an existing chain, and rewrites by someone with the database but not the key."""

import hashlib
import hmac

import pytest
from sqlalchemy import insert, select, update

from portal.extensions import db
from portal.shared import clock
from portal.shared.audit import (
    GENESIS_HASH,
    Actor,
    AuditChainHead,
    AuditEvent,
    AuditTag,
    NewEvent,
    record,
    record_many,
    rotate_key,
    verify,
)
from portal.shared.audit_keys import UnknownKey, key_id_of
from tests.audit.tampering import tamper
from tests.fakes.concurrency import concurrently

SYSTEM = Actor.system("tests")
KEY_A, KEY_B = "chave-secreta-A-" + "a" * 32, "chave-secreta-B-" + "b" * 32


def _append(count: int) -> list[AuditEvent]:
    events = [record(AuditTag.PROFILE_UPDATED, actor=SYSTEM, subject=f"user:{n}", after={"n": n, "texto": "ação"})
              for n in range(count)]
    db.session.commit()
    return events




def _mac(secret: str, event: AuditEvent) -> str:
    return hmac.new(secret.encode(), event.canonical(), hashlib.sha256).hexdigest()


def _rewrite_from(seq: int, change: dict, rehash) -> None:
    """A database administrator's rewrite: change event `seq`, then recompute every hash from it on with `rehash`
    (an event → (key_id, hash)) and move the head, as `verify()` of a plain chain would never notice."""
    events = list(db.session.scalars(select(AuditEvent).where(AuditEvent.seq >= seq).order_by(AuditEvent.seq)))
    prev_hash = db.session.scalar(select(AuditEvent.hash).where(AuditEvent.seq == seq - 1)) or GENESIS_HASH
    rows = []
    for event in events:
        if event.seq == seq:
            for name, value in change.items():
                setattr(event, name, value)
        event.prev_hash = prev_hash
        event.key_id, event.hash = rehash(event)
        prev_hash = event.hash
        rows.append({c: getattr(event, c) for c in ("seq", "prev_hash", "key_id", "hash", "subject")})
    for event in events:
        db.session.expunge(event)
    for row in rows:
        tamper(update(AuditEvent).where(AuditEvent.seq == row["seq"]).values(
            prev_hash=row["prev_hash"], key_id=row["key_id"], hash=row["hash"], subject=row["subject"]))
    tamper(update(AuditChainHead).where(AuditChainHead.id == 1).values(last_hash=prev_hash))


def _plain_history(count: int) -> None:
    """A chain written before this issue: plain SHA-256 events, the head without a key (as the migration leaves it)."""
    prev_hash = GENESIS_HASH
    for seq in range(1, count + 1):
        event = AuditEvent(seq=seq, created_at=clock.now(), tag=str(AuditTag.LOGIN_SUCCEEDED), actor_id=None,
                           actor_label="ana@cliente.example.com", organization_id=None, subject=f"user:{seq}",
                           ip="203.0.113.9", user_agent=None, before=None, after={"antigo": True},
                           prev_hash=prev_hash, key_id=None)
        event.hash = hashlib.sha256(event.canonical()).hexdigest()  # exactly the pre-issue-19 hash
        db.session.add(event)
        prev_hash = event.hash
    db.session.flush()
    db.session.execute(update(AuditChainHead).where(AuditChainHead.id == 1)
                       .values(length=count, last_hash=prev_hash, key_id=None))
    db.session.commit()


@pytest.fixture
def key_a(app_ctx, monkeypatch):
    monkeypatch.setitem(app_ctx.config, "AUDIT_CHAIN_KEY", KEY_A)
    monkeypatch.setitem(app_ctx.config, "AUDIT_CHAIN_KEY_ID", "")
    monkeypatch.setitem(app_ctx.config, "AUDIT_CHAIN_OLD_KEYS", "")
    return app_ctx


def _use(app, key: str, old: str = "") -> None:
    app.config["AUDIT_CHAIN_KEY"], app.config["AUDIT_CHAIN_OLD_KEYS"] = key, old


# ---------------------------------------------------------------- keyed events

def test_every_new_event_is_an_hmac_under_the_key_named_on_it(key_a):
    first, second = _append(2)
    rows = record_many([NewEvent(AuditTag.INVOICE_ISSUED, subject="invoice:1")], actor=SYSTEM)
    db.session.commit()
    assert first.key_id == second.key_id == rows[0]["key_id"] == key_id_of(KEY_A)
    assert first.prev_hash == GENESIS_HASH  # a new chain is keyed from its first event: no switch needed
    assert first.hash == _mac(KEY_A, first) != hashlib.sha256(first.canonical()).hexdigest()
    assert b'"key_id":"%s"' % key_id_of(KEY_A).encode() in first.canonical()  # the key id is covered by the hash
    assert db.session.get(AuditChainHead, 1).key_id == key_id_of(KEY_A)
    result = verify()
    assert (result.ok, result.checked, result.keyed_from) == (True, 3, 1)


def test_an_explicit_key_id_is_used(key_a):
    key_a.config["AUDIT_CHAIN_KEY_ID"] = "2026-chave-1"
    [event] = _append(1)
    assert event.key_id == "2026-chave-1" and verify().ok


def test_a_rewrite_with_recomputed_plain_hashes_is_detected(key_a):
    _append(4)
    # Plain SHA-256 from event 2 on, as the pre-issue chain allowed: the keyed part refuses a plain event.
    _rewrite_from(2, {"subject": "user:forjado"}, lambda e: (None, hashlib.sha256(
        AuditEvent.canonical(_without_key(e))).hexdigest()))
    result = verify()
    assert (result.ok, result.broken_seq) == (False, 2)
    assert "plain" in result.reason


def test_plain_hashes_under_the_key_id_are_detected(key_a):
    _append(4)
    _rewrite_from(3, {"subject": "user:forjado"}, lambda e: (e.key_id, hashlib.sha256(e.canonical()).hexdigest()))
    result = verify()
    assert (result.ok, result.broken_seq, result.reason) == (False, 3, "content does not match its hash")


def test_a_rewrite_by_someone_without_the_key_is_detected(key_a):
    _append(4)
    _rewrite_from(2, {"subject": "user:forjado"}, lambda e: (e.key_id, _mac("um palpite qualquer", e)))
    result = verify()
    assert (result.ok, result.broken_seq, result.reason) == (False, 2, "content does not match its hash")
    # The same rewrite WITH the key verifies: the key is what the chain's integrity now rests on.
    _rewrite_from(2, {"subject": "user:forjado"}, lambda e: (e.key_id, _mac(KEY_A, e)))
    assert verify().ok


def _without_key(event: AuditEvent):
    event.key_id = None
    return event


# ---------------------------------------------------------------- rotation

def test_rotation_is_recorded_in_the_chain_and_verifies_with_both_keys(key_a):
    _append(2)
    _use(key_a, KEY_B, old=KEY_A)
    [under_b] = _append(1)
    switch = db.session.get(AuditEvent, 3)
    assert (switch.tag, switch.key_id, switch.actor_label) == (AuditTag.AUDIT_CHAIN_KEY_ROTATED, key_id_of(KEY_A),
                                                              "system:audit")
    assert switch.after == {"key_id": key_id_of(KEY_B)} and switch.before == {"key_id": key_id_of(KEY_A)}
    assert switch.hash == _mac(KEY_A, switch)  # written and hashed under the OLD key
    assert (under_b.seq, under_b.key_id, under_b.prev_hash) == (4, key_id_of(KEY_B), switch.hash)
    assert under_b.hash == _mac(KEY_B, under_b)
    _append(2)
    assert db.session.scalar(select(AuditChainHead.length)) == 6  # one switch only
    assert verify().ok and verify().checked == 6
    # Without the old key the first part cannot be checked: named at its first event.
    _use(key_a, KEY_B)
    result = verify()
    assert (result.ok, result.broken_seq) == (False, 1)
    assert f"no key {key_id_of(KEY_A)}" in result.reason
    # A writer that lacks the head's key cannot switch (nor write under its own key): the action fails.
    _use(key_a, "chave-C-" + "c" * 32)
    with pytest.raises(UnknownKey, match=key_id_of(KEY_B)):
        record(AuditTag.PROFILE_UPDATED, actor=SYSTEM)
    db.session.rollback()


def test_an_event_under_a_key_with_no_switch_before_it_is_refused(key_a):
    _append(2)
    # Someone holding key B (but not writing through the portal) appends an event under it without a switch.
    head = db.session.get(AuditChainHead, 1)
    forged = AuditEvent(seq=3, created_at=clock.now(), tag=str(AuditTag.PROFILE_UPDATED), actor_id=None,
                        actor_label="x", organization_id=None, subject=None, ip=None, user_agent=None, before=None,
                        after=None, prev_hash=head.last_hash, key_id=key_id_of(KEY_B))
    forged.hash = _mac(KEY_B, forged)
    db.session.execute(insert(AuditEvent.__table__), [{c.name: getattr(forged, c.name)
                                                        for c in AuditEvent.__table__.columns}])
    db.session.execute(update(AuditChainHead).values(length=3, last_hash=forged.hash))
    db.session.commit()
    _use(key_a, KEY_B, old=KEY_A)
    result = verify()
    assert (result.ok, result.broken_seq) == (False, 3)
    assert "no switch event" in result.reason


def test_rotate_key_writes_the_switch_once(key_a):
    assert rotate_key() is None  # an empty chain: its first event will be keyed
    _append(1)
    assert rotate_key() is None  # already under the current key
    _use(key_a, KEY_B, old=KEY_A)
    switch = rotate_key()
    db.session.commit()
    assert (switch["seq"], switch["tag"], switch["after"]) == (2, AuditTag.AUDIT_CHAIN_KEY_ROTATED,
                                                              {"key_id": key_id_of(KEY_B)})
    assert rotate_key() is None
    [event] = _append(1)
    assert (event.seq, event.key_id) == (3, key_id_of(KEY_B))
    assert verify().ok


def test_rotate_key_command(make_app, engine_name):
    app = make_app(engine_name, AUDIT_CHAIN_KEY=KEY_A)
    runner = app.test_cli_runner()
    with app.app_context():
        _append(2)
    app.config.update(AUDIT_CHAIN_KEY=KEY_B, AUDIT_CHAIN_OLD_KEYS=f"{key_id_of(KEY_A)}:{KEY_A}")
    switched = runner.invoke(args=["audit", "rotate-key"])
    assert switched.exit_code == 0, switched.output
    assert f"switched to key {key_id_of(KEY_B)} at event 3" in switched.output
    again = runner.invoke(args=["audit", "rotate-key"])
    assert f"already under key {key_id_of(KEY_B)}" in again.output
    intact = runner.invoke(args=["audit", "verify"])
    assert intact.exit_code == 0 and "intact: 3 events, keyed from event 1" in intact.output
    app.config.update(AUDIT_CHAIN_KEY="chave-C-" + "c" * 32, AUDIT_CHAIN_OLD_KEYS="")
    refused = runner.invoke(args=["audit", "rotate-key"])
    assert refused.exit_code == 1 and "AUDIT_CHAIN_OLD_KEYS" in refused.output


# ---------------------------------------------------------------- an existing (plain) chain

def test_an_existing_plain_chain_is_kept_and_keyed_from_a_recorded_switch(key_a):
    _plain_history(3)
    before = [(e.seq, e.hash) for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.seq))]
    result = verify()
    assert (result.ok, result.checked, result.keyed_from) == (True, 3, None)  # verifies exactly as it always did
    [keyed] = _append(1)
    switch = db.session.get(AuditEvent, 4)
    assert (switch.tag, switch.key_id, switch.after) == (AuditTag.AUDIT_CHAIN_KEYED, None, {"key_id": key_id_of(KEY_A)})
    assert switch.hash == hashlib.sha256(switch.canonical()).hexdigest()  # the last plain one
    assert (keyed.seq, keyed.key_id, keyed.prev_hash) == (5, key_id_of(KEY_A), switch.hash)
    assert [(e.seq, e.hash) for e in db.session.scalars(
        select(AuditEvent).where(AuditEvent.seq <= 3).order_by(AuditEvent.seq))] == before  # history untouched
    result = verify()
    assert (result.ok, result.checked, result.keyed_from) == (True, 5, 5)
    # The plain part is still checked as before …
    tamper(update(AuditEvent).where(AuditEvent.seq == 2).values(subject="user:forjado"))
    assert (verify().ok, verify().broken_seq) == (False, 2)


def test_after_the_switch_only_keyed_events_are_accepted(key_a):
    _plain_history(2)
    _append(3)  # switch at 3, keyed 4 and 5
    _rewrite_from(4, {"subject": "user:forjado"}, lambda e: (None, hashlib.sha256(
        AuditEvent.canonical(_without_key(e))).hexdigest()))
    result = verify()
    assert (result.ok, result.broken_seq) == (False, 4)
    assert "plain" in result.reason


def test_concurrent_writers_on_a_plain_chain_make_one_switch_and_one_keyed_chain(make_app, engine_name):
    app = make_app(engine_name, AUDIT_CHAIN_KEY=KEY_A)
    with app.app_context():
        _plain_history(2)
    writers, rounds = 4, 6

    def write(n: int) -> None:
        with app.app_context():
            for i in range(rounds):
                if n % 2:
                    record_many([NewEvent(AuditTag.INVOICE_ISSUED, subject=f"invoice:{n}-{i}")] * 2, actor=SYSTEM)
                else:
                    record(AuditTag.PROFILE_UPDATED, actor=SYSTEM, subject=f"user:{n}", after={"i": i})
                db.session.commit()

    _results, errors = concurrently(writers, write)
    assert errors == []
    total = 2 + 1 + (writers // 2) * rounds * 2 + (writers - writers // 2) * rounds
    with app.app_context():
        assert list(db.session.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq))) == list(range(1, total + 1))
        tags = list(db.session.scalars(select(AuditEvent.tag).where(AuditEvent.tag.startswith("audit:"))))
        assert tags == [AuditTag.AUDIT_CHAIN_KEYED]
        assert db.session.scalar(select(AuditEvent.seq).where(AuditEvent.tag == AuditTag.AUDIT_CHAIN_KEYED)) == 3
        assert set(db.session.scalars(select(AuditEvent.key_id).where(AuditEvent.seq > 3))) == {key_id_of(KEY_A)}
        result = verify()
        assert (result.ok, result.checked, result.keyed_from) == (True, total, 4)
