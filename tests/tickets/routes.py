"""The customer "Chamados" routes, for tests/test_permissions.py, and helpers that make ticket rows directly.

The reply route is listed as POST with an empty form: a role that may use it gets 422 (allowed, input refused).
"""

from datetime import datetime

from portal.extensions import db
from portal.shared import clock, documents
from portal.support.models import MessageKind, Ticket, TicketAttachment, TicketMessage, TicketPriority, TicketStatus

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def add_message(ticket: Ticket, author, body: str, *, kind=MessageKind.MESSAGE, from_staff=False,
                files: list[tuple[str, bytes, str]] = (), created_at: datetime | None = None) -> TicketMessage:
    """A conversation row (and its files, stored in the document store) as the service leaves it."""
    created_at = created_at or clock.now()
    message = TicketMessage(ticket_id=ticket.id, author_id=author.id if author else None, kind=kind,
                            from_staff=from_staff, body=body, created_at=created_at)
    db.session.add(message)
    db.session.flush()
    for filename, content, content_type in files:
        db.session.add(TicketAttachment(ticket_id=ticket.id, message_id=message.id, filename=filename,
                                        content_type=content_type, size=len(content),
                                        sha256=documents.store(content, content_type), created_at=created_at))
    db.session.flush()
    return message


def make_ticket(organization, opener, *, subject="O Outlook não sincroniza", body="Desde ontem o Outlook não "
                "recebe e-mails.", priority=TicketPriority.NORMAL, status=TicketStatus.OPEN,
                created_at: datetime | None = None, with_file=True, **fields) -> Ticket:
    """A ticket with its first message (and a PDF attached unless `with_file` is false), committed."""
    created_at = created_at or clock.now()
    ticket = Ticket(organization_id=organization.id, opened_by_id=opener.id, category="technical",
                    priority=priority, subject=subject, status=status, created_at=created_at, updated_at=created_at,
                    **fields)
    db.session.add(ticket)
    db.session.flush()
    add_message(ticket, opener, body, created_at=created_at,
                files=[("erro.pdf", PDF, "application/pdf")] if with_file else [])
    db.session.commit()
    return ticket


def _own(world) -> dict:
    return {"ticket_id": make_ticket(world.demo, world.suporte).id}


def _other(world) -> dict:
    return {"ticket_id": make_ticket(world.other, world.other_master).id}


def _file(ticket: Ticket) -> dict:
    return {"ticket_id": ticket.id, "attachment_id": ticket.messages[0].attachments[0].id}


CUSTOMER_ROUTES = {
    "support.tickets": ("GET", lambda w: {}, None),
    "support.new_ticket": ("GET", lambda w: {}, None),
    "support.ticket": ("GET", _own, _other),
    "support.reply": ("POST", _own, _other),
    "support.close": ("POST", _own, _other),
    "support.reopen": ("POST", _own, _other),
    "support.attachment": ("GET", lambda w: _file(make_ticket(w.demo, w.suporte)),
                           lambda w: _file(make_ticket(w.other, w.other_master))),
}
