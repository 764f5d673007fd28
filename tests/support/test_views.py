"""The customer's "Chamados" pages as Suporte and Master use them: list, open with files, conversation, reply,
close, reopen, download; what other roles and other organizations get."""

import io
import re

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from portal.extensions import db
from portal.shared import clock
from portal.support.models import MessageKind, Ticket, TicketStatus
from tests import factories
from tests.html import field_errors, input_value, nav, text, textarea
from tests.test_query_budget import counting

NOTE = "Nota: cliente pediu desconto no mês passado, não comentar."
MAX_BYTES = 2000


@pytest.fixture(autouse=True)
def small_files(app_ctx, monkeypatch):
    """Files of at most MAX_BYTES in these tests (the setting, as an operator would set it)."""
    monkeypatch.setitem(app_ctx.config, "TICKET_ATTACHMENT_MAX_BYTES", MAX_BYTES)


def form(**changes) -> dict:
    data = {"category": "technical", "priority": "high", "subject": "Impressora não imprime pelo Teams",
            "description": "Desde segunda a impressão falha com erro 0x80070005.", "subscription": ""}
    data.update(changes)
    return data


def open_ticket(client, files=(), **changes):
    data = form(**changes)
    data["attachments"] = [(io.BytesIO(content), name) for name, content in files]
    return client.post("/chamados/novo", data=data, content_type="multipart/form-data")


def tickets_count() -> int:
    return db.session.scalar(select(func.count(Ticket.id)))


# ---------------------------------------------------------------- who sees it

@pytest.mark.parametrize(("role", "shown"), [("suporte", True), ("master", True), ("adm", False), ("cobranca", False)])
def test_only_suporte_and_master_see_chamados(login_as, role, shown):
    client = login_as(role)
    home = text(client.get("/"))
    assert ('href="/chamados"' in nav(home)) is shown
    assert ('href="/chamados"' in home) is shown  # the home page's card
    assert client.get("/chamados").status_code == (200 if shown else 403)
    assert client.get("/chamados/novo").status_code == (200 if shown else 403)


def test_the_list_shows_the_organizations_tickets_only(app_ctx, world, login_as):
    mine = factories.ticket(world.demo, world.master, subject="Licença do Project sumiu")
    factories.ticket(world.other, world.other_master, subject="Assunto de outra empresa")
    body = text(login_as("suporte").get("/chamados"))
    assert "Licença do Project sumiu" in body and f'href="/chamados/{mine.id}"' in body
    assert "Assunto de outra empresa" not in body
    assert "urgente" not in body and "normal" in body and "aberto" in body


def test_the_list_filters_by_status(app_ctx, world, login_as):
    factories.ticket(world.demo, world.suporte, subject="Chamado em aberto")
    factories.ticket(world.demo, world.suporte, subject="Chamado já fechado", status=TicketStatus.CLOSED)
    client = login_as("suporte")
    body = text(client.get("/chamados?situacao=fechado"))
    assert "Chamado já fechado" in body and "Chamado em aberto" not in body
    body = text(client.get("/chamados?situacao=ativos"))
    assert "Chamado em aberto" in body and "Chamado já fechado" not in body
    response = client.get("/chamados?situacao=perdido")
    assert response.status_code == 422
    body = text(response)
    assert "Situação desconhecida: “perdido”" in body and "Chamado já fechado" in body


# ---------------------------------------------------------------- opening

def test_suporte_opens_a_ticket_with_a_file_and_downloads_it_back(app_ctx, world, login_as, outbox):
    client = login_as("suporte")
    response = open_ticket(client, files=[("erro na impressão.pdf", factories.PDF)])
    assert response.status_code == 302
    ticket = db.session.scalars(select(Ticket)).one()
    assert response.headers["Location"] == f"/chamados/{ticket.id}"
    page = client.get(response.headers["Location"])
    body = text(page)
    assert f"Chamado nº {ticket.id} aberto" in body
    assert "Impressora não imprime pelo Teams" in body and "Desde segunda a impressão falha" in body
    attachment = ticket.messages[0].attachments[0]
    link = f"/chamados/{ticket.id}/anexos/{attachment.id}"
    assert f'href="{link}"' in body and "erro na impressão.pdf" in body

    download = client.get(link)
    assert download.status_code == 200 and download.data == factories.PDF
    assert download.mimetype == "application/pdf"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert "filename*=UTF-8''erro%20na%20impress%C3%A3o.pdf" in download.headers["Content-Disposition"]
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert [m["To"] for m in outbox] == [app_ctx.config["MAIL_STAFF_TO"]]


def test_the_conversation_its_files_and_authors_are_one_statement(app_ctx, world, login_as):
    assert open_ticket(login_as("suporte"), files=[("um.pdf", factories.PDF), ("dois.pdf", factories.PDF)]
                       ).status_code == 302
    ticket = db.session.scalars(select(Ticket)).one()
    master = login_as("master")
    reply = master.post(f"/chamados/{ticket.id}/responder", content_type="multipart/form-data",
                        data={"body": "Segue o print.", "attachments": [(io.BytesIO(factories.PDF), "tres.pdf")]})
    assert reply.status_code == 302

    with counting(db.engine) as statements:
        body = text(master.get(f"/chamados/{ticket.id}"))
    missing = [n for n in ("um.pdf", "dois.pdf", "tres.pdf", world.suporte.name, world.master.name) if n not in body]
    assert not missing, missing
    conversation = [s for s in statements if "FROM ticket_messages" in s]
    assert len(conversation) == 1 and "ticket_attachments" in conversation[0] and "users" in conversation[0]
    assert not [s for s in statements if "FROM ticket_attachments" in s.split("FROM ticket_messages")[0]]
    assert not [s for s in statements if "users.id IN" in s]  # the authors came with their messages


def test_a_text_file_downloads_as_text_and_never_inline(app_ctx, world, login_as):
    client = login_as("master")
    assert open_ticket(client, files=[("pagina.txt", b"<html><script>alert(1)</script></html>")]).status_code == 302
    ticket = db.session.scalars(select(Ticket)).one()
    download = client.get(f"/chamados/{ticket.id}/anexos/{ticket.messages[0].attachments[0].id}")
    assert download.mimetype == "text/plain" and download.headers["Content-Disposition"].startswith("attachment;")
    assert download.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(("name", "content", "says"), [
    ("grande.pdf", b"%factories.PDF-" + b"0" * MAX_BYTES, "“grande.pdf” passa do limite de 2 KB por arquivo."),
    ("script.js", b"alert(1)", "“script.js”: este tipo de arquivo não é aceito."),
    ("fatura.pdf", b"MZ\x90\x00 not a pdf at all", "“fatura.pdf” não é um arquivo .pdf de verdade"),
])
def test_a_refused_file_gets_its_message_and_the_text_is_kept(app_ctx, world, login_as, name, content, says):
    response = open_ticket(login_as("suporte"), files=[("ok.pdf", factories.PDF), (name, content)])
    assert response.status_code == 422
    body = text(response)
    errors = " ".join(field_errors(response))
    assert says in errors and "Nenhum arquivo foi anexado: escolha os arquivos de novo." in errors
    assert input_value(body, "subject") == "Impressora não imprime pelo Teams"
    assert textarea(body, "description") == "Desde segunda a impressão falha com erro 0x80070005."
    assert re.search(r'<option selected value="high">|<option value="high" selected>', body)
    assert tickets_count() == 0


def test_a_subscription_of_another_organization_is_refused_on_its_field(app_ctx, world, login_as):
    own = factories.subscription(world.demo)
    foreign = factories.subscription(world.other)
    db.session.commit()
    client = login_as("suporte")
    page = text(client.get("/chamados/novo"))
    assert f'value="{own.id}"' in page and f'value="{foreign.id}"' not in page
    for value in (str(foreign.id), "abc", "99999999999"):
        response = open_ticket(client, subscription=value)
        assert response.status_code == 422
        assert field_errors(response) == ["Escolha uma assinatura da sua organização, ou nenhuma."]
    assert tickets_count() == 0
    assert open_ticket(client, subscription=str(own.id)).status_code == 302
    assert db.session.scalars(select(Ticket)).one().subscription_id == own.id


def test_missing_fields_are_marked_and_files_must_be_chosen_again(app_ctx, world, login_as):
    response = open_ticket(login_as("suporte"), files=[("ok.pdf", factories.PDF)], subject="", description="Algo")
    assert response.status_code == 422
    assert "Preencha este campo." in field_errors(response)
    assert "Corrija os campos indicados e escolha os arquivos de novo." in field_errors(response)
    assert textarea(text(response), "description") == "Algo"


def test_a_request_far_over_the_limit_is_refused_unread(app_ctx, world, login_as):
    huge = b"%factories.PDF-" + b"0" * (2 * 1024 * 1024)
    # Encoded here, in memory: the test client would spool it to a temporary file nobody closes when the
    # portal refuses the body without reading it.
    boundary, body = encode_multipart({**form(), "attachments": FileStorage(io.BytesIO(huge), "enorme.pdf")})
    response = login_as("suporte").post("/chamados/novo", data=body,
                                        content_type=f"multipart/form-data; boundary={boundary}")
    assert response.status_code == 413
    assert "passam muito do limite de 2 KB por arquivo" in text(response)
    assert tickets_count() == 0


def test_the_limit_holds_before_the_csrf_check_reads_the_body(app_ctx, world, login_as, monkeypatch):
    monkeypatch.setitem(app_ctx.config, "WTF_CSRF_ENABLED", True)  # the CSRF check is the first to parse the body
    boundary, body = encode_multipart({**form(), "attachments": FileStorage(io.BytesIO(b"0" * 2 * 1024 * 1024),
                                                                            "enorme.pdf")})
    response = login_as("suporte").post("/chamados/novo", data=body,
                                        content_type=f"multipart/form-data; boundary={boundary}")
    assert response.status_code == 413  # not 400 (CSRF): refused before anything was parsed


def test_the_page_escapes_what_customers_typed(app_ctx, world, login_as):
    ticket = factories.ticket(world.demo, world.suporte, subject="<script>alert(1)</script>", body="<b>negrito</b>")
    body = text(login_as("suporte").get(f"/chamados/{ticket.id}"))
    assert "<script>alert(1)</script>" not in body and "&lt;script&gt;" in body and "<b>negrito</b>" not in body


# ---------------------------------------------------------------- the conversation

def test_internal_notes_never_appear_on_the_customers_page(app_ctx, world, login_as):
    ticket = factories.ticket(world.demo, world.suporte)
    factories.ticket_message(ticket, world.staff_suporte, NOTE, kind=MessageKind.NOTE, from_staff=True,
                             files=[("interno.pdf", factories.PDF, "application/pdf")])
    factories.ticket_message(ticket, world.staff_suporte, "Pode reiniciar o spooler?", from_staff=True)
    factories.ticket_message(ticket, world.staff_suporte, "open->waiting_customer", kind=MessageKind.STATUS,
                             from_staff=True)
    db.session.commit()
    note_file = ticket.messages[1].attachments[0]
    for role in ("suporte", "master"):
        client = login_as(role)
        body = text(client.get(f"/chamados/{ticket.id}"))
        assert NOTE not in body and "interno.pdf" not in body and "Nota interna" not in body
        assert "Pode reiniciar o spooler?" in body and "Equipe de suporte" in body
        assert "situação alterada de “aberto” para “aguardando cliente” por" in body
        assert client.get(f"/chamados/{ticket.id}/anexos/{note_file.id}").status_code == 404


def test_a_reply_to_a_resolved_ticket_reopens_it(app_ctx, world, login_as, outbox):
    ticket = factories.ticket(world.demo, world.suporte, status=TicketStatus.RESOLVED, resolved_at=clock.now())
    client = login_as("master")
    response = client.post(f"/chamados/{ticket.id}/responder", content_type="multipart/form-data",
                           data={"body": "O erro voltou hoje.", "attachments": [(io.BytesIO(b"log"), "erro.log")]})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/chamados/{ticket.id}#fim")
    db.session.expire_all()
    assert ticket.status == TicketStatus.OPEN
    body = text(client.get(f"/chamados/{ticket.id}"))
    assert "Mensagem enviada. O chamado foi reaberto." in body and "O erro voltou hoje." in body
    assert "erro.log" in body and "situação alterada de “resolvido” para “aberto”" in body
    assert [m["To"] for m in outbox] == [app_ctx.config["MAIL_STAFF_TO"]]


def test_an_empty_reply_is_refused_on_the_field(app_ctx, world, login_as):
    ticket = factories.ticket(world.demo, world.suporte)
    response = login_as("suporte").post(f"/chamados/{ticket.id}/responder", data={"body": "  "})
    assert response.status_code == 422 and field_errors(response) == ["Preencha este campo."]


def test_a_reply_with_a_refused_file_keeps_the_text(app_ctx, world, login_as):
    ticket = factories.ticket(world.demo, world.suporte)
    response = login_as("suporte").post(
        f"/chamados/{ticket.id}/responder", content_type="multipart/form-data",
        data={"body": "Segue o print.", "attachments": [(io.BytesIO(b"GIF89a"), "print.gif")]})
    assert response.status_code == 422
    assert textarea(text(response), "body") == "Segue o print."
    assert len(ticket.messages) == 1


def test_close_and_reopen(app_ctx, world, login_as):
    ticket = factories.ticket(world.demo, world.suporte)
    client = login_as("suporte")
    assert client.post(f"/chamados/{ticket.id}/fechar").status_code == 302
    body = text(client.get(f"/chamados/{ticket.id}"))
    assert "Chamado fechado." in body and "Este chamado está fechado." in body
    assert 'data-testid="reply-form"' not in body
    assert client.post(f"/chamados/{ticket.id}/responder", data={"body": "Oi"}).status_code == 422
    assert client.post(f"/chamados/{ticket.id}/reabrir").status_code == 302
    body = text(client.get(f"/chamados/{ticket.id}"))
    assert "Chamado reaberto." in body and 'data-testid="reply-form"' in body
    client.post(f"/chamados/{ticket.id}/reabrir")
    assert "Este chamado já está em andamento." in text(client.get(f"/chamados/{ticket.id}"))


# ---------------------------------------------------------------- other organizations

def test_another_organizations_ticket_and_file_are_404(app_ctx, world, login_as):
    foreign = factories.ticket(world.other, world.other_master)
    mine = factories.ticket(world.demo, world.suporte)
    foreign_file = foreign.messages[0].attachments[0]
    client = login_as("suporte")
    assert client.get(f"/chamados/{foreign.id}").status_code == 404
    assert client.get(f"/chamados/{foreign.id}/anexos/{foreign_file.id}").status_code == 404
    assert client.get(f"/chamados/{mine.id}/anexos/{foreign_file.id}").status_code == 404  # through my ticket
    for action in ("responder", "fechar", "reabrir"):
        assert client.post(f"/chamados/{foreign.id}/{action}", data={"body": "Oi"}).status_code == 404
    db.session.expire_all()
    assert foreign.status == TicketStatus.OPEN and len(foreign.messages) == 1


def test_a_user_of_two_organizations_sees_the_current_ones_tickets(app_ctx, world, login_as):
    factories.MembershipFactory(organization=world.other, user=world.suporte, roles=["suporte"])
    foreign = factories.ticket(world.other, world.other_master, subject="Da outra empresa")
    db.session.commit()
    client = login_as("suporte")
    assert client.get(f"/chamados/{foreign.id}").status_code in (200, 404)  # depends on the current one
    client.post(f"/organizacao/{world.other.id}/usar")
    assert "Da outra empresa" in text(client.get(f"/chamados/{foreign.id}"))
    client.post(f"/organizacao/{world.demo.id}/usar")
    # Back in Demo, the other organization's ticket is not shown: the page asks to switch (issue 13 point 6).
    page = text(client.get(f"/chamados/{foreign.id}"))
    assert "Trocar de organização?" in page and "Da outra empresa" not in page
