"""The staff navigation's badges — orders needing attention (subscriptions.orders.attention_filter) and tickets late
on their first reply (support.service.late_first_response_filter) — read in one statement, once per request.

Every staff page renders the navigation, so this is on the path of every staff page: the statement is built once
from the rooms' own columns (`attention_count_column`, `late_first_response_count_column`) for what the staff user
may see, and only its parameters (the cutoff times) change.
"""

import functools
from dataclasses import dataclass

from flask import current_app, g
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from portal.accounts.roles import StaffPermission
from portal.extensions import db
from portal.shared import clock
from portal.shared.permissions import staff_can
from portal.subscriptions import orders
from portal.support import service as support
from portal.support.service import SlaTargets

_REQUEST_KEY = "_staff_navigation_badges"


@dataclass(frozen=True, slots=True)
class StaffBadges:
    orders: int | None = None  # orders needing attention (for who may read orders)
    tickets: int | None = None  # tickets late on their first reply (for who may read tickets)


def staff_badges() -> StaffBadges:
    """The badges of the current staff user's navigation, read once per request; none where the database cannot
    tell (the error pages render the navigation too: they must not fail again)."""
    found = g.get(_REQUEST_KEY)
    if found is None:
        found = g.setdefault(_REQUEST_KEY, _read())
    return found


def _read() -> StaffBadges:
    wants_orders, wants_tickets = staff_can(StaffPermission.ORDERS_READ), staff_can(StaffPermission.TICKETS_READ)
    if not (wants_orders or wants_tickets):
        return StaffBadges()
    now, targets = clock.now(), SlaTargets.from_config(current_app.config)
    priorities = tuple(sorted(targets.first_response))
    parameters = {**(orders.attention_parameters(now) if wants_orders else {}),
                  **(support.late_first_response_parameters(targets, now) if wants_tickets else {})}
    try:
        row = db.session.connection().execute(_statement(wants_orders, wants_tickets, priorities), parameters).one()
    except SQLAlchemyError:
        db.session.rollback()
        return StaffBadges()
    return StaffBadges(orders=row.orders if wants_orders else None, tickets=row.tickets if wants_tickets else None)


@functools.cache
def _statement(wants_orders: bool, wants_tickets: bool, priorities: tuple[str, ...]):
    columns = []
    if wants_orders:
        columns.append(orders.attention_count_column().label("orders"))
    if wants_tickets:
        columns.append(support.late_first_response_count_column(priorities).label("tickets"))
    return select(*columns)


def forget() -> None:
    """At the start of a request: a request run inside an already pushed app context (tests, CLI) shares `g`."""
    g.pop(_REQUEST_KEY, None)
