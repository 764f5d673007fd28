"""The backoffice "Chamados" routes, for tests/test_permissions.py.

POSTs go with an empty form: a role that may act gets 422 (reply, note, status: input refused) or 302 (assign to
nobody a ticket that has nobody: nothing to change).
"""

from tests import factories


def _ticket(world) -> dict:
    return {"ticket_id": factories.ticket(world.demo, world.suporte).id}


def _file(world) -> dict:
    ticket = factories.ticket(world.demo, world.suporte)
    return {"ticket_id": ticket.id, "attachment_id": ticket.messages[0].attachments[0].id}


STAFF_ROUTES = {
    "backoffice.tickets": ("GET", {}),
    "backoffice.ticket": ("GET", _ticket),
    "backoffice.ticket_reply": ("POST", _ticket),
    "backoffice.ticket_note": ("POST", _ticket),
    "backoffice.ticket_assign": ("POST", _ticket),
    "backoffice.ticket_status": ("POST", _ticket),
    "backoffice.ticket_attachment": ("GET", _file),
}
