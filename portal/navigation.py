"""The customer navigation: its links, and besides them how many products are in the cart and whether a
current agreement waits for the Master's acceptance, both read in one statement.

Every customer page renders the navigation, so this is on the path of every page: the statement is built
once from the two rooms' expressions (`catalog.service.CART_COUNT`, `agreements.service.PENDING_AGREEMENT`)
and only its parameters change.
"""

from dataclasses import dataclass

from flask import g, request
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from portal.accounts.roles import Permission
from portal.agreements.service import PENDING_AGREEMENT
from portal.catalog.service import CART_COUNT
from portal.extensions import db
from portal.shared import clock
from portal.shared.fragments import render_fragment
from portal.shared.permissions import customer_can


@dataclass(frozen=True, slots=True)
class Badges:
    cart: int = 0  # products in the cart (only for who may buy)
    agreement_pending: bool = False  # a current agreement not accepted yet (only for who may accept)


NOTHING = Badges()
_BADGES = select(CART_COUNT.label("cart"), PENDING_AGREEMENT.label("agreement_pending"))
_REQUEST_KEY = "_navigation_badges"


def badges() -> Badges:
    """The current user's badges in the current organization, read once per request (the navigation and the
    catalog page both show the cart's); none when the database cannot tell (the error pages render the
    navigation too: they must not fail again)."""
    found = g.get(_REQUEST_KEY)
    if found is None:
        found = g.setdefault(_REQUEST_KEY, _read_badges())
    return found


def _read_badges() -> Badges:
    organization = getattr(g, "organization", None)
    wants_cart = customer_can(Permission.LICENSES_MANAGE)
    wants_agreement = customer_can(Permission.AGREEMENT_ACCEPT)
    if organization is None or not (wants_cart or wants_agreement):
        return NOTHING
    parameters = {"organization_id": organization.id, "user_id": current_user.id, "today": clock.today()}
    try:
        row = db.session.connection().execute(_BADGES, parameters).one()
    except SQLAlchemyError:
        db.session.rollback()
        return NOTHING
    return Badges(cart=row.cart if wants_cart else 0, agreement_pending=wants_agreement and bool(row.agreement_pending))


def forget() -> None:
    """At the start of a request: a request run inside an already pushed app context (tests, CLI) shares `g`."""
    g.pop(_REQUEST_KEY, None)


def customer_nav() -> Markup:
    """The customer navigation's links (accounts/_nav.html), rendered once per language, page, permissions and
    badges, then reused."""
    return render_fragment("accounts/_nav.html",
                           {"endpoint": request.endpoint, "permissions": getattr(g, "permissions", frozenset()),
                            "badges": badges()},
                           lambda: {"Permission": Permission})


def context() -> dict:
    return {"nav_badges": badges, "customer_nav": customer_nav}
