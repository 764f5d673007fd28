"""The customer navigation: its links, and besides them how many products are in the cart, whether a
current agreement waits for the Master's acceptance and, for an "inadimplente" organization, what is overdue
(the banner of every page, templates/_delinquency_banner.html).

A page (a GET) reads the cart's count and the pending agreement with the memberships, in the statement every request
runs anyway (`MEMBERSHIP_BADGES`, selected by `accounts.context.load_request_context`): no statement of their own.
A form sent (POST) may change them before its page is rendered, so there they are read when the navigation asks;
so is what is overdue, only for an "inadimplente" organization.

Every customer page renders the navigation, so this is on the path of every page: the statements are built
once from the rooms' expressions (`catalog.cart.CART_COUNT`, `agreements.service.PENDING_AGREEMENT`,
`billing.standing`) and only their parameters change. Whether the organization is "inadimplente" is a column
of the organization already loaded (`delinquent_since`); only then, and only for who may see invoices, are the
overdue amounts selected too.
"""

import dataclasses
from dataclasses import dataclass
from datetime import date

from flask import g, request
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from portal.accounts.models import Membership
from portal.accounts.roles import Permission
from portal.agreements.service import PENDING_AGREEMENT, pending_agreement
from portal.billing.standing import FIRST_OVERDUE_ID, OLDEST_DUE, OVERDUE_CENTS, OVERDUE_COUNT
from portal.catalog.cart import CART_COUNT, cart_count_of
from portal.extensions import db
from portal.shared import clock
from portal.shared.fragments import render_fragment
from portal.shared.permissions import customer_can


@dataclass(frozen=True, slots=True)
class Badges:
    cart: int = 0  # products in the cart (only for who may buy)
    agreement_pending: bool = False  # a current agreement not accepted yet (only for who may accept)
    # The organization is "inadimplente": purchases and increases are refused (billing.payments). For everyone.
    delinquent: bool = False
    # What is overdue, only for who may see invoices (Master, Cobrança) of a delinquent organization:
    overdue_count: int = 0  # open invoices past their due date
    overdue_cents: int = 0  # still owed on them, centavos
    overdue_since: date | None = None  # the oldest one's due date
    overdue_invoice_id: int | None = None  # the invoice to pay when there is exactly one


NOTHING = Badges()
_BADGES = select(CART_COUNT.label("cart"), PENDING_AGREEMENT.label("agreement_pending"))
_BADGES_OVERDUE = _BADGES.add_columns(OVERDUE_COUNT.label("overdue_count"), OVERDUE_CENTS.label("overdue_cents"),
                                      OLDEST_DUE.label("overdue_since"), FIRST_OVERDUE_ID.label("overdue_invoice_id"))
_REQUEST_KEY = "_navigation_badges"


# Selected beside each membership (bound parameter `today`), named as in `_BADGES`.
MEMBERSHIP_BADGES = (cart_count_of(Membership.organization_id, Membership.user_id).label("cart"),
                     pending_agreement(Membership.organization_id).label("agreement_pending"))


def membership_badges() -> tuple[tuple, dict]:
    """`load_request_context`'s columns and parameters for this request: the badges for a page (GET), none for a form
    sent (its changes come before its page)."""
    if request.method != "GET":
        return (), {}
    return MEMBERSHIP_BADGES, {"today": clock.today()}


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
    if organization is None:
        return NOTHING
    wants_cart = customer_can(Permission.LICENSES_MANAGE)
    wants_agreement = customer_can(Permission.AGREEMENT_ACCEPT)
    delinquent = organization.delinquent_since is not None
    wants_overdue = delinquent and customer_can(Permission.BILLING_READ)
    if not (wants_cart or wants_agreement or wants_overdue):
        return Badges(delinquent=delinquent)
    row = _read_with_membership(organization) if not wants_overdue else None
    if row is None:
        parameters = {"organization_id": organization.id, "user_id": current_user.id, "today": clock.today()}
        try:
            row = db.session.connection().execute(_BADGES_OVERDUE if wants_overdue else _BADGES, parameters).one()
        except SQLAlchemyError:
            db.session.rollback()
            return Badges(delinquent=delinquent)
    found = Badges(cart=row.cart if wants_cart else 0, delinquent=delinquent,
                   agreement_pending=wants_agreement and bool(row.agreement_pending))
    if not wants_overdue:
        return found
    return dataclasses.replace(
        found, overdue_count=row.overdue_count, overdue_cents=int(row.overdue_cents or 0),
        overdue_since=row.overdue_since, overdue_invoice_id=row.overdue_invoice_id if row.overdue_count == 1 else None)


def _read_with_membership(organization):
    """The row the memberships were read in, when it has the badges of this organization (a page); else None."""
    row = getattr(g, "membership_row", None)
    if row is None or "cart" not in row._fields or row[0].organization_id != organization.id:
        return None
    return row


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
