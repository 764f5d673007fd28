"""The customer "Chamados" routes, for tests/test_permissions.py (tickets: `factories.ticket`).

The reply route is listed as POST with an empty form: a role that may use it gets 422 (allowed, input refused).
"""

from portal.support.models import Ticket
from tests import factories


def _own(world) -> dict:
    return {"ticket_id": factories.ticket(world.demo, world.suporte).id}


def _other(world) -> dict:
    return {"ticket_id": factories.ticket(world.other, world.other_master).id}


def _file(ticket: Ticket) -> dict:
    return {"ticket_id": ticket.id, "attachment_id": ticket.messages[0].attachments[0].id}


CUSTOMER_ROUTES = {
    "support.tickets": ("GET", lambda w: {}, None),
    "support.new_ticket": ("GET", lambda w: {}, None),
    "support.ticket": ("GET", _own, _other),
    "support.reply": ("POST", _own, _other),
    "support.close": ("POST", _own, _other),
    "support.reopen": ("POST", _own, _other),
    "support.attachment": ("GET", lambda w: _file(factories.ticket(w.demo, w.suporte)),
                           lambda w: _file(factories.ticket(w.other, w.other_master))),
}
