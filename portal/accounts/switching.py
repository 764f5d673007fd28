"""The "trocar de organização?" step: a link to an object of another of the user's organizations asks to switch.

A user of several organizations works in one at a time (the switcher). A link e-mailed for another of them
(a purchase offer, an invoice, a ticket) is not a 404 for that user: a page asks whether to switch to the
organization the object belongs to (a POST with CSRF to `accounts.switch_organization`, which then opens the
link). For anyone else the object does not exist: the same 404 as a wrong id, so nothing leaks.
"""

from typing import NoReturn

from flask import abort, current_app, g, make_response, render_template, request
from sqlalchemy import select

from portal.accounts.forms import ActionForm
from portal.accounts.roles import permissions_for
from portal.extensions import db
from portal.shared.permissions import access_of

MAX_ID = 2**31 - 1  # ids are 32-bit integer columns


def switch_or_404(organization_id: int | None, target: str, permission: str | None = None) -> NoReturn:
    """Answer with the switch page when `organization_id` is another organization the signed-in user may use
    (and where their roles grant `permission`, the one the target page needs), else 404. `target` is the
    same-site path to open once switched."""
    current = getattr(g, "organization", None)
    membership = next((m for m in getattr(g, "memberships", ()) if m.organization_id == organization_id), None)
    if membership is None or current is None or organization_id == current.id or (
            permission is not None and permission not in permissions_for(membership.roles)):
        abort(404)
    page = render_template("accounts/switch_organization.html", form=ActionForm(formdata=None),
                           target_organization=membership.organization, target=target)
    abort(make_response(page, 200))


def tenant_miss(model, object_id: int) -> None:
    """Called when `object_id` is not an object of the current organization: on a GET, when it is one of
    another organization of the user, the switch page answers; otherwise the caller's 404 follows."""
    if request.method != "GET" or len(getattr(g, "memberships", ())) < 2 or not 0 < object_id <= MAX_ID:
        return
    owner = db.session.scalar(select(model.organization_id).where(model.id == object_id))
    if owner is not None:
        access = access_of(current_app.view_functions[request.endpoint])
        switch_or_404(owner, request.full_path.rstrip("?"), access.permission if access else None)
