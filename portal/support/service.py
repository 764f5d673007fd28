"""Support tickets ("Chamados"): opening, the conversation and its files, internal notes, assignment, status, and
the first-response and resolution clocks staff see against their targets.

Who may do what is checked here as well as on the routes. A customer acts through its membership: it needs
tickets:manage, and the ticket must be of that membership's organization (another organization's ticket, or its
file, is NotFound, never its data). Staff act as themselves: tickets:read to see, tickets:manage for anything else.
Internal notes (MessageKind.NOTE) never leave the staff side: `customer_conversation` leaves them out, a note's
files are not downloadable by customers, no e-mail to a customer is built from one, and the note's audit event
carries no organization, so the customer's "Histórico" does not list it either.
"""

import functools
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask_babel import format_decimal
from flask_babel import gettext as _
from sqlalchemy import Integer, and_, bindparam, case, func, or_, select
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.util import identity_key

from portal.accounts.models import Membership, Organization, StaffRoleGrant, User
from portal.accounts.roles import (
    STAFF_ROLE_PERMISSIONS,
    Permission,
    StaffPermission,
    permissions_for,
    staff_permissions_for,
)
from portal.extensions import db
from portal.notifications import service as notifications
from portal.shared import clock, documents
from portal.shared.audit import Actor, AuditTag, record
from portal.shared.errors import NotFound, PermissionDenied, ServiceError
from portal.shared.formatting import duration_label
from portal.shared.paging import page_window, paged
from portal.subscriptions.models import Subscription
from portal.support.models import (
    MessageKind,
    Ticket,
    TicketAttachment,
    TicketCategory,
    TicketMessage,
    TicketPriority,
    TicketStatus,
)
from portal.webhooks import outbox as webhook_outbox

SUBJECT_MAX = 200  # characters (the column's size)
BODY_MAX = 20_000  # characters of a description, reply or note
FILES_PER_MESSAGE = 5
FILENAME_MAX = 200  # characters (the column's size)
# Statuses in which the ticket still needs someone: the default of the staff queue, and of its late badge.
ACTIVE = (TicketStatus.OPEN, TicketStatus.IN_PROGRESS, TicketStatus.WAITING_CUSTOMER)
FINISHED = (TicketStatus.RESOLVED, TicketStatus.CLOSED)
PRIORITY_RANK = {TicketPriority.URGENT: 4, TicketPriority.HIGH: 3, TicketPriority.NORMAL: 2, TicketPriority.LOW: 1}

# Where staff may take a ticket from each status. Reopening (back to OPEN) is the only way out of CLOSED.
STAFF_TRANSITIONS: dict[str, tuple[str, ...]] = {
    TicketStatus.OPEN: (TicketStatus.IN_PROGRESS, TicketStatus.WAITING_CUSTOMER, TicketStatus.RESOLVED,
                        TicketStatus.CLOSED),
    TicketStatus.IN_PROGRESS: (TicketStatus.WAITING_CUSTOMER, TicketStatus.RESOLVED, TicketStatus.CLOSED),
    TicketStatus.WAITING_CUSTOMER: (TicketStatus.IN_PROGRESS, TicketStatus.RESOLVED, TicketStatus.CLOSED),
    TicketStatus.RESOLVED: (TicketStatus.OPEN, TicketStatus.IN_PROGRESS, TicketStatus.CLOSED),
    TicketStatus.CLOSED: (TicketStatus.OPEN,),
}
# The status a staff reply leaves the ticket in (the reply form's choice).
REPLY_STATUSES = (TicketStatus.WAITING_CUSTOMER, TicketStatus.IN_PROGRESS, TicketStatus.RESOLVED)


# ---------------------------------------------------------------- settings

@dataclass(frozen=True)
class AttachmentRules:
    """What a file must be to be attached: at most `max_bytes`, with an extension from `types` (lower case,
    no dot) whose content matches it (see `_content_matches`)."""

    max_bytes: int
    types: frozenset[str]

    @classmethod
    def from_config(cls, config: Mapping) -> "AttachmentRules":
        return cls(max_bytes=int(config["TICKET_ATTACHMENT_MAX_BYTES"]),
                   types=frozenset(config["TICKET_ATTACHMENT_TYPES"]))

    @property
    def max_label(self) -> str:
        """"10 MB", "1,5 MB", "500 KB": the limit as people read it."""
        if self.max_bytes >= 1024 * 1024:
            return f"{self.max_bytes / (1024 * 1024):.3g} MB".replace(".", ",")
        if self.max_bytes >= 1024:
            return f"{round(self.max_bytes / 1024)} KB"
        return f"{self.max_bytes} bytes"

    @property
    def types_label(self) -> str:
        return ", ".join(sorted(self.types))


@dataclass(frozen=True)
class SlaTargets:
    """Hours, per priority value, from opening to the first staff reply and to resolution (calendar time)."""

    first_response: Mapping[str, int]
    resolution: Mapping[str, int]

    @classmethod
    def from_config(cls, config: Mapping) -> "SlaTargets":
        return cls(first_response=dict(config["TICKET_FIRST_RESPONSE_HOURS"]),
                   resolution=dict(config["TICKET_RESOLUTION_HOURS"]))


# ---------------------------------------------------------------- input

@dataclass(frozen=True)
class Upload:
    """A file as it was sent: the name the browser gave and its bytes; views read at most `max_bytes + 1`
    of them, enough to tell an oversized file without holding all of it."""

    filename: str
    content: bytes


class TicketInputError(ServiceError):
    """Problems with the input, each on its form field (`errors`: field name → translated messages)."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        field, messages = next(iter(errors.items()))
        super().__init__(messages[0], field=field)
        self.errors = errors


CONTENT_TYPES = {
    "pdf": "application/pdf",
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "txt": "text/plain",
    "log": "text/plain",
    "csv": "text/csv",
    "zip": "application/zip",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
# The first bytes a file of each type starts with (docx and xlsx are ZIP packages).
SIGNATURES = {
    "pdf": (b"%PDF-",),
    "png": (b"\x89PNG\r\n\x1a\n",),
    "jpg": (b"\xff\xd8\xff",),
    "jpeg": (b"\xff\xd8\xff",),
    "zip": (b"PK\x03\x04", b"PK\x05\x06"),
    "docx": (b"PK\x03\x04",),
    "xlsx": (b"PK\x03\x04",),
}
TEXT_TYPES = frozenset({"txt", "log", "csv"})  # must decode as UTF-8
FALLBACK_CONTENT_TYPE = "application/octet-stream"  # an extension added by settings without a known type


def clean_filename(name: str) -> str:
    """The name without folders, control or path characters, at most FILENAME_MAX characters, extension kept."""
    base = unicodedata.normalize("NFC", (name or "").replace("\\", "/").rsplit("/", 1)[-1])
    kept = "".join(c if (c.isalnum() or c in " -_.()") else "_" for c in base)
    kept = " ".join(kept.split()).strip(" .")
    if len(kept) > FILENAME_MAX:
        stem, dot, extension = kept.rpartition(".")
        if dot and len(extension) < 20:
            kept = stem[:FILENAME_MAX - len(extension) - 1] + "." + extension
        else:
            kept = kept[:FILENAME_MAX]
    return kept or "anexo"


def extension_of(filename: str) -> str:
    stem, dot, extension = filename.rpartition(".")
    return extension.lower() if dot and stem else ""


def _content_matches(extension: str, content: bytes) -> bool:
    if extension in SIGNATURES:
        return content.startswith(SIGNATURES[extension])
    if extension in TEXT_TYPES:
        try:
            content.decode("utf-8")
        except UnicodeDecodeError:
            return False
    return True


@dataclass(frozen=True)
class _CheckedFile:
    filename: str
    content: bytes
    content_type: str


def _check_uploads(uploads: Sequence[Upload], rules: AttachmentRules,
                   errors: dict[str, list[str]]) -> list[_CheckedFile]:
    """The files that pass; a message in `errors["attachments"]` for each that does not."""
    problems: list[str] = []
    if len(uploads) > FILES_PER_MESSAGE:
        problems.append(_("Envie no máximo %(n)d arquivos por mensagem.", n=FILES_PER_MESSAGE))
    checked = []
    for upload in uploads[:FILES_PER_MESSAGE]:
        filename = clean_filename(upload.filename)
        extension = extension_of(filename)
        if extension not in rules.types:
            problems.append(_("“%(name)s”: este tipo de arquivo não é aceito. Envie %(types)s.",
                              name=filename, types=rules.types_label))
        elif len(upload.content) > rules.max_bytes:
            problems.append(_("“%(name)s” passa do limite de %(max)s por arquivo.", name=filename, max=rules.max_label))
        elif not upload.content:
            problems.append(_("“%(name)s” está vazio.", name=filename))
        elif not _content_matches(extension, upload.content):
            problems.append(_("“%(name)s” não é um arquivo .%(ext)s de verdade: o conteúdo não corresponde à "
                              "extensão.", name=filename, ext=extension))
        else:
            checked.append(_CheckedFile(filename, upload.content,
                                        CONTENT_TYPES.get(extension, FALLBACK_CONTENT_TYPE)))
    if problems:
        problems.append(_("Nenhum arquivo foi anexado: escolha os arquivos de novo."))
        errors.setdefault("attachments", []).extend(problems)
    return checked


def _text(value: str | None, field: str, errors: dict[str, list[str]], *, limit: int) -> str:
    text = (value or "").strip()
    if not text:
        errors.setdefault(field, []).append(_("Preencha este campo."))
    elif len(text) > limit:
        errors.setdefault(field, []).append(_("Use no máximo %(max)d caracteres.", max=limit))
    return text


# ---------------------------------------------------------------- who may

def _require_customer(membership: Membership | None) -> Membership:
    if (membership is None or not membership.is_usable
            or Permission.TICKETS_MANAGE not in permissions_for(membership.roles)):
        raise PermissionDenied(_("Apenas os papéis Suporte e Master abrem e acompanham chamados."))
    return membership


def _require_own(ticket: Ticket, membership: Membership) -> None:
    if ticket.organization_id != membership.organization_id:
        raise NotFound(_("Chamado não encontrado."))


def _require_staff(actor: Actor, permission: StaffPermission) -> User:
    user = actor.user
    if user is None or not user.is_staff or not user.active or permission not in staff_permissions_for(
            user.staff_roles):
        if permission == StaffPermission.TICKETS_MANAGE:
            raise PermissionDenied(_("Apenas a equipe de suporte responde e altera chamados."))
        raise PermissionDenied(_("Apenas a equipe autorizada vê chamados."))
    return user


def _locked(ticket: Ticket) -> Ticket:
    """The ticket re-read under a row lock: two people acting at once change its status one after the other."""
    return db.session.scalars(
        select(Ticket).where(Ticket.id == ticket.id).with_for_update().execution_options(populate_existing=True)
    ).one()


# ---------------------------------------------------------------- the conversation

def _add_message(ticket: Ticket, *, kind: MessageKind, author: User | None, body: str, from_staff: bool,
                 files: Iterable[_CheckedFile] = ()) -> TicketMessage:
    now = clock.now()
    message = TicketMessage(ticket_id=ticket.id, author_id=author.id if author else None, kind=kind,
                            from_staff=from_staff, body=body, created_at=now)
    db.session.add(message)
    db.session.flush()
    for file in files:
        # The document store down: a message on the form, nothing of this message kept.
        digest = documents.store_sent(file.content, file.content_type, field="attachments")
        db.session.add(TicketAttachment(ticket_id=ticket.id, message_id=message.id, filename=file.filename,
                                        content_type=file.content_type, size=len(file.content), sha256=digest,
                                        created_at=now))
    ticket.updated_at = now
    db.session.flush()
    return message


STATUS_SEPARATOR = "->"


def status_change(message: TicketMessage) -> tuple[str, str]:
    """(old, new) status values of a MessageKind.STATUS message."""
    old, _sep, new = message.body.partition(STATUS_SEPARATOR)
    return old, new


def _set_status(ticket: Ticket, new: str, *, author: User | None, from_staff: bool, actor: Actor) -> str:
    """Move the ticket to `new`, write the status line of the conversation and the audit event; the old status."""
    old = ticket.status
    if old == new:
        return old
    now = clock.now()
    ticket.status = new
    if new == TicketStatus.RESOLVED:
        ticket.resolved_at = now
    elif new == TicketStatus.CLOSED:
        ticket.closed_at = now
    elif old in FINISHED:  # reopened: the resolution clock runs again
        ticket.resolved_at = None
        ticket.closed_at = None
    _add_message(ticket, kind=MessageKind.STATUS, author=author, body=f"{old}{STATUS_SEPARATOR}{new}",
                 from_staff=from_staff)
    record(AuditTag.TICKET_STATUS_CHANGED, actor=actor, organization_id=ticket.organization_id,
           subject=f"ticket:{ticket.id}", before={"status": old}, after={"status": new})
    return old


def customer_conversation(ticket: Ticket) -> list[TicketMessage]:
    """What the customer sees: messages (theirs and staff replies) and status changes, never internal notes."""
    return [m for m in _messages(ticket) if m.kind != MessageKind.NOTE]


def staff_conversation(ticket: Ticket) -> list[TicketMessage]:
    """Everything, internal notes included."""
    return _messages(ticket)


# A ticket page's statements, built once (a statement built per request costs as much again as running it).
# The messages with their files and their authors, in one statement (the authors for `people`).
_MESSAGES = (select(TicketMessage, User).outerjoin(User, User.id == TicketMessage.author_id)
             .where(TicketMessage.ticket_id == bindparam("ticket_id", type_=Integer))
             .options(joinedload(TicketMessage.attachments)).order_by(TicketMessage.id))
_PEOPLE = select(User).where(User.id.in_(bindparam("ids", expanding=True)))
_CUSTOMER_TICKET = select(Ticket).where(Ticket.id == bindparam("ticket_id", type_=Integer),
                                        Ticket.organization_id == bindparam("organization_id", type_=Integer))
_TICKET_SUBSCRIPTION = (select(Subscription)
                        .where(Subscription.id == bindparam("subscription_id", type_=Integer),
                               Subscription.organization_id == bindparam("organization_id", type_=Integer))
                        .options(selectinload(Subscription.product)))


def _messages(ticket: Ticket) -> list[TicketMessage]:
    return [row[0] for row in db.session.execute(_MESSAGES, {"ticket_id": ticket.id}).unique()]


def people(messages: Iterable[TicketMessage], *extra_ids: int | None) -> dict[int, User]:
    """The authors of `messages` (and any `extra_ids`), by id, for showing names. Those the session holds already
    (the conversation's authors come with its messages) cost no statement; the others are selected together."""
    ids = {m.author_id for m in messages if m.author_id is not None} | {i for i in extra_ids if i is not None}
    found: dict[int, User] = {}
    for user_id in ids:
        user = db.session.identity_map.get(identity_key(User, user_id))
        if user is not None:
            found[user_id] = user
    missing = sorted(ids - found.keys())
    if missing:
        found.update((u.id, u) for u in db.session.execute(_PEOPLE, {"ids": missing}).scalars())
    return found


# ---------------------------------------------------------------- customer side

def customer_tickets(*, membership: Membership, statuses: Sequence[str] | None, page: int,
                     per_page: int) -> list[Ticket]:
    """The organization's tickets, most recently updated first: up to `per_page + 1` (one more: a next page)."""
    _require_customer(membership)
    parameters = {"organization_id": membership.organization_id, "statuses": list(statuses or ()),
                  **page_window(page, per_page)}
    return list(db.session.execute(_TICKETS_OF_STATUSES if statuses else _TICKETS, parameters).scalars())


# "Chamados", built once (a statement built per request costs as much again as running it).
_TICKETS = paged(select(Ticket).where(Ticket.organization_id == bindparam("organization_id", type_=Integer))
                 .order_by(Ticket.updated_at.desc(), Ticket.id.desc()))
_TICKETS_OF_STATUSES = _TICKETS.where(Ticket.status.in_(bindparam("statuses", expanding=True)))


def customer_ticket(ticket_id: int, *, membership: Membership) -> Ticket:
    """A ticket of the membership's organization; NotFound for any other (another organization's included)."""
    _require_customer(membership)
    ticket = db.session.execute(
        _CUSTOMER_TICKET, {"ticket_id": ticket_id, "organization_id": membership.organization_id}).scalar()
    if ticket is None:
        raise NotFound(_("Chamado não encontrado."))
    return ticket


def subscriptions_for(organization_id: int) -> list[Subscription]:
    """The subscriptions a ticket of this organization may be about."""
    return list(db.session.scalars(
        select(Subscription).where(Subscription.organization_id == organization_id)
        .options(selectinload(Subscription.product)).order_by(Subscription.id)))


def ticket_subscription(ticket: Ticket) -> Subscription | None:
    """The subscription the ticket is about, if any (always one of the ticket's organization)."""
    if ticket.subscription_id is None:
        return None
    return db.session.execute(
        _TICKET_SUBSCRIPTION, {"subscription_id": ticket.subscription_id, "organization_id": ticket.organization_id},
    ).scalar()


def open_ticket(*, membership: Membership, actor: Actor, category: str, priority: str, subject: str,
                description: str, subscription_id: int | None, uploads: Sequence[Upload],
                rules: AttachmentRules) -> Ticket:
    """Open a ticket with its first message and files; staff get an e-mail. Commits.

    Raises TicketInputError with every problem found (text, subscription, each refused file); nothing is
    stored then, so the form can be shown again with the input kept.
    """
    _require_customer(membership)
    errors: dict[str, list[str]] = {}
    if category not in set(TicketCategory):
        errors["category"] = [_("Escolha uma categoria da lista.")]
    if priority not in set(TicketPriority):
        errors["priority"] = [_("Escolha uma prioridade da lista.")]
    subject = _text(subject, "subject", errors, limit=SUBJECT_MAX)
    description = _text(description, "description", errors, limit=BODY_MAX)
    if subscription_id is not None:
        found = db.session.scalar(select(Subscription.id).where(
            Subscription.id == subscription_id, Subscription.organization_id == membership.organization_id))
        if found is None:
            errors["subscription"] = [_("Escolha uma assinatura da sua organização, ou nenhuma.")]
    files = _check_uploads(uploads, rules, errors)
    if errors:
        raise TicketInputError(errors)

    user = membership.user
    now = clock.now()
    ticket = Ticket(organization_id=membership.organization_id, opened_by_id=user.id, category=category,
                    priority=priority, subject=subject, status=TicketStatus.OPEN, subscription_id=subscription_id,
                    created_at=now, updated_at=now)
    db.session.add(ticket)
    db.session.flush()
    message = _add_message(ticket, kind=MessageKind.MESSAGE, author=user, body=description, from_staff=False,
                           files=files)
    record(AuditTag.TICKET_OPENED, actor=actor, organization_id=ticket.organization_id, subject=f"ticket:{ticket.id}",
           after={"subject": subject, "category": category, "priority": priority,
                  "subscription_id": subscription_id, "attachments": [f.filename for f in files]})
    notifications.ticket_opened(ticket=ticket, message=message, opener=user,
                                organization=membership.organization, attachments=[f.filename for f in files])
    db.session.commit()
    return ticket


def customer_reply(ticket: Ticket, *, membership: Membership, actor: Actor, body: str, uploads: Sequence[Upload],
                   rules: AttachmentRules) -> TicketMessage:
    """The customer's message on its organization's ticket. A resolved ticket reopens (back to open); one
    waiting for the customer goes back to staff (in progress). A closed ticket must be reopened first. Commits."""
    _require_customer(membership)
    _require_own(ticket, membership)
    ticket = _locked(ticket)
    if ticket.status == TicketStatus.CLOSED:
        raise ServiceError(_("Este chamado está fechado. Reabra-o para responder."))
    errors: dict[str, list[str]] = {}
    body = _text(body, "body", errors, limit=BODY_MAX)
    files = _check_uploads(uploads, rules, errors)
    if errors:
        raise TicketInputError(errors)
    user = membership.user
    message = _add_message(ticket, kind=MessageKind.MESSAGE, author=user, body=body, from_staff=False, files=files)
    if ticket.status == TicketStatus.RESOLVED:
        _set_status(ticket, TicketStatus.OPEN, author=user, from_staff=False, actor=actor)
    elif ticket.status == TicketStatus.WAITING_CUSTOMER:
        _set_status(ticket, TicketStatus.IN_PROGRESS, author=user, from_staff=False, actor=actor)
    record(AuditTag.TICKET_REPLIED, actor=actor, organization_id=ticket.organization_id, subject=f"ticket:{ticket.id}",
           after={"message_id": message.id, "from_staff": False, "status": ticket.status,
                  "attachments": [f.filename for f in files]})
    assignee = db.session.get(User, ticket.assignee_id) if ticket.assignee_id else None
    notifications.ticket_customer_replied(ticket=ticket, message=message, author=user,
                                          organization=membership.organization, assignee=assignee)
    db.session.commit()
    return message


def _customer_status(ticket: Ticket, new: str, *, membership: Membership, actor: Actor, allowed_from: Sequence[str],
                     refusal: str) -> None:
    _require_customer(membership)
    _require_own(ticket, membership)
    ticket = _locked(ticket)
    if ticket.status not in allowed_from:
        raise ServiceError(refusal)
    old = _set_status(ticket, new, author=membership.user, from_staff=False, actor=actor)
    if ticket.opened_by_id != membership.user_id:  # the opener learns what someone else did
        notifications.ticket_status_changed(ticket=ticket, old=old, new=new,
                                            opener=db.session.get(User, ticket.opened_by_id))
    db.session.commit()


def customer_close(ticket: Ticket, *, membership: Membership, actor: Actor) -> None:
    """The customer closes its ticket (nothing more to do). Commits."""
    _customer_status(ticket, TicketStatus.CLOSED, membership=membership, actor=actor,
                     allowed_from=(*ACTIVE, TicketStatus.RESOLVED), refusal=_("Este chamado já está fechado."))


def customer_reopen(ticket: Ticket, *, membership: Membership, actor: Actor) -> None:
    """The customer reopens a resolved or closed ticket: back to open, waiting for staff. Commits."""
    _customer_status(ticket, TicketStatus.OPEN, membership=membership, actor=actor, allowed_from=FINISHED,
                     refusal=_("Este chamado já está em andamento."))


def customer_attachment(ticket: Ticket, attachment_id: int, *, membership: Membership) -> TicketAttachment:
    """A file of a message the customer can see (its bytes are sent with `documents.send`); NotFound for anything
    else (a note's file, another ticket's, another organization's)."""
    _require_customer(membership)
    _require_own(ticket, membership)
    attachment = db.session.scalar(
        select(TicketAttachment).join(TicketMessage, TicketMessage.id == TicketAttachment.message_id)
        .where(TicketAttachment.id == attachment_id, TicketAttachment.ticket_id == ticket.id,
               TicketMessage.kind == MessageKind.MESSAGE))
    if attachment is None:
        raise NotFound(_("Arquivo não encontrado."))
    return attachment


# ---------------------------------------------------------------- staff side

def staff_ticket(ticket_id: int, *, actor: Actor) -> Ticket:
    _require_staff(actor, StaffPermission.TICKETS_READ)
    ticket = db.session.get(Ticket, ticket_id)
    if ticket is None:
        raise NotFound(_("Chamado não encontrado."))
    return ticket


def staff_attachment(ticket: Ticket, attachment_id: int, *, actor: Actor) -> TicketAttachment:
    _require_staff(actor, StaffPermission.TICKETS_READ)
    attachment = db.session.scalar(select(TicketAttachment).where(
        TicketAttachment.id == attachment_id, TicketAttachment.ticket_id == ticket.id))
    if attachment is None:
        raise NotFound(_("Arquivo não encontrado."))
    return attachment


def assignable_staff() -> list[User]:
    """Active staff users who may act on tickets (the assignee choices)."""
    roles = [role for role, granted in STAFF_ROLE_PERMISSIONS.items() if StaffPermission.TICKETS_MANAGE in granted]
    return list(db.session.scalars(
        select(User).join(StaffRoleGrant, StaffRoleGrant.user_id == User.id)
        .where(User.is_staff.is_(True), User.active.is_(True), StaffRoleGrant.role.in_(roles))
        .distinct().order_by(User.name, User.id)))


def staff_reply(ticket: Ticket, *, actor: Actor, body: str, status: str, uploads: Sequence[Upload],
                rules: AttachmentRules) -> TicketMessage:
    """A reply the customer sees and is e-mailed; the first one sets the first-response time. The ticket then
    waits for the customer, stays in progress, or is resolved, as chosen. Commits."""
    user = _require_staff(actor, StaffPermission.TICKETS_MANAGE)
    ticket = _locked(ticket)
    if ticket.status == TicketStatus.CLOSED:
        raise ServiceError(_("Este chamado está fechado. Reabra-o antes de responder."))
    errors: dict[str, list[str]] = {}
    body = _text(body, "body", errors, limit=BODY_MAX)
    if status not in REPLY_STATUSES:
        errors["status"] = [_("Escolha a situação do chamado depois da resposta.")]
    files = _check_uploads(uploads, rules, errors)
    if errors:
        raise TicketInputError(errors)
    message = _add_message(ticket, kind=MessageKind.MESSAGE, author=user, body=body, from_staff=True, files=files)
    if ticket.first_response_at is None:
        ticket.first_response_at = message.created_at
    _set_status(ticket, status, author=user, from_staff=True, actor=actor)
    record(AuditTag.TICKET_REPLIED, actor=actor, organization_id=ticket.organization_id, subject=f"ticket:{ticket.id}",
           after={"message_id": message.id, "from_staff": True, "status": ticket.status,
                  "attachments": [f.filename for f in files]})
    webhook_outbox.ticket_replied(ticket, message)
    notifications.ticket_replied(ticket=ticket, message=message, author=user)
    db.session.commit()
    return message


def add_note(ticket: Ticket, *, actor: Actor, body: str, uploads: Sequence[Upload],
             rules: AttachmentRules) -> TicketMessage:
    """An internal note: for staff only, never shown or e-mailed to the customer. Commits."""
    user = _require_staff(actor, StaffPermission.TICKETS_MANAGE)
    ticket = _locked(ticket)
    errors: dict[str, list[str]] = {}
    body = _text(body, "body", errors, limit=BODY_MAX)
    files = _check_uploads(uploads, rules, errors)
    if errors:
        raise TicketInputError(errors)
    message = _add_message(ticket, kind=MessageKind.NOTE, author=user, body=body, from_staff=True, files=files)
    # No organization on the event: the customer's "Histórico" lists its organization's events, and must not
    # even tell that a note exists. Staff find it by its subject.
    record(AuditTag.TICKET_NOTE_ADDED, actor=actor, organization_id=None, subject=f"ticket:{ticket.id}",
           after={"organization_id": ticket.organization_id, "message_id": message.id,
                  "attachments": [f.filename for f in files]})
    db.session.commit()
    return message


def assign(ticket: Ticket, *, actor: Actor, assignee_id: int | None) -> None:
    """Give the ticket to a staff user who may act on tickets, or to nobody (None). Commits."""
    _require_staff(actor, StaffPermission.TICKETS_MANAGE)
    ticket = _locked(ticket)
    assignee = None
    if assignee_id is not None:
        assignee = next((u for u in assignable_staff() if u.id == assignee_id), None)
        if assignee is None:
            raise TicketInputError({"assignee": [_("Escolha alguém da equipe que atende chamados.")]})
    if ticket.assignee_id == assignee_id:
        return
    before = db.session.get(User, ticket.assignee_id) if ticket.assignee_id else None
    ticket.assignee_id = assignee_id
    ticket.updated_at = clock.now()
    record(AuditTag.TICKET_ASSIGNED, actor=actor, organization_id=ticket.organization_id,
           subject=f"ticket:{ticket.id}", before={"assignee": before.email if before else None},
           after={"assignee": assignee.email if assignee else None})
    db.session.commit()


def change_status(ticket: Ticket, *, actor: Actor, status: str) -> None:
    """Staff move the ticket along open → in progress → waiting for the customer → resolved → closed, or reopen
    it; the opener gets an e-mail. Commits."""
    user = _require_staff(actor, StaffPermission.TICKETS_MANAGE)
    ticket = _locked(ticket)
    if status not in STAFF_TRANSITIONS.get(ticket.status, ()):
        raise TicketInputError({"status": [_("Um chamado nesta situação não pode passar para a escolhida.")]})
    old = _set_status(ticket, status, author=user, from_staff=True, actor=actor)
    notifications.ticket_status_changed(ticket=ticket, old=old, new=status,
                                        opener=db.session.get(User, ticket.opened_by_id))
    db.session.commit()


# ---------------------------------------------------------------- the queue

def _target_clause(column, cutoffs: Mapping[str, Any]):
    """`column` is earlier than the cutoff of the ticket's own priority (a late ticket); the cutoffs are times or
    statement parameters."""
    return or_(*(and_(Ticket.priority == priority, column < cutoff) for priority, cutoff in cutoffs.items()))


def _cutoffs(targets: Mapping[str, int], now: datetime) -> dict[str, datetime]:
    """Each priority's moment before which a ticket is late: now minus the priority's target."""
    return {priority: now - timedelta(hours=hours) for priority, hours in targets.items()}


def _late_first_response(cutoffs: Mapping[str, Any]):
    return and_(Ticket.status.in_(ACTIVE), Ticket.first_response_at.is_(None),
                _target_clause(Ticket.created_at, cutoffs))


def late_first_response_filter(targets: SlaTargets, now: datetime):
    """Tickets still waiting for their first staff reply past the target of their priority."""
    return _late_first_response(_cutoffs(targets.first_response, now))


def late_first_response_count(targets: SlaTargets, now: datetime) -> int:
    return db.session.scalar(select(func.count(Ticket.id)).where(late_first_response_filter(targets, now))) or 0


@functools.cache
def late_first_response_count_column(priorities: tuple[str, ...]):
    """`late_first_response_count` as a scalar subquery built once, its cutoffs the parameters `late_<priority>`
    (`late_first_response_parameters`): the staff navigation reads it on every page (portal/staff_navigation.py)."""
    cutoffs = {priority: bindparam(f"late_{priority}", type_=Ticket.created_at.type) for priority in priorities}
    return select(func.count(Ticket.id)).where(_late_first_response(cutoffs)).scalar_subquery()


def late_first_response_parameters(targets: SlaTargets, now: datetime) -> dict[str, datetime]:
    return {f"late_{priority}": cutoff for priority, cutoff in _cutoffs(targets.first_response, now).items()}


ASSIGNEE_NONE = "none"
ASSIGNEE_MINE = "mine"


def search_queue(*, actor: Actor, statuses: Sequence[str] | None, priority: str | None, organization: str,
                 assignee: str | int | None, page: int, per_page: int) -> list[Ticket]:
    """The staff queue: the most urgent priority first, then the oldest; up to `per_page + 1` tickets.

    `statuses` None means every status; `assignee` is ASSIGNEE_NONE ("sem responsável"), ASSIGNEE_MINE, a staff
    user's id, or None (anyone); `organization` is part of the name or of the CNPJ.
    """
    user = _require_staff(actor, StaffPermission.TICKETS_READ)
    rank = case({str(value): rank for value, rank in PRIORITY_RANK.items()}, value=Ticket.priority, else_=0)
    statement = (select(Ticket).join(Organization, Organization.id == Ticket.organization_id)
                 .order_by(rank.desc(), Ticket.created_at, Ticket.id))
    if statuses:
        statement = statement.where(Ticket.status.in_(statuses))
    if priority:
        statement = statement.where(Ticket.priority == priority)
    if organization:
        statement = statement.where(Organization.matching(organization))
    if assignee == ASSIGNEE_NONE:
        statement = statement.where(Ticket.assignee_id.is_(None))
    elif assignee == ASSIGNEE_MINE:
        statement = statement.where(Ticket.assignee_id == user.id)
    elif isinstance(assignee, int):
        statement = statement.where(Ticket.assignee_id == assignee)
    return list(db.session.scalars(statement.limit(per_page + 1).offset((page - 1) * per_page)))


def organizations_of(tickets: Iterable[Ticket]) -> dict[int, Organization]:
    ids = {t.organization_id for t in tickets}
    if not ids:
        return {}
    return {o.id: o for o in db.session.scalars(select(Organization).where(Organization.id.in_(ids)))}


# ---------------------------------------------------------------- the clocks

@dataclass(frozen=True)
class SlaClock:
    """One target of a ticket: how long it took (or has been running), against how long it may take."""

    elapsed: timedelta
    target: timedelta
    state: str  # "done" (the reply or resolution happened), "running", or "none" (finished without a reply)

    @property
    def late(self) -> bool:
        return self.state != "none" and self.elapsed > self.target

    @property
    def left(self) -> timedelta:
        return self.target - self.elapsed


def ticket_clocks(ticket: Ticket, *, targets: SlaTargets, now: datetime) -> tuple[SlaClock, SlaClock]:
    """(first response, resolution) of `ticket` at `now`."""
    finished_at = ticket.resolved_at or ticket.closed_at
    first_target = timedelta(hours=targets.first_response.get(ticket.priority, 0))
    if ticket.first_response_at is not None:
        first = SlaClock(ticket.first_response_at - ticket.created_at, first_target, "done")
    elif ticket.status in FINISHED:
        first = SlaClock((finished_at or now) - ticket.created_at, first_target, "none")
    else:
        first = SlaClock(now - ticket.created_at, first_target, "running")
    resolution_target = timedelta(hours=targets.resolution.get(ticket.priority, 0))
    if ticket.status in FINISHED and finished_at is not None:
        resolution = SlaClock(finished_at - ticket.created_at, resolution_target, "done")
    else:
        resolution = SlaClock(now - ticket.created_at, resolution_target, "running")
    return first, resolution


def file_size_label(size: int) -> str:
    """"850 bytes", "12 KB", "1,4 MB" in the current language."""
    if size < 1024:
        return _("%(n)d bytes", n=size)
    if size < 1024 * 1024:
        return _("%(n)s KB", n=format_decimal(round(size / 1024)))
    return _("%(n)s MB", n=format_decimal(round(size / (1024 * 1024), 1)))


def target_label(delta: timedelta) -> str:
    """A target in whole hours, as set: "4 h", "120 h"."""
    return _("%(h)d h", h=int(delta.total_seconds() // 3600))


def first_response_label(clock_: SlaClock) -> str:
    """"1ª resposta: 2 h 10 min (meta 4 h) — no prazo", as the queue and the ticket page show it."""
    values = {"elapsed": duration_label(clock_.elapsed), "target": target_label(clock_.target)}
    if clock_.state == "none":
        return _("1ª resposta: não houve (meta %(target)s)", **values)
    if clock_.state == "running":
        text = _("1ª resposta: aguardando há %(elapsed)s (meta %(target)s)", **values)
        return text + " — " + (_("atrasada") if clock_.late else _("faltam %(left)s", left=duration_label(clock_.left)))
    return _("1ª resposta: %(elapsed)s (meta %(target)s)", **values) + " — " + (
        _("atrasada") if clock_.late else _("no prazo"))


def resolution_label(clock_: SlaClock) -> str:
    """"Resolução: em aberto há 5 h 02 min (meta 24 h) — faltam 18 h 58 min"."""
    values = {"elapsed": duration_label(clock_.elapsed), "target": target_label(clock_.target)}
    if clock_.state == "running":
        text = _("Resolução: em aberto há %(elapsed)s (meta %(target)s)", **values)
        return text + " — " + (_("atrasada") if clock_.late else _("faltam %(left)s", left=duration_label(clock_.left)))
    return _("Resolução: %(elapsed)s (meta %(target)s)", **values) + " — " + (
        _("atrasada") if clock_.late else _("no prazo"))

