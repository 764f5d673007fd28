"""Each role's token reaches exactly the API routes its permissions allow (the matrix in accounts/roles.py, the same
as the pages'): a 403 problem for the others; every API route is in the table below."""

import pytest
from flask import url_for

from portal.accounts.roles import ROLE_PERMISSIONS, Role
from portal.catalog import cart as carts
from portal.extensions import db
from portal.shared import clock
from portal.shared.audit import Actor
from portal.shared.permissions import access_of
from portal.subscriptions import quotes
from portal.subscriptions.checkout import quote_checkout
from portal.support import service as support
from tests import factories
from tests.api.helpers import bearer, token_for


def _subscription(w) -> dict:
    return {"subscription_id": factories.subscription(w.demo).id}


def _quote(w) -> dict:
    sub = factories.subscription(w.demo)
    quote = quotes.quote_quantity_change(organization=w.demo, subscription=sub, new_quantity=9,
                                         actor=Actor.for_user(w.master))
    return {"token": quote.token}


def _invoice(w) -> dict:
    return {"invoice_id": factories.invoice(w.demo, with_documents=True, billing_date=clock.today()).id}


def _order(w) -> dict:
    found = _quote(w)
    from_quote = quotes.get_quote(w.demo, found["token"])
    order = quotes.new_order(from_quote.subscription, "quantity_change", 9, from_quote, Actor.for_user(w.master),
                             clock.now())
    return {"order_id": order.id}


def _product(w) -> dict:
    product = factories.ProductFactory()
    db.session.commit()
    return {"product_id": product.id}


def _in_cart(w) -> dict:
    found = _product(w)
    carts.set_cart_quantity(organization=w.demo, user=w.master, product_id=found["product_id"], quantity=2)
    return {}


def _checkout(w) -> dict:
    _in_cart(w)
    return {"token": quote_checkout(organization=w.demo, user=w.master, actor=Actor.for_user(w.master)).token}


def _ticket(w) -> dict:
    return {"ticket_id": factories.ticket(w.demo, w.master).id}


def _attachment(w) -> dict:
    ticket = factories.ticket(w.demo, w.master)
    message = support.customer_reply(ticket, membership=w.master_membership, actor=Actor.for_user(w.master),
                                     body="Segue", uploads=[support.Upload("log.txt", b"linha")],
                                     rules=support.AttachmentRules(max_bytes=1000, types=frozenset({"txt"})))
    return {"ticket_id": ticket.id, "attachment_id": message.attachments[0].id}


# endpoint → (method, URL arguments of an object of the token's organization, JSON body)
API_ROUTES = {
    "api.organization": ("GET", lambda w: {}, None),
    "api.subscriptions": ("GET", lambda w: {}, None),
    "api.subscription": ("GET", _subscription, None),
    "api.create_quote": ("POST", _subscription, {"quantity": 8}),
    "api.confirm_quote": ("POST", _quote, None),
    "api.cart": ("GET", lambda w: {}, None),
    "api.set_cart_item": ("PUT", _product, {"quantity": 1}),
    "api.create_checkout": ("POST", _in_cart, None),
    "api.confirm_checkout": ("POST", _checkout, None),
    "api.families": ("GET", lambda w: {}, None),
    "api.products": ("GET", lambda w: {}, None),
    "api.invoices": ("GET", lambda w: {}, None),
    "api.invoice": ("GET", _invoice, None),
    "api.invoice_pdf": ("GET", _invoice, None),
    "api.boleto": ("GET", _invoice, None),
    "api.boleto_pdf": ("GET", _invoice, None),
    "api.nfse_pdf": ("GET", _invoice, None),
    "api.nfse_xml": ("GET", _invoice, None),
    "api.orders": ("GET", lambda w: {}, None),
    "api.order": ("GET", _order, None),
    "api.tickets": ("GET", lambda w: {}, None),
    "api.create_ticket": ("POST", lambda w: {}, {"subject": "Ajuda", "description": "Preciso", "category": "other"}),
    "api.reply_ticket": ("POST", _ticket, {"body": "Mais uma coisa"}),
    "api.ticket_attachment": ("GET", _attachment, None),
    "api.users": ("GET", lambda w: {}, None),
    "api.update_user": ("PATCH", lambda w: {"membership_id": w.adm_membership.id}, {"roles": ["adm"]}),
    "api.deactivate_user": ("POST", lambda w: {"membership_id": w.cobranca_membership.id}, None),
    "api.reactivate_user": ("POST", lambda w: {"membership_id": w.cobranca_membership.id}, None),
}


def test_every_api_route_is_in_the_table(app):
    routes = {rule.endpoint for rule in app.url_map.iter_rules()
              if (access_of(app.view_functions[rule.endpoint]) or None) and
              access_of(app.view_functions[rule.endpoint]).kind == "api"}
    assert routes == set(API_ROUTES)


@pytest.mark.parametrize("endpoint", sorted(API_ROUTES))
@pytest.mark.parametrize("role", [r.value for r in Role])
def test_api_route_by_role(app_ctx, world, client, endpoint, role):
    method, own, body = API_ROUTES[endpoint]
    permission = access_of(app_ctx.view_functions[endpoint]).permission
    headers = bearer(token_for(world.master_membership, [role]))
    with app_ctx.test_request_context():
        url = url_for(endpoint, **own(world))
    response = client.open(url, method=method, json=body, headers=headers)
    if permission in ROLE_PERMISSIONS[Role(role)]:
        assert response.status_code in (200, 201, 428), (response.status_code, response.get_data(as_text=True))
    else:
        assert response.status_code == 403 and response.content_type == "application/problem+json"
