"""Per-request context: the signed-in user's current organization, membership and permissions.

Loaded once before each request into `flask.g`; `@requires` and navigation read it from there.
Tenant data in customer views is always fetched through `g.organization` (see `tenant_get`).
"""

from collections.abc import Sequence
from functools import lru_cache

from flask import abort, current_app, g, request, session
from flask_login import current_user, logout_user
from sqlalchemy import ColumnElement, Integer, bindparam, select
from sqlalchemy.orm import joinedload, selectinload

from portal.accounts import service
from portal.accounts.models import Membership, User
from portal.accounts.roles import permissions_for, staff_permissions_for
from portal.accounts.switching import MAX_ID, tenant_miss
from portal.extensions import db
from portal.shared import clock
from portal.shared.audit import Actor

SESSION_ORG = "org_id"
SESSION_SEEN = "seen"  # epoch seconds of the last request (idle timeout)
SESSION_STARTED = "started"  # epoch seconds of the sign-in (absolute lifetime)
SESSION_KEY = "sk"  # the key of this sign-in's server-side LoginSession (ended by logout and the like)


def actor_from_request(request, user=None) -> Actor:
    user = user if user is not None else (current_user if current_user.is_authenticated else None)
    ip = request.remote_addr
    agent = request.headers.get("User-Agent")
    if user is None:
        return Actor.anonymous(ip=ip, user_agent=agent)
    return Actor.for_user(getattr(user, "_get_current_object", lambda: user)(), ip=ip, user_agent=agent)


def current_actor(user=None) -> Actor:
    """Who is acting in this request (the signed-in user, or `user`), with the request's IP and browser."""
    return actor_from_request(request, user)


def load_user(session_id: str):
    """Flask-Login's user loader: the cookie's "id:token" must name an active user with that token, and the
    cookie's session key an open session of theirs (ended on the server by logout, "sair de todos", password
    change or reset, deactivation)."""
    user_id, _, token = session_id.partition(":")
    if not user_id.isdigit() or not 0 < int(user_id) <= MAX_ID:
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.active or user.session_token != token:
        return None
    key = session.get(SESSION_KEY)
    if not (isinstance(key, str) and service.session_is_open(user, key)):
        return None  # no server-side session behind the cookie, or one that was ended
    return user


def session_expired() -> bool:
    """True (and signs out) when the session was idle longer than SESSION_IDLE_MINUTES, or is older
    than PERMANENT_SESSION_LIFETIME however busy it was."""
    now = int(clock.now().timestamp())
    seen = session.get(SESSION_SEEN)
    started = session.get(SESSION_STARTED, seen)
    idle_limit = current_app.config["SESSION_IDLE_MINUTES"] * 60
    lifetime = current_app.config["PERMANENT_SESSION_LIFETIME"].total_seconds()
    if (seen is not None and now - int(seen) > idle_limit) or (started is not None and now - int(started) > lifetime):
        if isinstance(session.get(SESSION_KEY), str):  # copies of this cookie end with it
            service.end_session(session[SESSION_KEY], reason="expired")
        logout_user()
        session.clear()
        return True
    session[SESSION_SEEN] = now
    return False


def load_request_context(columns: Sequence[ColumnElement] = (), parameters: dict | None = None) -> None:
    """The signed-in customer's memberships, the one chosen (`g.membership`, `g.organization`, `g.permissions`).

    `columns`: expressions selected beside each membership (correlated to it, `parameters` bound), e.g. the
    navigation's badges read in this same statement; the chosen membership's row is `g.membership_row`."""
    g.membership = None
    g.membership_row = None
    g.organization = None
    g.memberships = []
    g.permissions = frozenset()
    g.staff_permissions = frozenset()
    if not current_user.is_authenticated:
        return
    if current_user.is_staff:
        g.staff_permissions = staff_permissions_for(current_user.staff_roles)
        return
    rows = db.session.execute(
        select(Membership, *columns)
        .where(Membership.user_id == current_user.id)
        .options(selectinload(Membership.role_rows), joinedload(Membership.organization)),
        parameters or {},
    ).all()
    usable = sorted(
        (row for row in rows if row[0].active and row[0].accepted_at is not None),
        key=lambda row: row[0].organization.display_name.lower(),
    )
    g.memberships = [row[0] for row in usable]
    chosen = next((row for row in usable if row[0].organization_id == session.get(SESSION_ORG)), None)
    if chosen is None and usable:
        chosen = usable[0]
    if chosen is not None:
        membership = chosen[0]
        session[SESSION_ORG] = membership.organization_id
        g.membership = membership
        g.membership_row = chosen
        g.organization = membership.organization
        g.permissions = permissions_for(membership.roles)


@lru_cache(maxsize=64)
def _tenant_statement(model, options: tuple):
    """`tenant_get`'s statement for a model and loader options, built once (the callers pass module constants)."""
    return (select(model).where(model.id == bindparam("object_id", type_=Integer),
                                model.organization_id == bindparam("organization_id", type_=Integer))
            .options(*options))


def tenant_get(model, object_id: int, *, options: Sequence = ()):
    """An object of the current organization by id, or 404 (also for another organization's object); `options`:
    loader options of the statement (what the page shows of the object's relations, loaded with it)."""
    organization = g.organization
    if organization is None or not 0 < object_id <= MAX_ID:
        abort(404)
    obj = db.session.execute(
        _tenant_statement(model, tuple(options)), {"object_id": object_id, "organization_id": organization.id},
    ).unique().scalar_one_or_none()  # (unique: `options` may join collections)
    if obj is None:
        tenant_miss(model, object_id)  # another organization of the user's: "trocar de organização?"
        abort(404)
    return obj
