"""The cart and its checkout through the API: the token creator's cart with the page's checks, the checkout quote
(pró-rata, next invoice, recurring) and its confirmation into orders, 202 when an approval rule holds it, 409 for a
stale quote, another organization's quote as 404."""

import pytest
from sqlalchemy import func, select

from portal.catalog import cart as carts
from portal.catalog.models import CartItem, ProductPrice
from portal.extensions import db
from portal.shared import clock
from portal.subscriptions.models import Order, Subscription
from tests import factories
from tests.api.helpers import bearer, token_for


@pytest.fixture
def adm(app_ctx, world):
    return bearer(token_for(world.adm_membership, ["adm"], name="ITSM"))


@pytest.fixture
def product(app_ctx):
    found = factories.ProductFactory(price=3500, min_quantity=1, max_quantity=50)
    db.session.commit()
    return found


def _problem(response, status: int, kind: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.content_type == "application/problem+json"
    body = response.get_json()
    assert body["type"] == f"https://portal/errors/{kind}" and body["status"] == status
    return body


def test_the_cart_is_the_token_creators_with_the_pages_checks(client, world, adm, product):
    assert client.get("/api/v1/cart", headers=adm).get_json()["items"] == []
    put = client.put(f"/api/v1/cart/items/{product.id}", headers=adm,
                     json={"quantity": 4, "purchase_order": " PO-17 ", "cost_centre": "TI"})
    assert put.status_code == 200, put.get_data(as_text=True)
    line = put.get_json()["items"][0]
    assert line["product"]["id"] == product.id and line["quantity"] == 4 and line["available"]
    assert line["unit_price"] == {"cents": 3500, "formatted": "R$ 35,00"}
    assert line["total"] == {"cents": 14000, "formatted": "R$ 140,00"}
    assert (line["purchase_order"], line["cost_centre"]) == ("PO-17", "TI")
    assert put.get_json()["monthly_total"]["cents"] == 14000
    # The same cart as the page's, and another user's cart is not touched.
    assert [(i.product_id, i.quantity) for i in carts.cart_items(world.demo, world.adm)] == [(product.id, 4)]
    assert carts.cart_items(world.demo, world.master) == []
    # Only the quantity: the PO and cost centre stay.
    again = client.put(f"/api/v1/cart/items/{product.id}", headers=adm, json={"quantity": 6}).get_json()
    assert (again["items"][0]["quantity"], again["items"][0]["purchase_order"]) == (6, "PO-17")

    too_many = _problem(client.put(f"/api/v1/cart/items/{product.id}", headers=adm, json={"quantity": 51}), 422,
                        "refused")
    assert "quantity" in too_many["errors"]
    long_po = _problem(client.put(f"/api/v1/cart/items/{product.id}", headers=adm,
                                  json={"quantity": 5, "purchase_order": "x" * 61}), 422, "refused")
    assert "purchase_order" in long_po["errors"]
    assert carts.cart_items(world.demo, world.adm)[0].quantity == 6  # nothing changed by a refused request
    bad = _problem(client.put(f"/api/v1/cart/items/{product.id}", headers=adm, json={"quantity": "dez"}), 422,
                   "validation")
    assert "quantity" in bad["errors"]
    _problem(client.put("/api/v1/cart/items/999999", headers=adm, json={"quantity": 1}), 404, "not-found")

    gone = client.put(f"/api/v1/cart/items/{product.id}", headers=adm, json={"quantity": 0})
    assert gone.status_code == 200 and gone.get_json()["items"] == []
    _problem(client.put(f"/api/v1/cart/items/{product.id}", headers=adm, json={"quantity": 0}), 404, "not-found")


def test_checkout_quote_then_confirm_buys_once(client, world, adm, product):
    _problem(client.post("/api/v1/cart/checkout", headers=adm), 422, "refused")  # an empty cart
    client.put(f"/api/v1/cart/items/{product.id}", headers=adm, json={"quantity": 3, "purchase_order": "PO-9"})
    quoted = client.post("/api/v1/cart/checkout", headers=adm)
    assert quoted.status_code == 201, quoted.get_data(as_text=True)
    quote = quoted.get_json()
    line = quote["lines"][0]
    assert line["product"]["id"] == product.id and line["quantity"] == 3 and line["purchase_order"] == "PO-9"
    assert line["recurring"] == {"cents": 10500, "formatted": "R$ 105,00"}
    assert quote["charge"]["cents"] == line["prorata"]["cents"] > 0
    assert line["effective_on"] == clock.today().isoformat()
    assert quote["next_invoice"]["total"]["cents"] >= quote["charge"]["cents"] and quote["valid_until"]

    url = f"/api/v1/checkouts/{quote['token']}/confirm"
    confirmed = client.post(url, headers={**adm, "Idempotency-Key": "buy-1"})
    assert confirmed.status_code == 200, confirmed.get_data(as_text=True)
    orders = confirmed.get_json()["orders"]
    assert len(orders) == 1 and orders[0]["kind"] == "purchase" and orders[0]["quantity"] == 3
    bought = db.session.get(Subscription, orders[0]["subscription_id"])
    assert bought.organization_id == world.demo.id and bought.purchase_order == "PO-9"
    assert client.get("/api/v1/cart", headers=adm).get_json()["items"] == []
    replay = client.post(url, headers={**adm, "Idempotency-Key": "buy-1"})
    assert replay.headers["Idempotent-Replayed"] == "true" and replay.get_json() == confirmed.get_json()
    assert client.post(url, headers=adm).get_json()["orders"] == orders  # confirming twice buys once
    assert db.session.scalar(select(func.count(Order.id))) == 1


def test_another_organizations_checkout_or_a_quantity_quote_is_404(client, world, adm, product):
    other = bearer(token_for(world.other_master_membership, ["master"]))
    client.put(f"/api/v1/cart/items/{product.id}", headers=other, json={"quantity": 2})
    theirs = client.post("/api/v1/cart/checkout", headers=other).get_json()["token"]
    _problem(client.post(f"/api/v1/checkouts/{theirs}/confirm", headers=adm), 404, "not-found")
    _problem(client.post(f"/api/v1/checkouts/{'0' * 32}/confirm", headers=adm), 404, "not-found")
    sub = factories.subscription(world.demo, quantity=5)
    db.session.commit()
    quantity_quote = client.post(f"/api/v1/subscriptions/{sub.id}/quotes", json={"quantity": 6},
                                 headers=adm).get_json()["token"]
    _problem(client.post(f"/api/v1/checkouts/{quantity_quote}/confirm", headers=adm), 404, "not-found")
    assert db.session.scalar(select(func.count(Order.id))) == 0
    assert client.get("/api/v1/cart", headers=adm).get_json()["items"] == []  # their cart is theirs


def test_a_new_price_makes_the_checkout_stale_409(client, world, adm, product):
    client.put(f"/api/v1/cart/items/{product.id}", headers=adm, json={"quantity": 2})
    token = client.post("/api/v1/cart/checkout", headers=adm).get_json()["token"]
    db.session.add(ProductPrice(product_id=product.id, unit_price_cents=9990, effective_from=clock.today()))
    db.session.commit()
    body = _problem(client.post(f"/api/v1/checkouts/{token}/confirm", headers=adm), 409, "conflict")
    assert "preços mudaram" in body["detail"]
    assert db.session.scalar(select(func.count(Order.id))) == 0
    assert db.session.scalar(select(func.count(CartItem.id))) == 1


def test_a_checkout_an_approval_rule_holds_answers_202(client, world, adm, product):
    from portal.approvals import service as approvals
    from portal.approvals.models import ApprovalRequest, ApprovalStatus
    from portal.shared.audit import Actor

    approvals.set_rules(world.demo, monthly_cents=5000, one_off_cents=None, new_family=False,
                        actor=Actor.for_user(world.master))
    db.session.commit()
    client.put(f"/api/v1/cart/items/{product.id}", headers=adm, json={"quantity": 3})  # R$ 105,00 a month
    token = client.post("/api/v1/cart/checkout", headers=adm).get_json()["token"]
    answer = client.post(f"/api/v1/checkouts/{token}/confirm", headers=adm)
    assert answer.status_code == 202, answer.get_data(as_text=True)
    body = answer.get_json()
    request = db.session.get(ApprovalRequest, body["approval_id"])
    assert request.status == ApprovalStatus.WAITING and body["status"] == "awaiting_approval"
    assert answer.headers["Location"] == body["approval_url"] and body["approval_url"].endswith(
        f"/aprovacoes/{request.id}")
    assert db.session.scalar(select(func.count(Order.id))) == 0
