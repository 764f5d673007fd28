"""Ticket replies with files through the API (multipart/form-data, the page's limits: size, types, content matching
the extension) and downloading a ticket's file; another organization's ticket or file is a 404."""

import io

import pytest

from portal.extensions import db
from portal.support.models import TicketAttachment
from tests import factories
from tests.api.helpers import bearer, token_for

MAX_BYTES = 2000
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 100


@pytest.fixture(autouse=True)
def small_files(app_ctx, monkeypatch):
    monkeypatch.setitem(app_ctx.config, "TICKET_ATTACHMENT_MAX_BYTES", MAX_BYTES)


@pytest.fixture
def support_token(app_ctx, world):
    return bearer(token_for(world.suporte_membership, ["suporte"], name="ITSM"))


def _problem(response, status: int, kind: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.content_type == "application/problem+json"
    body = response.get_json()
    assert body["type"] == f"https://portal/errors/{kind}" and body["status"] == status
    return body


def _reply(client, headers, ticket_id, body="Segue o print.", files=()):
    data = {"attachments": [(io.BytesIO(content), name) for name, content in files]}
    if body is not None:
        data["body"] = body
    return client.post(f"/api/v1/tickets/{ticket_id}/messages", data=data, headers=headers,
                       content_type="multipart/form-data")


def test_a_reply_with_files_and_the_download(client, world, support_token):
    ticket = factories.ticket(world.demo, world.suporte)
    db.session.commit()
    sent = _reply(client, support_token, ticket.id, files=[("erro.png", PNG), ("log.txt", "linha ção".encode())])
    assert sent.status_code == 201, sent.get_data(as_text=True)
    message = sent.get_json()
    assert message["body"] == "Segue o print."
    assert [(a["filename"], a["content_type"], a["size"]) for a in message["attachments"]] == [
        ("erro.png", "image/png", len(PNG)), ("log.txt", "text/plain", len("linha ção".encode()))]
    got = client.get(message["attachments"][0]["url"], headers=support_token)
    assert got.status_code == 200 and got.data == PNG and got.mimetype == "image/png"
    assert "attachment" in got.headers["Content-Disposition"] and got.headers["X-Content-Type-Options"] == "nosniff"
    # JSON without files still works.
    plain = client.post(f"/api/v1/tickets/{ticket.id}/messages", json={"body": "Mais uma coisa"},
                        headers=support_token)
    assert plain.status_code == 201 and plain.get_json()["attachments"] == []


@pytest.mark.parametrize(("name", "content", "words"), [
    ("virus.exe", b"MZ\x90\x00", "não é aceito"),
    ("grande.png", PNG + b"\0" * MAX_BYTES, "passa do limite"),
    ("falso.png", b"GIF89a....", "não é um arquivo .png de verdade"),
    ("vazio.txt", b"", "está vazio"),
])
def test_a_file_the_page_refuses_is_a_422_and_nothing_is_sent(client, world, support_token, name, content, words):
    ticket = factories.ticket(world.demo, world.suporte)
    db.session.commit()
    before = len(ticket.messages), db.session.query(TicketAttachment).count()
    problem = _problem(_reply(client, support_token, ticket.id, files=[(name, content)]), 422, "refused")
    assert any(words in message for message in problem["errors"]["attachments"]), problem
    db.session.expire_all()
    assert (len(db.session.get(type(ticket), ticket.id).messages), db.session.query(TicketAttachment).count()) == before


def test_bad_input_and_another_organizations_ticket_or_file(client, world, support_token):
    ticket = factories.ticket(world.demo, world.suporte)
    theirs = factories.ticket(world.other, world.other_master)
    db.session.commit()
    missing = _problem(_reply(client, support_token, ticket.id, body=None, files=[("erro.png", PNG)]), 422,
                       "validation")
    assert "body" in missing["errors"]
    _problem(client.post(f"/api/v1/tickets/{ticket.id}/messages", json={"body": 12}, headers=support_token), 422,
             "validation")
    _problem(_reply(client, support_token, theirs.id, files=[("erro.png", PNG)]), 404, "not-found")
    other_token = bearer(token_for(world.other_master_membership, ["master"]))
    sent = _reply(client, other_token, theirs.id, files=[("erro.png", PNG)]).get_json()
    url = sent["attachments"][0]["url"]
    assert client.get(url, headers=other_token).status_code == 200
    _problem(client.get(url, headers=support_token), 404, "not-found")
    attachment_id = sent["attachments"][0]["id"]
    _problem(client.get(f"/api/v1/tickets/{ticket.id}/attachments/{attachment_id}", headers=support_token), 404,
             "not-found")


def test_a_request_over_the_servers_limit_is_a_413_problem(client, world, support_token, app_ctx, monkeypatch):
    monkeypatch.setitem(app_ctx.config, "MAX_CONTENT_LENGTH", 1000)
    ticket = factories.ticket(world.demo, world.suporte)
    db.session.commit()
    big = _reply(client, {**support_token, "Idempotency-Key": "big-1"}, ticket.id, files=[("erro.png", PNG * 20)])
    _problem(big, 413, "payload-too-large")


def test_the_same_files_sent_again_with_the_same_key_are_the_same_request(client, world, support_token):
    ticket = factories.ticket(world.demo, world.suporte)
    db.session.commit()
    headers = {**support_token, "Idempotency-Key": "reply-77"}
    first = _reply(client, headers, ticket.id, files=[("erro.png", PNG)])  # each post has its own boundary
    again = _reply(client, headers, ticket.id, files=[("erro.png", PNG)])
    assert first.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    _problem(_reply(client, headers, ticket.id, files=[("erro.png", PNG + b"1")]), 422, "idempotency-mismatch")
