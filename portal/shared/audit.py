"""The audit trail: append-only, hash-chained events written in the same transaction as the action.

Each event stores the hash of the one before it, so editing or deleting any row breaks the chain
at that row, which `verify()` (and `flask audit verify`) names. On PostgreSQL a trigger also refuses
UPDATE, DELETE and TRUNCATE on the table. Appends are serialised through the single-row
`audit_chain_head` table: the UPDATE on it takes a row lock (PostgreSQL) or the write lock (SQLite)
before the previous hash is read, so concurrent writers never fork the chain.

The chain is keyed (issue 19): every event's hash is HMAC-SHA256 under `AUDIT_CHAIN_KEY`, a secret that never
lives in the database, and the event records the key's id (`key_id`), so someone who can write to the database but
lacks the key cannot recompute a rewritten chain. Events written before the chain was keyed keep their plain
SHA-256 (`key_id` NULL) and verify as they always did; the first keyed write appends a plain `audit:chain:keyed`
event naming the key, and from it on only keyed events are accepted. A new key is announced the same way: the first
write after `AUDIT_CHAIN_KEY` changes appends `audit:chain:key_rotated`, hashed under the OLD key and naming the new
one (or `flask audit rotate-key` writes it at once); an event under a key with no switch before it is refused by
`verify()`. A new chain (no event yet) is keyed from its first event. Signed checkpoints (`AuditCheckpoint`, made by
portal/audit/checkpoints.py) pin the head's sequence and hash outside the database; `verify()` checks every one.
"""

import hashlib
import hmac
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import SimpleNamespace
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, Integer, String, Text, insert, select, update
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.shared import clock
from portal.shared.audit_keys import Keyring, UnknownKey, keyring, signature_problem, trusted_public_keys
from portal.shared.dbtypes import UTCDateTime

GENESIS_HASH = "0" * 64


class AuditTag(StrEnum):
    """Every tag is `area:subject:action`; grep for the constant to find who writes it."""

    LOGIN_SUCCEEDED = "accounts:login:succeeded"
    LOGIN_FAILED = "accounts:login:failed"
    LOGOUT = "accounts:login:logout"
    SESSIONS_ENDED = "accounts:session:ended_all"
    TWO_FACTOR_FAILED = "accounts:two_factor:failed"
    TWO_FACTOR_ENABLED = "accounts:two_factor:enabled"
    TWO_FACTOR_DISABLED = "accounts:two_factor:disabled"
    RECOVERY_CODE_USED = "accounts:two_factor:recovery_code_used"
    RECOVERY_CODES_REGENERATED = "accounts:two_factor:recovery_codes_regenerated"
    PASSWORD_RESET_REQUESTED = "accounts:password:reset_requested"  # noqa: S105 - a tag, not a secret
    PASSWORD_RESET_THROTTLED = "accounts:password:reset_throttled"  # noqa: S105 - a tag, not a secret
    PASSWORD_RESET = "accounts:password:reset"  # noqa: S105
    PASSWORD_CHANGED = "accounts:password:changed"  # noqa: S105
    PROFILE_UPDATED = "accounts:profile:updated"
    INVITATION_SENT = "accounts:invitation:sent"
    INVITATION_RESENT = "accounts:invitation:resent"
    INVITATION_ACCEPTED = "accounts:invitation:accepted"
    ROLES_CHANGED = "accounts:membership:roles_changed"
    MEMBERSHIP_DEACTIVATED = "accounts:membership:deactivated"
    MEMBERSHIP_REACTIVATED = "accounts:membership:reactivated"
    ORGANIZATION_CREATED = "accounts:organization:created"
    ORGANIZATION_SECURITY_CHANGED = "accounts:organization:security_changed"
    ORGANIZATION_TENANT_CHANGED = "accounts:organization:tenant_changed"
    ORGANIZATION_CITY_CODE_CHANGED = "accounts:organization:city_code_changed"
    STAFF_USER_CREATED = "accounts:staff:created"
    CATALOG_FAMILY_CREATED = "catalog:family:created"
    CATALOG_FAMILY_UPDATED = "catalog:family:updated"
    CATALOG_PRODUCT_CREATED = "catalog:product:created"
    CATALOG_PRODUCT_UPDATED = "catalog:product:updated"
    CATALOG_PRICE_ADDED = "catalog:price:added"
    QUOTE_CONFIRMED = "subscriptions:quote:confirmed"
    QUANTITY_INCREASED = "subscriptions:quantity:increased"
    QUANTITY_DECREASED = "subscriptions:quantity:decreased"
    QUANTITY_DECREASE_SCHEDULED = "subscriptions:quantity:decrease_scheduled"
    SUBSCRIPTION_PURCHASED = "subscriptions:subscription:purchased"
    SUBSCRIPTION_RENEWED = "subscriptions:subscription:renewed"
    NEXT_TERM_SCHEDULED = "subscriptions:next_term:scheduled"  # a change for the renewal, new or edited
    NEXT_TERM_WITHDRAWN = "subscriptions:next_term:withdrawn"
    SUBSCRIPTION_REFERENCE_CHANGED = "subscriptions:subscription:purchase_order_changed"  # PO / cost centre
    ORDER_CREATED = "subscriptions:order:created"
    ORDER_SENT = "subscriptions:order:sent"
    ORDER_DONE = "subscriptions:order:done"
    ORDER_RETRY_SCHEDULED = "subscriptions:order:retry_scheduled"
    ORDER_FAILED = "subscriptions:order:failed"
    ORDER_SUPERSEDED = "subscriptions:order:superseded"  # withdrawn unsent: a newer order of its kind replaces it
    ORDER_RETRIED_BY_STAFF = "subscriptions:order:retried_by_staff"
    ORDER_COMPLETED_BY_STAFF = "subscriptions:order:completed_by_staff"
    CANCELLATION_REQUESTED = "cancellations:request:created"
    CANCELLATION_PASSWORD_REFUSED = "cancellations:password:refused"  # noqa: S105 - a tag, not a secret
    RESCISSION_REQUESTED = "cancellations:rescission:requested"
    RESCISSION_WITHDRAWN = "cancellations:rescission:withdrawn"
    ORGANIZATION_CLOSED = "cancellations:organization:closed"
    INVOICE_ISSUED = "billing:invoice:issued"
    INVOICE_CANCELLED = "billing:invoice:cancelled"
    INVOICE_REISSUED = "billing:invoice:reissued"
    INVOICE_DRAFT_LINE_EDITED = "billing:draft:line_edited"  # review before issuing: finance corrected a line
    INVOICE_DRAFT_DISCOUNTED = "billing:draft:discounted"  # a one-off discount (with its reason) on a draft
    INVOICE_DRAFT_APPROVED = "billing:draft:approved"  # the draft became the invoice (issued: INVOICE_ISSUED)
    CREDIT_NOTE_ISSUED = "billing:credit_note:issued"
    INVOICE_DOCUMENTS_GENERATED = "billing:invoice:documents_generated"
    INVOICE_EMAILED = "billing:invoice:emailed"
    INVOICE_UNDELIVERED = "billing:invoice:undelivered"  # nobody to e-mail it to (sent once someone is)
    SECOND_COPY_ISSUED = "billing:boleto:second_copy_issued"
    FISCAL_DOCUMENT_ISSUED = "billing:fiscal_document:issued"
    FISCAL_DOCUMENT_UPLOADED = "billing:fiscal_document:uploaded"
    FISCAL_DOCUMENT_CANCELLED = "billing:fiscal_document:cancelled"
    PAYMENT_RECORDED = "billing:payment:recorded"
    INVOICE_PAID = "billing:invoice:paid"
    PAYMENT_REVERSED = "billing:payment:reversed"  # a Pix devolução: part or all of a payment given back
    REMESSA_GENERATED = "billing:remessa:generated"
    RETORNO_IMPORTED = "billing:retorno:imported"
    BOLETO_REGISTERED = "billing:boleto:registered"
    BILLING_EXCEPTION_RESOLVED = "billing:exception:resolved"  # finance closed a reconciliation exception
    BILLING_CONTACT_ADDED = "billing:contact:added"
    BILLING_CONTACT_REMOVED = "billing:contact:removed"
    ACCOUNTANT_CHANGED = "billing:accountant:changed"  # the accountant's e-mail and day set, changed or removed
    ACCOUNTANT_PACK_SENT = "billing:accountant_pack:sent"  # a month's pack e-mailed to the accountant
    DUNNING_SCHEDULE_CHANGED = "billing:dunning_schedule:changed"  # a step added, changed or removed (finance)
    DUNNING_RECIPIENTS_CHANGED = "billing:dunning_recipients:changed"  # who of the organization gets reminders
    ORGANIZATION_DELINQUENT = "billing:organization:delinquent"
    BUDGET_CHANGED = "budgets:budget:changed"  # the Master set, changed or removed the monthly budgets
    APPROVAL_RULES_CHANGED = "approvals:rules:changed"  # the Master set the purchase approval rules
    APPROVAL_REQUESTED = "approvals:request:created"  # an Adm's purchase or increase waits for a Master
    APPROVAL_APPROVED = "approvals:request:approved"  # a Master approved it (the quote confirmed with it)
    APPROVAL_REFUSED = "approvals:request:refused"
    APPROVAL_WITHDRAWN = "approvals:request:withdrawn"  # the requester gave it up
    APPROVAL_EXPIRED = "approvals:request:expired"  # nobody decided within APPROVAL_EXPIRY_DAYS
    ORGANIZATION_GOOD_STANDING = "billing:organization:good_standing"
    AGREEMENT_PUBLISHED = "agreements:version:published"
    AGREEMENT_ACCEPTED = "agreements:acceptance:accepted"
    AGREEMENT_ATTESTED = "agreements:acceptance:attested"
    AGREEMENT_SENT_TO_PROVIDER = "agreements:acceptance:sent_to_provider"
    TICKET_OPENED = "support:ticket:opened"
    TICKET_REPLIED = "support:ticket:replied"
    TICKET_NOTE_ADDED = "support:ticket:note_added"
    TICKET_STATUS_CHANGED = "support:ticket:status_changed"
    TICKET_ASSIGNED = "support:ticket:assigned"
    OPPORTUNITY_CREATED = "onboarding:opportunity:created"
    OPPORTUNITY_UPDATED = "onboarding:opportunity:updated"
    OPPORTUNITY_STAGE_CHANGED = "onboarding:opportunity:stage_changed"
    OPPORTUNITY_APPROVED = "onboarding:opportunity:approved"
    CONTRACT_SENT_FOR_SIGNATURE = "onboarding:contract:sent_for_signature"
    CONTRACT_SIGNED = "onboarding:contract:signed"
    HANDOVER_POSTED = "onboarding:handover:posted"
    IMPLANTATION_DONE = "onboarding:implantation:done"
    OFFER_CREATED = "offers:offer:created"
    OFFER_SENT = "offers:offer:sent"
    OFFER_ACCEPTED = "offers:offer:accepted"
    OFFER_CANCELLED = "offers:offer:cancelled"
    OFFER_EXPIRED = "offers:offer:expired"
    DEAL_CREATED = "cosell:deal:created"
    DEAL_UPDATED = "cosell:deal:updated"
    DEAL_STAGE_CHANGED = "cosell:deal:stage_changed"
    LICENCE_USAGE_RULE_CHANGED = "subscriptions:usage_rule:changed"  # a Master excludes a SKU or keeps a buffer
    ENTRA_LINKED = "accounts:entra:linked"  # a Master proved the organization's Entra ID tenant
    ENTRA_UNLINKED = "accounts:entra:unlinked"
    ENTRA_POLICY_CHANGED = "accounts:entra:policy_changed"  # just-in-time creation, Microsoft sign-in required
    ENTRA_MEMBER_CREATED = "accounts:entra:member_created"  # just-in-time: a new member from a Microsoft sign-in
    WEBHOOK_ENDPOINT_CREATED = "webhooks:endpoint:created"  # a Master registered an outgoing webhook endpoint
    WEBHOOK_SECRET_ROTATED = "webhooks:endpoint:secret_rotated"  # noqa: S105 - a tag, not a secret
    WEBHOOK_ENDPOINT_ENABLED = "webhooks:endpoint:enabled"
    WEBHOOK_ENDPOINT_DISABLED = "webhooks:endpoint:disabled"  # by a Master, or by the system after ~3 days failing
    WEBHOOK_ENDPOINT_DELETED = "webhooks:endpoint:deleted"
    API_TOKEN_CREATED = "integrations:api_token:created"  # noqa: S105 - a tag; by a Master or the CLI
    API_TOKEN_REVOKED = "integrations:api_token:revoked"  # noqa: S105 - a tag, not a secret
    AUDIT_CHAIN_KEYED = "audit:chain:keyed"  # the last plain-hashed event: keyed by after["key_id"] from here on
    AUDIT_CHAIN_KEY_ROTATED = "audit:chain:key_rotated"  # hashed under the old key; after["key_id"]: the new one


class AuditEvent(db.Model):
    __tablename__ = "audit_events"
    __organization_data__ = False  # no organization's read model reads it (data_versions)

    # Position in the chain, 1, 2, 3 … without gaps (assigned from audit_chain_head.length).
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    tag: Mapped[str] = mapped_column(String(80), index=True)
    # Who: a user id (None for the system or an anonymous visitor) and a label kept even if the user changes.
    actor_id: Mapped[int | None] = mapped_column(Integer, index=True)
    actor_label: Mapped[str] = mapped_column(String(254))
    organization_id: Mapped[int | None] = mapped_column(Integer, index=True)
    subject: Mapped[str | None] = mapped_column(String(120))  # e.g. "membership:12"
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    before: Mapped[Any] = mapped_column(JSON, nullable=True)
    after: Mapped[Any] = mapped_column(JSON, nullable=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The chain key the hash was made with (HMAC-SHA256); None: plain SHA-256 (written before the chain was keyed).
    key_id: Mapped[str | None] = mapped_column(String(64), nullable=True)

    def canonical(self) -> bytes:
        """The bytes the hash covers: every field but the hash itself (a plain event's exactly as before keying)."""
        payload = {
            "seq": self.seq,
            "created_at": self.created_at.isoformat(),
            "tag": self.tag,
            "actor_id": self.actor_id,
            "actor_label": self.actor_label,
            "organization_id": self.organization_id,
            "subject": self.subject,
            "ip": self.ip,
            "user_agent": self.user_agent,
            "before": self.before,
            "after": self.after,
            "prev_hash": self.prev_hash,
        }
        if self.key_id is not None:
            payload["key_id"] = self.key_id
        return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

    def compute_hash(self, ring: Keyring | None = None) -> str:
        """Plain SHA-256 for a pre-key event, HMAC-SHA256 under its key otherwise (UnknownKey: not in the keyring)."""
        if self.key_id is None:
            return hashlib.sha256(self.canonical()).hexdigest()
        return (ring or current_keyring()).mac(self.key_id, self.canonical())


class AuditChainHead(db.Model):
    """One row (id=1): the chain's length and last hash; the lock every append takes."""

    __tablename__ = "audit_chain_head"
    __organization_data__ = False  # no organization's read model reads it (data_versions)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    length: Mapped[int] = mapped_column(Integer)
    last_hash: Mapped[str] = mapped_column(String(64))
    # The key of the last event (None: plain, or no event yet): a writer under another key appends the switch first.
    key_id: Mapped[str | None] = mapped_column(String(64), nullable=True)


class AuditCheckpoint(db.Model):
    """A signed statement of the chain's head at one moment (portal/audit/checkpoints.py makes them).

    `payload` is the canonical JSON the Ed25519 `signature` covers (sequence, head hash, key id, time, public key
    and its fingerprint); the same signed JSON is kept in the document store (`document_sha256`) and e-mailed to
    compliance, so a copy outside the database survives whatever happens to this table.
    """

    __tablename__ = "audit_checkpoints"
    __organization_data__ = False  # the chain's own bookkeeping: no organization's read model reads it

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, index=True)  # the head's sequence (0: an empty chain)
    head_hash: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    public_key_fingerprint: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)
    signature: Mapped[str] = mapped_column(String(120))
    document_sha256: Mapped[str] = mapped_column(String(64))
    made_by: Mapped[str] = mapped_column(String(254))  # the actor's label ("system:audit", a staff e-mail)


@dataclass(frozen=True)
class Actor:
    """Who does something, and from where. Views build it from the request; jobs use `Actor.system`."""

    user: Any = None  # a portal.accounts.models.User, or None
    label: str = ""
    ip: str | None = None
    user_agent: str | None = None
    # The roles it acts with when narrower than its user's (an API token's: portal/api/tokens.py); None: the user's.
    roles: frozenset[str] | None = None

    @property
    def user_id(self) -> int | None:
        return self.user.id if self.user is not None else None

    @classmethod
    def for_user(cls, user: Any, ip: str | None = None, user_agent: str | None = None) -> "Actor":
        return cls(user=user, label=user.email, ip=ip, user_agent=(user_agent or "")[:300] or None)

    @classmethod
    def anonymous(cls, ip: str | None = None, user_agent: str | None = None) -> "Actor":
        return cls(user=None, label="anonymous", ip=ip, user_agent=(user_agent or "")[:300] or None)

    @classmethod
    def system(cls, name: str) -> "Actor":
        return cls(user=None, label=f"system:{name}")


def _jsonable(value: Any) -> Any:
    """Round-trip through JSON so what is stored is exactly what was hashed."""
    if value is None:
        return None
    return json.loads(json.dumps(value, default=str, ensure_ascii=False))


def current_keyring() -> Keyring:
    """The chain keys of this app (config: AUDIT_CHAIN_KEY, AUDIT_CHAIN_KEY_ID, AUDIT_CHAIN_OLD_KEYS)."""
    return keyring(current_app.config)


SWITCH_ACTOR = "system:audit"


def _row_hash(row: dict[str, Any], ring: Keyring) -> str:
    # AuditEvent.canonical reads only these attributes: the very bytes an ORM event hashes, no ORM object.
    canonical = AuditEvent.canonical(SimpleNamespace(**row))  # type: ignore[arg-type]
    if row["key_id"] is None:
        return hashlib.sha256(canonical).hexdigest()
    return ring.mac(row["key_id"], canonical)


def _open_append(count: int) -> tuple[int, str, Keyring, dict[str, Any] | None]:
    """Reserve `count` positions at the end of the chain, taking the head's lock → (first seq, previous hash, keys,
    the switch event written, if any).

    When the chain's last event is under another key than the current one (or plain), the switch event is appended
    first, hashed under the old key (plain for "audit:chain:keyed"); a new, empty chain is keyed from its first event.
    """
    session = db.session
    session.execute(update(AuditChainHead).where(AuditChainHead.id == 1).values(length=AuditChainHead.length + count))
    length, prev_hash, head_key = session.execute(
        select(AuditChainHead.length, AuditChainHead.last_hash, AuditChainHead.key_id).where(AuditChainHead.id == 1)
    ).one()
    ring = current_keyring()
    first, switch = length - count + 1, None
    if head_key != ring.current_id and first > 1:
        if head_key is not None and not ring.has(head_key):
            raise UnknownKey(f"the audit chain's last event is under key {head_key}, which this process does not "
                             f"have: add it to AUDIT_CHAIN_OLD_KEYS to switch to key {ring.current_id}")
        switch = {
            "seq": first, "created_at": clock.now(),
            "tag": str(AuditTag.AUDIT_CHAIN_KEYED if head_key is None else AuditTag.AUDIT_CHAIN_KEY_ROTATED),
            "actor_id": None, "actor_label": SWITCH_ACTOR, "organization_id": None, "subject": None, "ip": None,
            "user_agent": None, "before": None if head_key is None else {"key_id": head_key},
            "after": {"key_id": ring.current_id}, "prev_hash": prev_hash, "key_id": head_key,
        }
        switch["hash"] = _row_hash(switch, ring)
        session.execute(update(AuditChainHead).where(AuditChainHead.id == 1).values(length=AuditChainHead.length + 1))
        session.execute(insert(AuditEvent.__table__), [switch])
        first, prev_hash = first + 1, switch["hash"]
    return first, prev_hash, ring, switch


def _close_append(last_hash: str, ring: Keyring) -> None:
    db.session.execute(update(AuditChainHead).where(AuditChainHead.id == 1)
                       .values(last_hash=last_hash, key_id=ring.current_id))


def record(
    tag: AuditTag,
    *,
    actor: Actor,
    organization_id: int | None = None,
    subject: str | None = None,
    before: Any = None,
    after: Any = None,
) -> AuditEvent:
    """Append an event to the chain in the current transaction (it commits or rolls back with the action)."""
    session = db.session
    seq, prev_hash, ring, _switch = _open_append(1)
    event = AuditEvent(
        seq=seq,
        created_at=clock.now(),
        tag=str(tag),
        actor_id=actor.user_id,
        actor_label=actor.label[:254],
        organization_id=organization_id,
        subject=subject,
        ip=actor.ip,
        user_agent=actor.user_agent,
        before=_jsonable(before),
        after=_jsonable(after),
        prev_hash=prev_hash,
        key_id=ring.current_id,
    )
    event.hash = event.compute_hash(ring)
    session.add(event)
    _close_append(event.hash, ring)
    session.flush([event])
    return event


@dataclass(frozen=True)
class NewEvent:
    """One event for `record_many`: what `record()` takes besides the actor."""

    tag: AuditTag
    organization_id: int | None = None
    subject: str | None = None
    before: Any = None
    after: Any = None


def record_many(events: Sequence[NewEvent], *, actor: Actor) -> list[dict[str, Any]]:
    """Append several events by `actor` in the current transaction, as that many `record()` calls would.

    The same chain, canonical form and hashes (computed here, before the rows are written), for four
    statements whatever the number of events: the head update that reserves the seqs and takes the head's
    lock (as record() does), the read of the previous hash, one INSERT for all the rows (an executemany:
    pipelined in one round trip on PostgreSQL), the update of the last hash. The events share one
    `created_at`. Returns the rows written, in chain order.
    """
    if not events:
        return []
    first, prev_hash, ring, _switch = _open_append(len(events))
    created_at = clock.now()
    rows = []
    for seq, event in enumerate(events, start=first):
        row = {
            "seq": seq,
            "created_at": created_at,
            "tag": str(event.tag),
            "actor_id": actor.user_id,
            "actor_label": actor.label[:254],
            "organization_id": event.organization_id,
            "subject": event.subject,
            "ip": actor.ip,
            "user_agent": actor.user_agent,
            "before": _jsonable(event.before),
            "after": _jsonable(event.after),
            "prev_hash": prev_hash,
            "key_id": ring.current_id,
        }
        row["hash"] = prev_hash = _row_hash(row, ring)
        rows.append(row)
    db.session.execute(insert(AuditEvent.__table__), rows)
    _close_append(prev_hash, ring)
    return rows


def rotate_key() -> dict[str, Any] | None:
    """Append the switch to the current key now (`flask audit rotate-key`), in the current transaction.

    → the switch event written, or None when the chain is already under the current key (or empty: its first
    event will be keyed). Writers do the same at their first append; this makes the switch visible at once.
    """
    _seq, prev_hash, ring, switch = _open_append(0)
    _close_append(prev_hash, ring)
    return switch


# ---------------------------------------------------------------- verification

@dataclass(frozen=True)
class ExternalCheckpoint:
    """A checkpoint held outside the database (the e-mailed or stored JSON): `audit verify --checkpoint FILE`."""

    label: str  # what the report names it by (the file name)
    payload: str
    signature: str


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    broken_seq: int | None = None
    reason: str = ""
    checkpoint: str | None = field(default=None, compare=False)  # the checkpoint that disagrees ("3", a file name)
    checkpoints: int = field(default=0, compare=False)  # checkpoints checked
    keyed_from: int | None = field(default=None, compare=False)  # the first keyed event (None: no keyed event yet)


def _checkpoint_marks(trusted, external: Iterable[ExternalCheckpoint], batch: int
                      ) -> tuple[dict[int, list[tuple[str, str, str | None]]], VerifyResult | None]:
    """seq → [(checkpoint label, head hash, key id)] of every well-signed checkpoint; or the first bad one."""
    marks: dict[int, list[tuple[str, str, str | None]]] = {}

    def add(label: str, payload: str, signature: str, row_seq: int | None) -> VerifyResult | None:
        problem = signature_problem(trusted, payload, signature)
        if problem is None:
            body = json.loads(payload)
            if row_seq is not None and row_seq != body["sequence"]:
                problem = "checkpoint row does not match its signed payload"
            else:
                marks.setdefault(body["sequence"], []).append((label, body["head_hash"], body.get("key_id")))
                return None
        return VerifyResult(False, 0, row_seq, f"checkpoint {label}: {problem}", checkpoint=label)

    statement = (select(AuditCheckpoint.id, AuditCheckpoint.seq, AuditCheckpoint.payload, AuditCheckpoint.signature)
                 .order_by(AuditCheckpoint.seq, AuditCheckpoint.id).execution_options(yield_per=batch))
    with db.session.execute(statement) as rows:
        for checkpoint_id, seq, payload, signature in rows:
            failure = add(str(checkpoint_id), payload, signature, seq)
            if failure:
                return marks, failure
    for checkpoint in external:
        failure = add(checkpoint.label, checkpoint.payload, checkpoint.signature, None)
        if failure:
            return marks, failure
    return marks, None


def verify(batch: int = 1000, external: Iterable[ExternalCheckpoint] = ()) -> VerifyResult:
    """Walk the whole chain and every checkpoint; report the first event or checkpoint that disagrees.

    Streams the events (a server-side cursor on PostgreSQL); holds only the checkpoints' (seq, hash) in memory.
    The plain part verifies as plain SHA-256; after "audit:chain:keyed" (or from a keyed first event) only keyed
    events are accepted, each under the key the last switch named; every checkpoint must be signed by a trusted key,
    name the hash the event at its sequence still has, and not lie beyond the chain's end (a deleted tail).
    """
    ring = current_keyring()
    marks, failure = _checkpoint_marks(trusted_public_keys(current_app.config), external, batch)
    if failure:
        return failure
    checkpoints = sum(len(found) for found in marks.values())
    expected_seq, prev_hash, checked = 1, GENESIS_HASH, 0
    expected_key: str | None = None  # None: still the plain part
    keyed_from: int | None = None

    def broken(seq: int | None, reason: str, checkpoint: str | None = None) -> VerifyResult:
        return VerifyResult(False, checked, seq, reason, checkpoint=checkpoint, checkpoints=checkpoints,
                            keyed_from=keyed_from)

    for label, head_hash, _key in marks.pop(0, []):
        if head_hash != GENESIS_HASH:
            return broken(1, f"checkpoint {label} names another hash for the empty chain", label)
    statement = select(AuditEvent).order_by(AuditEvent.seq).execution_options(yield_per=batch)
    # A server-side cursor on PostgreSQL: closed by the `with` even when we stop at a broken row.
    with db.session.execute(statement) as rows:
        for event in rows.scalars():
            seq = event.seq
            if seq != expected_seq:
                return broken(expected_seq, f"event {expected_seq} is missing")
            if event.prev_hash != prev_hash:
                return broken(seq, "link to the previous event does not match")
            if event.key_id is None:
                if expected_key is not None:
                    return broken(seq, "a plain (unkeyed) event after the chain was keyed")
            else:
                if expected_key is None and seq == 1:  # a chain keyed from its first event
                    expected_key, keyed_from = event.key_id, 1
                if event.key_id != expected_key:
                    return broken(seq, f"event under key {event.key_id} with no switch event before it")
                if not ring.has(event.key_id):
                    return broken(seq, f"no key {event.key_id} to check this event (AUDIT_CHAIN_OLD_KEYS)")
            if not hmac.compare_digest(event.compute_hash(ring), event.hash):
                return broken(seq, "content does not match its hash")
            if event.tag in (AuditTag.AUDIT_CHAIN_KEYED, AuditTag.AUDIT_CHAIN_KEY_ROTATED):
                new_key = event.after.get("key_id") if isinstance(event.after, dict) else None
                plain_switch = event.tag == AuditTag.AUDIT_CHAIN_KEYED
                if not isinstance(new_key, str) or plain_switch != (event.key_id is None):
                    return broken(seq, "key switch event out of place")
                expected_key = new_key
                if keyed_from is None:
                    keyed_from = seq + 1
            for label, head_hash, key_id in marks.pop(seq, []):
                if head_hash != event.hash or key_id != event.key_id:
                    return broken(seq, f"event does not match checkpoint {label}", label)
            prev_hash, expected_seq, checked = event.hash, expected_seq + 1, checked + 1
    length, last_hash = db.session.execute(
        select(AuditChainHead.length, AuditChainHead.last_hash).where(AuditChainHead.id == 1)
    ).one()
    if length != checked or last_hash != prev_hash:
        return broken(checked + 1, "events after the last one were removed")
    if marks:
        latest = max(marks)
        label = marks[latest][0][0]
        return broken(checked + 1, f"events after the last one were removed: checkpoint {label} was made at event "
                      f"{latest}", label)
    return VerifyResult(True, checked, checkpoints=checkpoints, keyed_from=keyed_from)


# What each tag means to a person reading the history (Histórico, Trilha de auditoria).
AUDIT_TAG_LABELS: dict[str, Any] = {
    AuditTag.LOGIN_SUCCEEDED: _l("Entrada no portal"),
    AuditTag.LOGIN_FAILED: _l("Tentativa de entrada recusada"),
    AuditTag.LOGOUT: _l("Saída do portal"),
    AuditTag.SESSIONS_ENDED: _l("Sessões encerradas em todos os dispositivos"),
    AuditTag.TWO_FACTOR_FAILED: _l("Código de verificação recusado"),
    AuditTag.TWO_FACTOR_ENABLED: _l("Verificação em duas etapas ativada"),
    AuditTag.TWO_FACTOR_DISABLED: _l("Verificação em duas etapas desativada"),
    AuditTag.RECOVERY_CODE_USED: _l("Código de recuperação usado"),
    AuditTag.RECOVERY_CODES_REGENERATED: _l("Novos códigos de recuperação gerados"),
    AuditTag.PASSWORD_RESET_REQUESTED: _l("Redefinição de senha solicitada"),
    AuditTag.PASSWORD_RESET_THROTTLED: _l("Redefinição de senha não enviada: limite por hora atingido"),
    AuditTag.PASSWORD_RESET: _l("Senha redefinida"),
    AuditTag.PASSWORD_CHANGED: _l("Senha alterada"),
    AuditTag.PROFILE_UPDATED: _l("Dados pessoais alterados"),
    AuditTag.INVITATION_SENT: _l("Convite enviado"),
    AuditTag.INVITATION_RESENT: _l("Convite reenviado"),
    AuditTag.INVITATION_ACCEPTED: _l("Convite aceito"),
    AuditTag.ROLES_CHANGED: _l("Papéis alterados"),
    AuditTag.MEMBERSHIP_DEACTIVATED: _l("Usuário desativado"),
    AuditTag.MEMBERSHIP_REACTIVATED: _l("Usuário reativado"),
    AuditTag.ORGANIZATION_CREATED: _l("Organização criada"),
    AuditTag.ORGANIZATION_SECURITY_CHANGED: _l("Segurança da organização alterada"),
    AuditTag.ORGANIZATION_TENANT_CHANGED: _l("Tenant Microsoft da organização alterado"),
    AuditTag.ORGANIZATION_CITY_CODE_CHANGED: _l("Código IBGE do município da organização alterado"),
    AuditTag.STAFF_USER_CREATED: _l("Usuário da equipe criado"),
    AuditTag.CATALOG_FAMILY_CREATED: _l("Família de produtos criada"),
    AuditTag.CATALOG_FAMILY_UPDATED: _l("Família de produtos alterada"),
    AuditTag.CATALOG_PRODUCT_CREATED: _l("Produto criado"),
    AuditTag.CATALOG_PRODUCT_UPDATED: _l("Produto alterado"),
    AuditTag.CATALOG_PRICE_ADDED: _l("Novo preço de produto"),
    AuditTag.QUOTE_CONFIRMED: _l("Orçamento confirmado"),
    AuditTag.QUANTITY_INCREASED: _l("Quantidade de licenças aumentada"),
    AuditTag.QUANTITY_DECREASED: _l("Quantidade de licenças reduzida"),
    AuditTag.QUANTITY_DECREASE_SCHEDULED: _l("Redução de licenças agendada para o fim do termo"),
    AuditTag.SUBSCRIPTION_PURCHASED: _l("Novo produto contratado"),
    AuditTag.SUBSCRIPTION_RENEWED: _l("Assinatura renovada"),
    AuditTag.NEXT_TERM_SCHEDULED: _l("Mudança agendada para a renovação"),
    AuditTag.NEXT_TERM_WITHDRAWN: _l("Mudança agendada para a renovação retirada"),
    AuditTag.SUBSCRIPTION_REFERENCE_CHANGED: _l("Pedido de compra ou centro de custo alterado"),
    AuditTag.ORDER_CREATED: _l("Pedido criado"),
    AuditTag.ORDER_SENT: _l("Pedido enviado ao fornecedor"),
    AuditTag.ORDER_DONE: _l("Pedido concluído"),
    AuditTag.ORDER_RETRY_SCHEDULED: _l("Nova tentativa de pedido agendada"),
    AuditTag.ORDER_FAILED: _l("Pedido falhou"),
    AuditTag.ORDER_SUPERSEDED: _l("Pedido substituído por um mais recente"),
    AuditTag.ORDER_RETRIED_BY_STAFF: _l("Pedido reenviado pela equipe"),
    AuditTag.ORDER_COMPLETED_BY_STAFF: _l("Pedido concluído pela equipe"),
    AuditTag.CANCELLATION_REQUESTED: _l("Cancelamento solicitado"),
    AuditTag.CANCELLATION_PASSWORD_REFUSED: _l("Senha recusada ao confirmar cancelamento ou rescisão"),
    AuditTag.RESCISSION_REQUESTED: _l("Rescisão de contrato solicitada"),
    AuditTag.RESCISSION_WITHDRAWN: _l("Rescisão de contrato retirada"),
    AuditTag.ORGANIZATION_CLOSED: _l("Contrato encerrado"),
    AuditTag.INVOICE_ISSUED: _l("Fatura emitida"),
    AuditTag.INVOICE_CANCELLED: _l("Fatura cancelada"),
    AuditTag.INVOICE_REISSUED: _l("Fatura reemitida"),
    AuditTag.INVOICE_DRAFT_LINE_EDITED: _l("Linha de rascunho de fatura corrigida"),
    AuditTag.INVOICE_DRAFT_DISCOUNTED: _l("Desconto em rascunho de fatura"),
    AuditTag.INVOICE_DRAFT_APPROVED: _l("Rascunho de fatura aprovado"),
    AuditTag.CREDIT_NOTE_ISSUED: _l("Nota de crédito emitida"),
    AuditTag.INVOICE_DOCUMENTS_GENERATED: _l("Documentos da fatura gerados"),
    AuditTag.INVOICE_EMAILED: _l("Fatura enviada por e-mail"),
    AuditTag.INVOICE_UNDELIVERED: _l("Fatura não enviada: sem destinatário"),
    AuditTag.SECOND_COPY_ISSUED: _l("2ª via de boleto emitida"),
    AuditTag.FISCAL_DOCUMENT_ISSUED: _l("Nota fiscal emitida"),
    AuditTag.FISCAL_DOCUMENT_UPLOADED: _l("Nota fiscal enviada pela equipe"),
    AuditTag.FISCAL_DOCUMENT_CANCELLED: _l("Nota fiscal cancelada"),
    AuditTag.PAYMENT_RECORDED: _l("Pagamento registrado"),
    AuditTag.REMESSA_GENERATED: _l("Arquivo de remessa gerado para o banco"),
    AuditTag.RETORNO_IMPORTED: _l("Arquivo de retorno do banco importado"),
    AuditTag.BOLETO_REGISTERED: _l("Boleto registrado no banco"),
    AuditTag.BILLING_EXCEPTION_RESOLVED: _l("Pendência da conciliação resolvida"),
    AuditTag.INVOICE_PAID: _l("Fatura paga"),
    AuditTag.PAYMENT_REVERSED: _l("Pagamento devolvido"),
    AuditTag.BILLING_CONTACT_ADDED: _l("E-mail de cobrança adicionado"),
    AuditTag.BILLING_CONTACT_REMOVED: _l("E-mail de cobrança removido"),
    AuditTag.ACCOUNTANT_CHANGED: _l("E-mail do contador alterado"),
    AuditTag.ACCOUNTANT_PACK_SENT: _l("Pacote do contador enviado"),
    AuditTag.DUNNING_SCHEDULE_CHANGED: _l("Régua de cobrança alterada"),
    AuditTag.DUNNING_RECIPIENTS_CHANGED: _l("Destinatários dos lembretes de vencimento alterados"),
    AuditTag.ORGANIZATION_DELINQUENT: _l("Organização inadimplente"),
    AuditTag.BUDGET_CHANGED: _l("Orçamento mensal alterado"),
    AuditTag.APPROVAL_RULES_CHANGED: _l("Regras de aprovação de compras alteradas"),
    AuditTag.APPROVAL_REQUESTED: _l("Compra aguardando aprovação"),
    AuditTag.APPROVAL_APPROVED: _l("Compra aprovada"),
    AuditTag.APPROVAL_REFUSED: _l("Compra recusada"),
    AuditTag.APPROVAL_WITHDRAWN: _l("Pedido de aprovação retirado"),
    AuditTag.APPROVAL_EXPIRED: _l("Pedido de aprovação expirado"),
    AuditTag.ORGANIZATION_GOOD_STANDING: _l("Organização em dia"),
    AuditTag.AGREEMENT_PUBLISHED: _l("Versão de contrato publicada"),
    AuditTag.AGREEMENT_ACCEPTED: _l("Contrato aceito no portal"),
    AuditTag.AGREEMENT_ATTESTED: _l("Aceite de contrato atestado pela equipe"),
    AuditTag.AGREEMENT_SENT_TO_PROVIDER: _l("Aceite de contrato enviado à Microsoft"),
    AuditTag.TICKET_OPENED: _l("Chamado aberto"),
    AuditTag.TICKET_REPLIED: _l("Chamado respondido"),
    AuditTag.TICKET_NOTE_ADDED: _l("Nota interna em chamado"),
    AuditTag.TICKET_STATUS_CHANGED: _l("Situação de chamado alterada"),
    AuditTag.TICKET_ASSIGNED: _l("Chamado atribuído"),
    AuditTag.OPPORTUNITY_CREATED: _l("Oportunidade criada"),
    AuditTag.OPPORTUNITY_UPDATED: _l("Oportunidade alterada"),
    AuditTag.OPPORTUNITY_STAGE_CHANGED: _l("Oportunidade mudou de etapa"),
    AuditTag.OPPORTUNITY_APPROVED: _l("Oportunidade aprovada pelo financeiro"),
    AuditTag.CONTRACT_SENT_FOR_SIGNATURE: _l("Contrato enviado para assinatura"),
    AuditTag.CONTRACT_SIGNED: _l("Contrato assinado"),
    AuditTag.HANDOVER_POSTED: _l("Card de passagem publicado"),
    AuditTag.IMPLANTATION_DONE: _l("Implantação concluída"),
    AuditTag.OFFER_CREATED: _l("Oferta de compra criada"),
    AuditTag.OFFER_SENT: _l("Oferta de compra enviada"),
    AuditTag.OFFER_ACCEPTED: _l("Oferta de compra aceita"),
    AuditTag.OFFER_CANCELLED: _l("Oferta de compra cancelada"),
    AuditTag.OFFER_EXPIRED: _l("Oferta de compra expirada"),
    AuditTag.DEAL_CREATED: _l("Negócio de venda conjunta criado"),
    AuditTag.DEAL_UPDATED: _l("Negócio de venda conjunta alterado"),
    AuditTag.DEAL_STAGE_CHANGED: _l("Negócio de venda conjunta mudou de etapa"),
    AuditTag.LICENCE_USAGE_RULE_CHANGED: _l("Regra de uso de licenças alterada"),
    AuditTag.ENTRA_LINKED: _l("Organização vinculada ao Microsoft Entra ID"),
    AuditTag.ENTRA_UNLINKED: _l("Vínculo com o Microsoft Entra ID removido"),
    AuditTag.ENTRA_POLICY_CHANGED: _l("Regras de entrada com a Microsoft alteradas"),
    AuditTag.ENTRA_MEMBER_CREATED: _l("Usuário criado na primeira entrada com a Microsoft"),
    AuditTag.WEBHOOK_ENDPOINT_CREATED: _l("Webhook cadastrado"),
    AuditTag.WEBHOOK_SECRET_ROTATED: _l("Segredo de webhook trocado"),
    AuditTag.WEBHOOK_ENDPOINT_ENABLED: _l("Webhook ativado"),
    AuditTag.WEBHOOK_ENDPOINT_DISABLED: _l("Webhook desativado"),
    AuditTag.WEBHOOK_ENDPOINT_DELETED: _l("Webhook excluído"),
    AuditTag.API_TOKEN_CREATED: _l("Token de API criado"),
    AuditTag.API_TOKEN_REVOKED: _l("Token de API revogado"),
    AuditTag.AUDIT_CHAIN_KEYED: _l("Trilha de auditoria passou a usar chave secreta"),
    AuditTag.AUDIT_CHAIN_KEY_ROTATED: _l("Chave da trilha de auditoria trocada"),
}
