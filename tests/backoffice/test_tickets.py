"""Backoffice "Chamados": the queue with its filters and clocks, a ticket's page with internal notes, replying,
notes, assignment, status changes, files, the navigation badge, and who may do what."""

import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.shared import clock
from portal.shared.audit import AuditEvent, AuditTag
from portal.support.models import MessageKind, Ticket, TicketPriority, TicketStatus
from tests import factories
from tests.conftest import sign_in
from tests.html import field_errors, text
from tests.support.test_service import mail_text

NOON = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)  # 12:00 in São Paulo
NOTE = "Nota interna: o cliente já teve este problema em janeiro; ver chamado antigo."


@pytest.fixture
def frozen():
    with clock.frozen(NOON):
        yield


def staff(client, world, role="suporte"):
    return sign_in(client, getattr(world, f"staff_{role}"))


def events(tag) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.tag == tag).order_by(AuditEvent.seq)))


def row(body: str, ticket: Ticket) -> str:
    start = body.index(f'data-testid="ticket-row-{ticket.id}"')
    return body[start:body.index("</tr>", start)]


def order_in(body: str) -> list[int]:
    return [int(n) for n in re.findall(r'data-testid="ticket-row-(\d+)"', body)]


# ---------------------------------------------------------------- the queue

def test_the_queue_shows_the_clocks_against_the_targets(app_ctx, world, client, frozen):
    late = factories.ticket(world.demo, world.suporte, subject="Exchange fora do ar", priority=TicketPriority.URGENT,
                            created_at=NOON - timedelta(hours=2, minutes=10))
    answered = factories.ticket(world.other, world.other_master, subject="Dúvida de licença",
                                priority=TicketPriority.HIGH, created_at=NOON - timedelta(hours=6),
                                first_response_at=NOON - timedelta(hours=3, minutes=50),
                                status=TicketStatus.WAITING_CUSTOMER, assignee_id=world.staff_suporte.id)
    body = text(staff(client, world).get("/backoffice/chamados"))
    assert order_in(body) == [late.id, answered.id]
    first = row(body, late)
    assert "Exchange fora do ar" in first and "Demo Tecnologia" in first and "sem responsável" in first
    assert "1ª resposta: aguardando há 2 h 10 min (meta 1 h) — atrasada" in first
    assert "Resolução: em aberto há 2 h 10 min (meta 8 h) — faltam 5 h 50 min" in first
    second = row(body, answered)
    assert "1ª resposta: 2 h 10 min (meta 4 h) — no prazo" in second and world.staff_suporte.name in second
    assert "aguardando cliente" in second


def test_the_queue_uses_the_targets_from_settings(app_ctx, world, client, frozen, monkeypatch):
    monkeypatch.setitem(app_ctx.config, "TICKET_FIRST_RESPONSE_HOURS",
                        {"urgent": 3, "high": 4, "normal": 8, "low": 24})
    ticket = factories.ticket(world.demo, world.suporte, priority=TicketPriority.URGENT,
                              created_at=NOON - timedelta(hours=2, minutes=10))
    body = text(staff(client, world).get("/backoffice/chamados"))
    assert "1ª resposta: aguardando há 2 h 10 min (meta 3 h) — faltam 50 min" in row(body, ticket)


def test_the_queue_puts_the_oldest_urgent_first(app_ctx, world, client, frozen):
    normal_old = factories.ticket(world.demo, world.suporte, created_at=NOON - timedelta(days=2))
    urgent_new = factories.ticket(world.demo, world.suporte, priority=TicketPriority.URGENT,
                                  created_at=NOON - timedelta(minutes=5))
    urgent_old = factories.ticket(world.other, world.other_master, priority=TicketPriority.URGENT,
                                  created_at=NOON - timedelta(hours=3))
    low = factories.ticket(world.demo, world.suporte, priority=TicketPriority.LOW, created_at=NOON - timedelta(days=9))
    factories.ticket(world.demo, world.suporte, priority=TicketPriority.URGENT, status=TicketStatus.CLOSED)
    body = text(staff(client, world).get("/backoffice/chamados"))
    assert order_in(body) == [urgent_old.id, urgent_new.id, normal_old.id, low.id]


def test_the_queue_filters(app_ctx, world, client, frozen):
    mine = factories.ticket(world.demo, world.suporte, subject="Meu", assignee_id=world.staff_suporte.id)
    nobodys = factories.ticket(world.other, world.other_master, subject="De ninguém", priority=TicketPriority.HIGH)
    admins = factories.ticket(world.demo, world.suporte, subject="Do admin", assignee_id=world.staff_admin.id)
    closed = factories.ticket(world.demo, world.suporte, subject="Fechado", status=TicketStatus.CLOSED)
    client = staff(client, world)

    def shown(query: str) -> set[int]:
        response = client.get(f"/backoffice/chamados?{query}")
        assert response.status_code == 200, query
        return set(order_in(text(response)))

    assert shown("") == {mine.id, nobodys.id, admins.id}
    assert shown("responsavel=meus") == {mine.id}
    assert shown("responsavel=nenhum") == {nobodys.id}
    assert shown(f"responsavel={world.staff_admin.id}") == {admins.id}
    assert shown("prioridade=alta") == {nobodys.id}
    assert shown("organizacao=outra") == {nobodys.id}
    assert shown("situacao=fechado") == {closed.id}
    assert shown("situacao=todos") == {mine.id, nobodys.id, admins.id, closed.id}


def test_a_filter_that_cannot_be_read_is_ignored_and_explained(app_ctx, world, client):
    factories.ticket(world.demo, world.suporte)
    response = staff(client, world).get("/backoffice/chamados?situacao=xyz&prioridade=maxima&responsavel=fulano")
    assert response.status_code == 422
    body = text(response)
    assert "Situação desconhecida: “xyz”" in body and "Prioridade desconhecida: “maxima”" in body
    assert "Responsável desconhecido: “fulano”" in body and len(order_in(body)) == 1


def test_the_navigation_badge_counts_tickets_late_for_a_first_response(app_ctx, world, client, frozen):
    factories.ticket(world.demo, world.suporte, priority=TicketPriority.URGENT, created_at=NOON - timedelta(hours=2))
    factories.ticket(world.other, world.other_master, priority=TicketPriority.LOW, created_at=NOON - timedelta(hours=2))
    for role in ("suporte", "compliance", "admin"):
        body = text(staff(client, world, role).get("/backoffice/"))
        assert re.search(r'data-testid="tickets-late">1<', body), role
    body = text(staff(client, world, "comercial").get("/backoffice/"))
    assert 'href="/backoffice/chamados"' not in body


# ---------------------------------------------------------------- a ticket

def test_staff_see_the_whole_conversation_with_internal_notes_marked(app_ctx, world, client):
    ticket = factories.ticket(world.demo, world.suporte)
    factories.ticket_message(ticket, world.staff_suporte, NOTE, kind=MessageKind.NOTE, from_staff=True,
                             files=[("interno.pdf", factories.PDF, "application/pdf")])
    db.session.commit()
    for role in ("suporte", "compliance", "admin"):
        body = text(staff(client, world, role).get(f"/backoffice/chamados/{ticket.id}"))
        assert NOTE in body and 'data-testid="internal-note"' in body and "só a equipe vê" in body
        assert world.suporte.email in body and "Demo Tecnologia Ltda" in body
        assert ('data-testid="reply-form"' in body) is (role != "compliance")
        assert ('data-testid="note-form"' in body) is (role != "compliance")
    note_file = ticket.messages[1].attachments[0]
    download = client.get(f"/backoffice/chamados/{ticket.id}/anexos/{note_file.id}")
    assert download.status_code == 200 and download.data == factories.PDF
    assert download.headers["Content-Disposition"].startswith("attachment;")
    other = factories.ticket(world.other, world.other_master)
    assert client.get(f"/backoffice/chamados/{ticket.id}/anexos/{other.messages[0].attachments[0].id}"
                      ).status_code == 404
    assert client.get("/backoffice/chamados/999999").status_code == 404


def test_a_staff_reply_reaches_the_customer_page_and_inbox(app_ctx, world, client, outbox, frozen):
    ticket = factories.ticket(world.demo, world.suporte, created_at=NOON - timedelta(hours=1))
    client = staff(client, world)
    client.post(f"/backoffice/chamados/{ticket.id}/nota", data={"note-body": NOTE})
    response = client.post(
        f"/backoffice/chamados/{ticket.id}/responder", content_type="multipart/form-data",
        data={"reply-body": "Reinstale o driver e reinicie.", "reply-status": "waiting_customer",
              "reply-attachments": [(io.BytesIO(factories.PDF), "passo-a-passo.pdf")]})
    assert response.status_code == 302
    db.session.expire_all()
    assert ticket.status == TicketStatus.WAITING_CUSTOMER and ticket.first_response_at == NOON
    [mail] = outbox
    assert mail["To"] == world.suporte.email
    assert "Reinstale o driver e reinicie." in mail_text(mail) and NOTE not in mail_text(mail)
    staff_page = text(client.get(f"/backoffice/chamados/{ticket.id}"))
    assert "Resposta enviada ao cliente." in staff_page
    assert "1ª resposta: 1 h (meta 8 h) — no prazo" in staff_page

    customer = sign_in(app_ctx.test_client(), world.suporte)
    page = text(customer.get(f"/chamados/{ticket.id}"))
    assert "Reinstale o driver e reinicie." in page and "passo-a-passo.pdf" in page
    assert NOTE not in page and "aguardando cliente" in page
    [event] = events(AuditTag.TICKET_REPLIED)
    assert event.actor_id == world.staff_suporte.id and event.after["from_staff"] is True


def test_a_refused_reply_keeps_its_text(app_ctx, world, client):
    ticket = factories.ticket(world.demo, world.suporte)
    response = staff(client, world).post(
        f"/backoffice/chamados/{ticket.id}/responder", content_type="multipart/form-data",
        data={"reply-body": "Veja o anexo.", "reply-status": "in_progress",
              "reply-attachments": [(io.BytesIO(b"not a pdf"), "manual.pdf")]})
    assert response.status_code == 422
    assert any("“manual.pdf” não é um arquivo .pdf de verdade" in e for e in field_errors(response))
    assert "Veja o anexo.</textarea>" in text(response)
    assert len(ticket.messages) == 1


def test_a_note_is_recorded_and_never_mailed(app_ctx, world, client, outbox):
    ticket = factories.ticket(world.demo, world.suporte)
    response = staff(client, world).post(f"/backoffice/chamados/{ticket.id}/nota", data={"note-body": NOTE})
    assert response.status_code == 302 and outbox == []
    db.session.expire_all()
    assert [m.kind for m in ticket.messages] == [MessageKind.MESSAGE, MessageKind.NOTE]
    assert ticket.status == TicketStatus.OPEN and ticket.first_response_at is None  # a note is not a response
    assert staff(client, world).post(f"/backoffice/chamados/{ticket.id}/nota",
                                     data={"note-body": ""}).status_code == 422
    [event] = events(AuditTag.TICKET_NOTE_ADDED)
    assert event.organization_id is None
    master = sign_in(app_ctx.test_client(), world.master)
    assert "Nota interna" not in text(master.get("/historico")) and NOTE not in text(master.get("/historico"))


def test_assign_to_oneself_to_someone_and_to_nobody(app_ctx, world, client):
    ticket = factories.ticket(world.demo, world.suporte)
    client = staff(client, world)
    assert client.post(f"/backoffice/chamados/{ticket.id}/responsavel", data={"assignee": "eu"}).status_code == 302
    db.session.expire_all()
    assert ticket.assignee_id == world.staff_suporte.id
    assert client.post(f"/backoffice/chamados/{ticket.id}/responsavel",
                       data={"assignee": str(world.staff_admin.id)}).status_code == 302
    db.session.expire_all()
    assert ticket.assignee_id == world.staff_admin.id
    for refused in (str(world.staff_comercial.id), str(world.master.id), "x"):
        response = client.post(f"/backoffice/chamados/{ticket.id}/responsavel", data={"assignee": refused})
        assert response.status_code == 422
        assert field_errors(response) == ["Escolha alguém da equipe que atende chamados."]
    assert client.post(f"/backoffice/chamados/{ticket.id}/responsavel", data={"assignee": ""}).status_code == 302
    db.session.expire_all()
    assert ticket.assignee_id is None
    assert len(events(AuditTag.TICKET_ASSIGNED)) == 3


def test_status_changes_are_mailed_audited_and_shown_in_words(app_ctx, world, client, outbox):
    ticket = factories.ticket(world.demo, world.suporte)
    client = staff(client, world)
    page = text(client.get(f"/backoffice/chamados/{ticket.id}"))
    assert 'value="in_progress"' in page and 'value="open"' not in page.split('data-testid="status-form"')[1]
    assert client.post(f"/backoffice/chamados/{ticket.id}/situacao", data={"status": "resolved"}).status_code == 302
    db.session.expire_all()
    assert ticket.status == TicketStatus.RESOLVED and ticket.resolved_at is not None
    [mail] = outbox
    assert mail["To"] == world.suporte.email and "“aberto” para “resolvido”" in mail_text(mail)
    [event] = events(AuditTag.TICKET_STATUS_CHANGED)
    assert event.before == {"status": "open"} and event.after == {"status": "resolved"}
    response = client.post(f"/backoffice/chamados/{ticket.id}/situacao", data={"status": "waiting_customer"})
    assert response.status_code == 422
    assert field_errors(response) == ["Um chamado nesta situação não pode passar para a escolhida."]
    customer = sign_in(app_ctx.test_client(), world.suporte)
    assert "situação alterada de “aberto” para “resolvido”" in text(customer.get(f"/chamados/{ticket.id}"))


def test_a_closed_ticket_is_only_reopened(app_ctx, world, client):
    ticket = factories.ticket(world.demo, world.suporte, status=TicketStatus.CLOSED, closed_at=clock.now())
    client = staff(client, world)
    page = text(client.get(f"/backoffice/chamados/{ticket.id}"))
    assert 'data-testid="reply-form"' not in page
    assert client.post(f"/backoffice/chamados/{ticket.id}/responder",
                       data={"reply-body": "Oi", "reply-status": "in_progress"}).status_code == 422
    assert client.post(f"/backoffice/chamados/{ticket.id}/situacao", data={"status": "open"}).status_code == 302
    db.session.expire_all()
    assert ticket.status == TicketStatus.OPEN and ticket.closed_at is None


@pytest.mark.parametrize("role", ["comercial", "financeiro"])
def test_staff_without_tickets_read_get_403(app_ctx, world, client, role):
    ticket = factories.ticket(world.demo, world.suporte)
    client = staff(client, world, role)
    assert client.get("/backoffice/chamados").status_code == 403
    assert client.get(f"/backoffice/chamados/{ticket.id}").status_code == 403


def test_compliance_reads_but_may_not_act(app_ctx, world, client, outbox):
    ticket = factories.ticket(world.demo, world.suporte)
    client = staff(client, world, "compliance")
    assert client.get(f"/backoffice/chamados/{ticket.id}").status_code == 200
    for action, data in (("responder", {"reply-body": "Oi", "reply-status": "in_progress"}),
                         ("nota", {"note-body": "Oi"}), ("responsavel", {"assignee": "eu"}),
                         ("situacao", {"status": "resolved"})):
        assert client.post(f"/backoffice/chamados/{ticket.id}/{action}", data=data).status_code == 403
    db.session.expire_all()
    assert len(ticket.messages) == 1 and ticket.status == TicketStatus.OPEN and outbox == []


@pytest.mark.parametrize("role", ["master", "suporte"])
def test_customers_get_404_in_the_backoffice(app_ctx, world, login_as, role):
    ticket = factories.ticket(world.demo, world.suporte)
    client = login_as(role)
    assert client.get("/backoffice/chamados").status_code == 404
    assert client.get(f"/backoffice/chamados/{ticket.id}").status_code == 404
