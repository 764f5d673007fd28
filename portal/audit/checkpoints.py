"""Signed checkpoints of the audit chain: the head's sequence and hash, signed with the Ed25519 key
(`AUDIT_SIGNING_KEY`), kept in the document store and e-mailed to compliance — copies outside the database that a
rewritten or truncated chain cannot match (`flask --app wsgi audit verify` checks every one).

Made daily by `audit.daily_checkpoint` (portal/audit/jobs.py), on demand by `flask --app wsgi audit checkpoint` and
the "Publicar ponto de controle assinado" button of the staff audit trail. The signed bytes are the canonical
JSON of the checkpoint (`payload`); the stored document is {"algorithm", "checkpoint", "payload", "signature",
"public_key_pem"} so an auditor verifies it with the public key alone (README, "Audit chain key and checkpoints").
"""

import json
from collections.abc import Iterable

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from portal.accounts.models import StaffRoleGrant, User
from portal.accounts.roles import STAFF_ROLE_PERMISSIONS, StaffPermission
from portal.extensions import db
from portal.notifications.service import queue_email
from portal.shared import clock, documents
from portal.shared.audit import Actor, AuditChainHead, AuditCheckpoint
from portal.shared.audit_keys import (
    canonical_json,
    fingerprint,
    public_key_b64,
    public_key_pem,
    sign,
    signing_key,
)
from portal.shared.links import absolute_url

CHAIN_NAME = "portal-audit-chain"
CONTENT_TYPE = "application/json"


def public_key_text() -> str:
    """What `flask audit public-key` prints: the PEM, the raw key in base64 and its fingerprint."""
    key = signing_key(current_app.config).public_key()
    return f"{public_key_pem(key)}base64 (raw 32 bytes): {public_key_b64(key)}\nfingerprint (SHA-256): " \
           f"{fingerprint(key)}\n"


def checkpoint_document(checkpoint: AuditCheckpoint) -> bytes:
    """The signed JSON as stored and e-mailed."""
    key = signing_key(current_app.config).public_key()
    return _document(checkpoint.payload, checkpoint.signature, public_key_pem(key))


def _document(payload: str, signature: str, pem: str) -> bytes:
    return (json.dumps({"algorithm": "Ed25519", "checkpoint": json.loads(payload), "payload": payload,
                        "signature": signature, "public_key_pem": pem}, indent=2, ensure_ascii=False) + "\n").encode()


def compliance_staff() -> list[User]:
    """Active staff users whose role may read the audit trail (StaffPermission.AUDIT_READ)."""
    roles = [role for role, granted in STAFF_ROLE_PERMISSIONS.items() if StaffPermission.AUDIT_READ in granted]
    return list(db.session.scalars(
        select(User).join(StaffRoleGrant, StaffRoleGrant.user_id == User.id)
        .where(User.is_staff.is_(True), User.active.is_(True), StaffRoleGrant.role.in_(roles))
        .distinct().order_by(User.id)))


def make_checkpoint(*, actor: Actor) -> AuditCheckpoint:
    """Sign the chain's current head, store the signed JSON, record it and e-mail it to compliance. Commits."""
    length, last_hash, key_id = db.session.execute(
        select(AuditChainHead.length, AuditChainHead.last_hash, AuditChainHead.key_id).where(AuditChainHead.id == 1)
    ).one()
    config = current_app.config
    public = signing_key(config).public_key()
    now = clock.now()
    body = {"chain": CHAIN_NAME, "sequence": length, "head_hash": last_hash, "key_id": key_id,
            "time": now.isoformat(), "public_key": public_key_b64(public),
            "public_key_fingerprint": fingerprint(public)}
    payload = canonical_json(body)
    signature = sign(config, payload)
    document = _document(payload.decode(), signature, public_key_pem(public))
    sha256 = documents.store(document, CONTENT_TYPE)
    checkpoint = AuditCheckpoint(seq=length, head_hash=last_hash, key_id=key_id, created_at=now,
                                 public_key_fingerprint=body["public_key_fingerprint"], payload=payload.decode(),
                                 signature=signature, document_sha256=sha256, made_by=actor.label[:254])
    db.session.add(checkpoint)
    db.session.flush()
    _email(checkpoint, body)
    db.session.commit()
    return checkpoint


def _email(checkpoint: AuditCheckpoint, body: dict) -> None:
    context = {"checkpoint": body, "trail_url": absolute_url("backoffice.audit_trail")}
    attachments = [(f"ponto-de-controle-auditoria-{checkpoint.seq}-{checkpoint.id}.json", checkpoint.document_sha256,
                    CONTENT_TYPE)]

    def subject():
        return _("Ponto de controle da trilha de auditoria: evento %(seq)d", seq=checkpoint.seq)

    default = current_app.config["BABEL_DEFAULT_LOCALE"]
    people = compliance_staff()
    recipients: Iterable[tuple[str, str, User | None]] = (
        [(person.email, person.language or default, person) for person in people] if people
        else [(current_app.config["MAIL_STAFF_TO"], default, None)])
    for address, language, person in recipients:
        queue_email("audit_checkpoint", to=[address], subject_fn=subject, context={**context, "person": person},
                    language=language, attachments=attachments)
