"""Signed checkpoints of the audit chain (issue 19, point 1): made, stored, e-mailed to compliance over real SMTP,
from tests.audit.tampering import tamper
checked by `verify()` (a deleted tail, a rewritten chain, a tampered signature) and by an auditor with the public
key alone."""

import base64
import hashlib
import json
import subprocess
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import delete, select, update

from portal.audit import checkpoints
from portal.audit.jobs import daily_checkpoint
from portal.extensions import db
from portal.integrations.mailer import SMTPMailer
from portal.shared import clock, documents
from portal.shared.audit import (
    GENESIS_HASH,
    Actor,
    AuditChainHead,
    AuditCheckpoint,
    AuditEvent,
    AuditTag,
    ExternalCheckpoint,
    record,
    verify,
)
from portal.shared.audit_keys import fingerprint, public_key_b64, signing_key
from tests.audit.tampering import tamper
from tests.conftest import sign_in

SYSTEM = Actor.system("tests")
AUDITOR = Actor.system("audit")


def _append(count: int) -> list[AuditEvent]:
    events = [record(AuditTag.PROFILE_UPDATED, actor=SYSTEM, subject=f"user:{n}") for n in range(count)]
    db.session.commit()
    return events




def _document(checkpoint: AuditCheckpoint) -> dict:
    content, content_type = documents.load(checkpoint.document_sha256)
    assert content_type == "application/json"
    return json.loads(content)


@pytest.fixture
def smtp(app_ctx, smtp_sink):
    original = app_ctx.extensions["mailer"]
    app_ctx.extensions["mailer"] = SMTPMailer("127.0.0.1", smtp_sink.port, starttls=False, timeout=10)
    yield smtp_sink
    app_ctx.extensions["mailer"] = original


def test_a_checkpoint_signs_the_head_and_is_stored(app_ctx):
    *_, last = _append(3)
    with clock.frozen(datetime(2026, 12, 7, 6, 0, tzinfo=UTC)):
        checkpoint = checkpoints.make_checkpoint(actor=AUDITOR)
    public = signing_key(app_ctx.config).public_key()
    assert (checkpoint.seq, checkpoint.head_hash, checkpoint.key_id) == (3, last.hash, last.key_id)
    body = json.loads(checkpoint.payload)
    assert body == {"chain": "portal-audit-chain", "sequence": 3, "head_hash": last.hash, "key_id": last.key_id,
                    "time": "2026-12-07T06:00:00+00:00", "public_key": public_key_b64(public),
                    "public_key_fingerprint": fingerprint(public)}
    document = _document(checkpoint)
    assert document["payload"] == checkpoint.payload and document["checkpoint"] == body
    # An auditor's check, with nothing but the public key from the document (or `flask audit public-key`).
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(document["checkpoint"]["public_key"]))
    key.verify(base64.b64decode(document["signature"]), document["payload"].encode())
    assert hashlib.sha256(base64.b64decode(body["public_key"])).hexdigest() == body["public_key_fingerprint"]
    result = verify()
    assert (result.ok, result.checkpoints) == (True, 1)


def test_an_auditor_verifies_with_openssl_and_the_public_key_alone(app_ctx, tmp_path):
    _append(2)
    checkpoint = checkpoints.make_checkpoint(actor=AUDITOR)
    document = _document(checkpoint)
    (tmp_path / "public.pem").write_text(document["public_key_pem"])
    (tmp_path / "payload.json").write_text(document["payload"])
    (tmp_path / "signature.bin").write_bytes(base64.b64decode(document["signature"]))
    command = ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", "public.pem", "-rawin", "-in", "payload.json",
               "-sigfile", "signature.bin"]
    good = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert good.returncode == 0 and "Signature Verified Successfully" in good.stdout
    (tmp_path / "payload.json").write_text(document["payload"].replace('"sequence":2', '"sequence":3'))
    bad = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert bad.returncode != 0


def test_the_checkpoint_email_reaches_compliance_with_the_signed_json(app_ctx, world, smtp):
    *_, last = _append(2)
    checkpoint = checkpoints.make_checkpoint(actor=AUDITOR)
    # Compliance and admin hold the audit permission; finance, support and sales do not.
    messages = smtp.wait_for(2)
    assert sorted(m["To"] for m in messages) == sorted([world.staff_compliance.email, world.staff_admin.email])
    for message in messages:
        assert message["Subject"] == f"Ponto de controle da trilha de auditoria: evento {checkpoint.seq}"
        body = message.get_body(("plain",)).get_content()
        assert last.hash in body and f"Evento (sequência): {checkpoint.seq}" in body
        assert "http://portal.test/backoffice/auditoria/trilha" in body
        [attachment] = list(message.iter_attachments())
        assert attachment.get_filename() == f"ponto-de-controle-auditoria-{checkpoint.seq}-{checkpoint.id}.json"
        assert attachment.get_content_type() == "application/json"
        sent = json.loads(attachment.get_payload(decode=True))
        assert sent["payload"] == checkpoint.payload and sent["signature"] == checkpoint.signature


def test_deleting_the_tail_after_a_checkpoint_is_detected(app_ctx):
    events = _append(5)
    checkpoint = checkpoints.make_checkpoint(actor=AUDITOR)
    _append(2)
    assert verify().ok
    # The administrator removes events 4…7 and moves the head back: the chain alone looks whole.
    tamper(delete(AuditEvent).where(AuditEvent.seq > 3))
    tamper(update(AuditChainHead).where(AuditChainHead.id == 1).values(length=3, last_hash=events[2].hash))
    result = verify()
    assert (result.ok, result.broken_seq, result.checkpoint) == (False, 4, str(checkpoint.id))
    assert result.reason == f"events after the last one were removed: checkpoint {checkpoint.id} was made at event 5"


def test_a_whole_chain_rewritten_is_caught_by_a_checkpoint_even_one_kept_outside_the_database(app_ctx):
    _append(3)
    checkpoint = checkpoints.make_checkpoint(actor=AUDITOR)
    kept = _document(checkpoint)  # the e-mailed copy
    # Every event rewritten as plain SHA-256 from the first on (no keyed event left to betray it) …
    prev_hash = GENESIS_HASH
    for event in list(db.session.scalars(select(AuditEvent).order_by(AuditEvent.seq))):
        event.key_id, event.prev_hash = None, prev_hash
        if event.seq == 2:
            event.subject = "user:forjado"
        prev_hash = hashlib.sha256(event.canonical()).hexdigest()
        values = {"key_id": None, "prev_hash": event.prev_hash, "subject": event.subject, "hash": prev_hash}
        db.session.expunge(event)
        tamper(update(AuditEvent).where(AuditEvent.seq == event.seq).values(**values))
    tamper(update(AuditChainHead).where(AuditChainHead.id == 1).values(last_hash=prev_hash, key_id=None))
    result = verify()
    assert (result.ok, result.broken_seq, result.checkpoint) == (False, 3, str(checkpoint.id))
    assert result.reason == f"event does not match checkpoint {checkpoint.id}"
    # … and with the checkpoint rows deleted too, the copy kept outside the database still catches it.
    tamper(delete(AuditCheckpoint))
    assert verify().ok  # what the database alone can say
    outside = ExternalCheckpoint("checkpoint.json", kept["payload"], kept["signature"])
    result = verify(external=[outside])
    assert (result.ok, result.broken_seq, result.checkpoint) == (False, 3, "checkpoint.json")


@pytest.mark.parametrize("change", ["signature", "payload", "unknown-key"])
def test_a_tampered_checkpoint_is_detected(app_ctx, change):
    _append(2)
    good = checkpoints.make_checkpoint(actor=AUDITOR)
    _append(1)
    checkpoint = checkpoints.make_checkpoint(actor=AUDITOR)
    if change == "signature":
        raw = bytearray(base64.b64decode(checkpoint.signature))
        raw[0] ^= 1
        values = {"signature": base64.b64encode(bytes(raw)).decode()}
    elif change == "payload":
        values = {"payload": checkpoint.payload.replace('"sequence":3', '"sequence":2'), "seq": 2}
    else:  # signed by someone else's key, naming it
        other = Ed25519PrivateKey.generate()
        body = json.loads(checkpoint.payload)
        body.update(public_key=public_key_b64(other.public_key()),
                    public_key_fingerprint=fingerprint(other.public_key()))
        payload = json.dumps(body, sort_keys=True, separators=(",", ":"))
        values = {"payload": payload, "signature": base64.b64encode(other.sign(payload.encode())).decode()}
    tamper(update(AuditCheckpoint).where(AuditCheckpoint.id == checkpoint.id).values(**values))
    result = verify()
    assert (result.ok, result.checkpoint) == (False, str(checkpoint.id))
    assert result.reason.startswith(f"checkpoint {checkpoint.id}: checkpoint ")
    assert {"signature": "not valid", "payload": "not valid", "unknown-key": "unknown key"}[change] in result.reason
    assert good.id != checkpoint.id


def test_checkpoints_of_an_older_signing_key_are_trusted_when_listed(app_ctx, monkeypatch):
    _append(1)
    checkpoint = checkpoints.make_checkpoint(actor=AUDITOR)
    old_public = public_key_b64(signing_key(app_ctx.config).public_key())
    monkeypatch.setitem(app_ctx.config, "AUDIT_SIGNING_KEY", base64.b64encode(b"\x07" * 32).decode())
    result = verify()
    assert (result.ok, result.checkpoint) == (False, str(checkpoint.id)) and "unknown key" in result.reason
    monkeypatch.setitem(app_ctx.config, "AUDIT_SIGNING_OLD_PUBLIC_KEYS", old_public)
    assert verify().ok


def test_an_empty_chain_can_be_checkpointed(app_ctx):
    checkpoint = checkpoints.make_checkpoint(actor=AUDITOR)
    assert (checkpoint.seq, checkpoint.head_hash, checkpoint.key_id) == (0, GENESIS_HASH, None)
    _append(1)
    assert verify().ok


def test_the_daily_job_makes_one(app_ctx):
    _append(2)
    assert daily_checkpoint.call_local() == 2
    [checkpoint] = db.session.scalars(select(AuditCheckpoint)).all()
    assert checkpoint.made_by == "system:audit"


def test_the_commands(make_app, engine_name, tmp_path):
    app = make_app(engine_name)
    runner = app.test_cli_runner()
    with app.app_context():
        _append(3)
    shown = runner.invoke(args=["audit", "public-key"])
    assert shown.exit_code == 0 and shown.output.startswith("-----BEGIN PUBLIC KEY-----")
    with app.app_context():
        assert f"fingerprint (SHA-256): {fingerprint(signing_key(app.config).public_key())}" in shown.output
    made = runner.invoke(args=["audit", "checkpoint"])
    assert made.exit_code == 0 and "event 3" in made.output
    with app.app_context():
        checkpoint = db.session.scalars(select(AuditCheckpoint)).one()
        (tmp_path / "checkpoint.json").write_bytes(documents.load(checkpoint.document_sha256)[0])
    intact = runner.invoke(args=["audit", "verify", "--checkpoint", str(tmp_path / "checkpoint.json")])
    assert intact.exit_code == 0 and "intact: 3 events, keyed from event 1, 2 checkpoints agree" in intact.output
    with app.app_context():
        tamper(delete(AuditEvent).where(AuditEvent.seq == 3))
        tamper(update(AuditChainHead).where(AuditChainHead.id == 1).values(
            length=2, last_hash=db.session.scalar(select(AuditEvent.hash).where(AuditEvent.seq == 2))))
        db.session.commit()
    broken = runner.invoke(args=["audit", "verify"])
    assert broken.exit_code == 1
    assert f"BROKEN at event 3, checkpoint {checkpoint.id}: events after the last one were removed" in broken.output
    (tmp_path / "not.json").write_text("{}")
    unreadable = runner.invoke(args=["audit", "verify", "--checkpoint", str(tmp_path / "not.json")])
    assert unreadable.exit_code == 1 and "not a checkpoint file" in unreadable.output


def test_compliance_publishes_one_from_the_audit_trail(app_ctx, world, client, outbox):
    _append(2)
    sign_in(client, world.staff_compliance)
    page = client.get("/backoffice/auditoria/trilha")
    assert b'data-testid="checkpoint-button"' in page.data
    response = client.post("/backoffice/auditoria/checkpoint", follow_redirects=True)
    assert response.status_code == 200
    checkpoint = db.session.scalars(select(AuditCheckpoint)).one()
    assert "Ponto de controle assinado publicado no evento" in response.get_data(as_text=True)
    assert checkpoint.made_by == world.staff_compliance.email
    assert sorted(m["To"] for m in outbox) == sorted([world.staff_compliance.email, world.staff_admin.email])
    assert verify().ok
