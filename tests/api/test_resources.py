"""The API's resources and conventions: cursor pages, money and dates, ETag and If-Match on quantity changes, the
same quote rules as the page, Idempotency-Key, problem details (translated titles), rate limits, another
organization's object as 404."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.shared import clock
from portal.shared.audit import AuditEvent, AuditTag
from portal.subscriptions.models import Order, Quote
from portal.support.models import Ticket
from tests import factories
from tests.api.helpers import bearer, token_for


@pytest.fixture
def adm(app_ctx, world):
    return bearer(token_for(world.master_membership, ["adm"], name="ITSM"))


@pytest.fixture
def master(app_ctx, world):
    return bearer(token_for(world.master_membership, ["master"], name="Automação"))


def _problem(response, status: int, kind: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.content_type == "application/problem+json"
    body = response.get_json()
    assert body["type"] == f"https://portal/errors/{kind}" and body["status"] == status
    return body


def test_subscriptions_come_in_cursor_pages_of_the_tokens_organization_only(client, world, adm):
    mine = [factories.subscription(world.demo, quantity=n) for n in (3, 4, 5)]
    factories.subscription(world.other, quantity=9)
    db.session.commit()
    first = client.get("/api/v1/subscriptions?limit=2", headers=adm).get_json()
    assert [s["id"] for s in first["items"]] == [mine[0].id, mine[1].id] and first["next_cursor"]
    rest = client.get(f"/api/v1/subscriptions?limit=2&cursor={first['next_cursor']}", headers=adm).get_json()
    assert [s["id"] for s in rest["items"]] == [mine[2].id] and rest["next_cursor"] is None
    assert rest["items"][0]["term_start"] == mine[2].term_start.isoformat()
    _problem(client.get("/api/v1/subscriptions?cursor=bogus", headers=adm), 422, "refused")
    _problem(client.get("/api/v1/subscriptions?limit=0", headers=adm), 422, "validation")


def test_another_organizations_subscription_is_a_404_problem(client, world, adm):
    theirs = factories.subscription(world.other)
    db.session.commit()
    _problem(client.get(f"/api/v1/subscriptions/{theirs.id}", headers=adm), 404, "not-found")
    _problem(client.post(f"/api/v1/subscriptions/{theirs.id}/quotes", json={"quantity": 5}, headers=adm), 404,
             "not-found")


def test_quote_then_confirm_with_if_match_and_the_tokens_name_in_the_audit(client, world, adm):
    sub = factories.subscription(world.demo, quantity=10)
    db.session.commit()
    got = client.get(f"/api/v1/subscriptions/{sub.id}", headers=adm)
    etag = got.headers["ETag"]
    assert got.get_json()["etag"] == etag
    quoted = client.post(f"/api/v1/subscriptions/{sub.id}/quotes", json={"quantity": 8}, headers=adm)
    assert quoted.status_code == 201, quoted.get_data(as_text=True)
    quote = quoted.get_json()
    assert quote["new_quantity"] == 8 and quote["subscription_etag"] == etag and quote["valid_until"]
    assert quote["lines"][0]["kind"] == "scheduled"
    assert quote["credit"] == {"cents": 0, "formatted": "R$ 0,00"}
    assert quote["recurring"] == {"cents": 10 * 7890, "formatted": "R$ 789,00"}  # the decrease waits for the renewal

    url = f"/api/v1/quotes/{quote['token']}/confirm"
    _problem(client.post(url, headers=adm), 428, "precondition-required")
    _problem(client.post(url, headers={**adm, "If-Match": '"subscription-1-v999"'}), 412, "precondition-failed")
    confirmed = client.post(url, headers={**adm, "If-Match": etag})
    assert confirmed.status_code == 200, confirmed.get_data(as_text=True)
    body = confirmed.get_json()
    assert body["subscription"]["renewal_quantity"] == 8 and confirmed.headers["ETag"] != etag
    assert body["orders"] and body["orders"][0]["subscription_id"] == sub.id
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.tag == AuditTag.QUANTITY_DECREASE_SCHEDULED)).one()
    assert event.actor_label == "api:ITSM" and event.actor_id == world.master.id
    # the other client still holding the old ETag cannot confirm over it
    second = client.post(f"/api/v1/subscriptions/{sub.id}/quotes", json={"quantity": 7}, headers=adm).get_json()
    _problem(client.post(f"/api/v1/quotes/{second['token']}/confirm", headers={**adm, "If-Match": etag}), 412,
             "precondition-failed")
    orders = client.get("/api/v1/orders", headers=adm).get_json()["items"]
    assert orders[0]["id"] == body["orders"][-1]["id"]
    detail = client.get(f"/api/v1/orders/{orders[0]['id']}", headers=adm).get_json()
    assert detail["history"][0]["status"] == "pending"


def test_cancelling_needs_the_reason_like_the_page(client, world, adm):
    sub = factories.subscription(world.demo, quantity=10)
    db.session.commit()
    refused = _problem(client.post(f"/api/v1/subscriptions/{sub.id}/quotes", json={"quantity": 0}, headers=adm),
                       422, "refused")
    assert "category" in refused["errors"] or "reason" in refused["errors"]
    assert db.session.scalar(select(func.count(Quote.id))) == 0
    body = _problem(client.post(f"/api/v1/subscriptions/{sub.id}/quotes", json={"quantity": "dez"}, headers=adm),
                    422, "validation")
    assert "quantity" in body["errors"]


def test_idempotency_key_repeats_the_answer_and_refuses_another_body(client, world, adm):
    sub = factories.subscription(world.demo, quantity=10)
    db.session.commit()
    url = f"/api/v1/subscriptions/{sub.id}/quotes"
    first = client.post(url, json={"quantity": 9}, headers={**adm, "Idempotency-Key": "pedido-42"})
    again = client.post(url, json={"quantity": 9}, headers={**adm, "Idempotency-Key": "pedido-42"})
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json() and again.headers["Idempotent-Replayed"] == "true"
    assert db.session.scalar(select(func.count(Quote.id))) == 1
    _problem(client.post(url, json={"quantity": 8}, headers={**adm, "Idempotency-Key": "pedido-42"}), 422,
             "idempotency-mismatch")
    other = client.post(url, json={"quantity": 8}, headers={**adm, "Idempotency-Key": "pedido-43"})
    assert other.status_code == 201 and db.session.scalar(select(func.count(Quote.id))) == 2


def test_problems_are_translated_by_accept_language(client, world, adm):
    pt = _problem(client.get("/api/v1/subscriptions/999999", headers=adm), 404, "not-found")
    en = _problem(client.get("/api/v1/subscriptions/999999", headers={**adm, "Accept-Language": "en-US,en;q=0.9"}),
                  404, "not-found")
    assert pt["title"] == "Recurso não encontrado." and en["title"] == "Resource not found."
    _problem(client.delete("/api/v1/organization", headers=adm), 405, "method-not-allowed")
    _problem(client.get("/api/v1/nada", headers=adm), 404, "not-found")


def test_rate_limit_per_token_with_headers(app_ctx, client, world, adm, master):
    app_ctx.config["API_RATE_LIMIT"] = "2 per minute"
    try:
        assert client.get("/api/v1/organization", headers=adm).headers["RateLimit-Remaining"] == "1"
        assert client.get("/api/v1/organization", headers=adm).headers["RateLimit-Remaining"] == "0"
        over = client.get("/api/v1/organization", headers=adm)
        _problem(over, 429, "rate-limited")
        assert over.headers["RateLimit-Limit"] == "2" and int(over.headers["Retry-After"]) > 0
        assert client.get("/api/v1/organization", headers=master).status_code == 200  # per token
    finally:
        app_ctx.config["API_RATE_LIMIT"] = "120 per minute"


def test_invoices_with_filters_lines_documents_and_boleto(client, world, master):
    paid = factories.invoice(world.demo, status="paid", with_documents=True,
                             billing_date=clock.today() - timedelta(days=31))
    open_ = factories.invoice(world.demo, with_documents=True)
    theirs = factories.invoice(world.other, with_documents=True)
    listed = client.get("/api/v1/invoices", headers=master).get_json()
    assert [i["id"] for i in listed["items"]] == [open_.id, paid.id]
    assert [i["id"] for i in client.get("/api/v1/invoices?status=paid", headers=master).get_json()["items"]] == [
        paid.id]
    _problem(client.get("/api/v1/invoices?status=quase", headers=master), 422, "validation")
    detail = client.get(f"/api/v1/invoices/{open_.id}", headers=master).get_json()
    assert detail["total"] == {"cents": 78900, "formatted": "R$ 789,00"} and len(detail["lines"]) == 1
    pdf = client.get(f"/api/v1/invoices/{open_.id}/pdf", headers=master)
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    boleto = client.get(f"/api/v1/invoices/{open_.id}/boleto", headers=master).get_json()
    assert boleto["digitable_line"] == open_.boletos[0].digitable_line and boleto["pix_copy_paste"]
    assert client.get(boleto["pdf_url"], headers=master).data.startswith(b"%PDF")
    _problem(client.get(f"/api/v1/invoices/{paid.id}/boleto", headers=master), 404, "not-found")
    nfse = client.get(f"/api/v1/invoices/{open_.id}/nfse.xml", headers=master)
    assert nfse.status_code == 200 and b"CompNfse" in nfse.data
    assert client.get(f"/api/v1/invoices/{open_.id}/nfse.pdf", headers=master).data.startswith(b"%PDF")
    for url in (f"/api/v1/invoices/{theirs.id}", f"/api/v1/invoices/{theirs.id}/pdf",
                f"/api/v1/invoices/{theirs.id}/boleto.pdf", f"/api/v1/invoices/{theirs.id}/nfse.xml"):
        _problem(client.get(url, headers=master), 404, "not-found")


def test_tickets_open_and_reply_and_users(client, world, master):
    opened = client.post("/api/v1/tickets", headers=master, json={
        "subject": "Teams não abre", "description": "Desde hoje cedo.", "category": "technical"})
    assert opened.status_code == 201, opened.get_data(as_text=True)
    ticket_id = opened.get_json()["id"]
    assert db.session.get(Ticket, ticket_id).organization_id == world.demo.id
    reply = client.post(f"/api/v1/tickets/{ticket_id}/messages", headers=master, json={"body": "Mais detalhes."})
    assert reply.status_code == 201 and reply.get_json()["ticket_id"] == ticket_id
    assert [t["id"] for t in client.get("/api/v1/tickets", headers=master).get_json()["items"]] == [ticket_id]
    theirs = factories.ticket(world.other, world.other_master)
    db.session.commit()
    _problem(client.post(f"/api/v1/tickets/{theirs.id}/messages", headers=master, json={"body": "oi"}), 404,
             "not-found")
    users = client.get("/api/v1/users", headers=master).get_json()["items"]
    assert {u["email"] for u in users} == {m.user.email for m in world.demo.memberships}


def test_catalog_families_and_products_with_prices(client, world, master):
    product = factories.ProductFactory(price=3500)
    db.session.commit()
    families = client.get("/api/v1/catalog/families", headers=master).get_json()["items"]
    assert product.family_id in [f["id"] for f in families]
    found = client.get(f"/api/v1/catalog/products?family_id={product.family_id}", headers=master).get_json()
    assert found["items"][0]["current_price"]["unit_price"] == {"cents": 3500, "formatted": "R$ 35,00"}


def test_orders_of_another_organization_are_404(client, world, master):
    assert db.session.scalar(select(func.count(Order.id))) == 0
    _problem(client.get("/api/v1/orders/1", headers=master), 404, "not-found")


def test_a_failure_of_ours_is_a_500_problem_and_forgets_the_idempotency_key(client, world, master, monkeypatch):
    def broken(*_args, **_kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr("portal.api.rest.credit_balance", broken)
    _problem(client.get("/api/v1/organization", headers=master), 500, "server-error")
    monkeypatch.setattr("portal.api.rest.support.open_ticket", broken)
    body = {"subject": "Ajuda", "description": "Preciso", "category": "other"}
    key = {**master, "Idempotency-Key": "retry-me"}
    _problem(client.post("/api/v1/tickets", json=body, headers=key), 500, "server-error")
    monkeypatch.undo()
    assert client.post("/api/v1/tickets", json=body, headers=key).status_code == 201  # the key was not kept


def test_a_confirmation_an_approval_rule_catches_answers_202_with_the_approval(client, world, adm, master):
    """An "adm" token (even one a Master made) is held by the organization's approval rules like an Adm on the page:
    202, nothing ordered, the approval's page in `approval_url` and Location; a "master" token is not held."""
    from portal.approvals import service as approvals
    from portal.approvals.models import ApprovalRequest, ApprovalStatus
    from portal.shared.audit import Actor

    approvals.set_rules(world.demo, monthly_cents=5000, one_off_cents=None, new_family=False,
                        actor=Actor.for_user(world.master))
    sub = factories.subscription(world.demo, quantity=10)
    db.session.commit()
    for headers, held in ((adm, True), (master, False)):
        etag = client.get(f"/api/v1/subscriptions/{sub.id}", headers=headers).headers["ETag"]
        quote = client.post(f"/api/v1/subscriptions/{sub.id}/quotes", json={"quantity": 12}, headers=headers).get_json()
        answer = client.post(f"/api/v1/quotes/{quote['token']}/confirm", headers={**headers, "If-Match": etag})
        if not held:
            assert answer.status_code == 200, answer.get_data(as_text=True)
            continue
        assert answer.status_code == 202, answer.get_data(as_text=True)
        body = answer.get_json()
        request = db.session.get(ApprovalRequest, body["approval_id"])
        assert request.status == ApprovalStatus.WAITING and body["status"] == "awaiting_approval"
        assert body["approval_url"].endswith(f"/aprovacoes/{request.id}") and answer.headers["Location"] == \
            body["approval_url"]
        assert db.session.scalar(select(func.count(Order.id)).where(Order.subscription_id == sub.id)) == 0
