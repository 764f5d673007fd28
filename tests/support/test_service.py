"""Ticket services: who may do what, files, the conversation, internal notes, e-mails, audit, clocks, queue."""

import io
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.shared import clock, documents
from portal.shared.audit import Actor, AuditEvent, AuditTag
from portal.shared.errors import NotFound, PermissionDenied, ServiceError
from portal.support import service
from portal.support.models import MessageKind, Ticket, TicketAttachment, TicketPriority, TicketStatus
from portal.support.service import AttachmentRules, SlaTargets, TicketInputError, Upload
from tests import factories

RULES = AttachmentRules(max_bytes=1000, types=frozenset({"pdf", "png", "jpg", "jpeg", "txt", "log", "csv", "zip",
                                                          "docx", "xlsx"}))
TARGETS = SlaTargets(first_response={"urgent": 1, "high": 4, "normal": 8, "low": 24},
                     resolution={"urgent": 8, "high": 24, "normal": 72, "low": 120})
NOON = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)  # 12:00 in São Paulo
NOTE = "Cliente com contrato antigo; verificar com o financeiro antes de prometer crédito."
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40


def docx_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as package:
        package.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


def actor(user) -> Actor:
    return Actor.for_user(user, ip="203.0.113.9")


def open_as(world, who="suporte", *, uploads=(), **changes) -> Ticket:
    fields = {"category": "technical", "priority": "high", "subject": "Teams não abre",
              "description": "O Teams fecha ao abrir desde a atualização de ontem.", "subscription_id": None}
    fields.update(changes)
    membership = getattr(world, f"{who}_membership")
    return service.open_ticket(membership=membership, actor=actor(membership.user), uploads=list(uploads),
                               rules=RULES, **fields)


def events(tag) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.tag == tag).order_by(AuditEvent.seq)))


def mail_text(message) -> str:
    parts = [message["Subject"], message.get_body(("plain",)).get_content()]
    html = message.get_body(("html",))
    if html is not None:
        parts.append(html.get_content())
    return "\n".join(parts)


def ticket_count() -> int:
    return db.session.scalar(select(func.count(Ticket.id)))


# ---------------------------------------------------------------- opening

def test_suporte_opens_a_ticket_with_a_file_and_staff_get_an_email(app_ctx, world, outbox):
    ticket = open_as(world, uploads=[Upload("C:\\Users\\ana\\Relatório de erro.pdf", factories.PDF)])

    assert ticket.status == TicketStatus.OPEN and ticket.opened_by_id == world.suporte.id
    assert ticket.organization_id == world.demo.id and ticket.first_response_at is None
    [message] = ticket.messages
    assert message.kind == MessageKind.MESSAGE and not message.from_staff
    [attachment] = message.attachments
    assert attachment.filename == "Relatório de erro.pdf" and attachment.content_type == "application/pdf"
    assert attachment.size == len(factories.PDF) and documents.load(attachment.sha256) == (factories.PDF,
                                                                                           "application/pdf")
    [event] = events(AuditTag.TICKET_OPENED)
    assert event.organization_id == world.demo.id and event.subject == f"ticket:{ticket.id}"
    assert event.after["attachments"] == ["Relatório de erro.pdf"] and event.after["priority"] == "high"
    [mail] = outbox
    assert mail["To"] == app_ctx.config["MAIL_STAFF_TO"]
    text = mail_text(mail)
    assert "Teams não abre" in text and "O Teams fecha ao abrir desde a atualização de ontem." in text
    assert "Relatório de erro.pdf" in text and f"/backoffice/chamados/{ticket.id}" in text


def test_master_opens_tickets_too(app_ctx, world):
    assert open_as(world, "master").opened_by_id == world.master.id


@pytest.mark.parametrize("who", ["adm", "cobranca"])
def test_other_roles_may_not_open_tickets(app_ctx, world, who):
    with pytest.raises(PermissionDenied):
        open_as(world, who)
    assert ticket_count() == 0


def test_an_inactive_membership_may_not_open_tickets(app_ctx, world):
    world.suporte_membership.active = False
    with pytest.raises(PermissionDenied):
        open_as(world)


def test_a_subscription_of_the_organization_is_accepted_and_another_organizations_is_refused(app_ctx, world):
    own = factories.subscription(world.demo)
    foreign = factories.subscription(world.other)
    assert open_as(world, subscription_id=own.id).subscription_id == own.id
    with pytest.raises(TicketInputError) as refused:
        open_as(world, subject="Outro", subscription_id=foreign.id)
    assert list(refused.value.errors) == ["subscription"]
    assert ticket_count() == 1


def test_every_problem_is_reported_at_once_and_nothing_is_stored(app_ctx, world, outbox):
    with pytest.raises(TicketInputError) as refused:
        open_as(world, subject="  ", description="", category="nope", priority="asap",
                uploads=[Upload("virus.exe", b"MZ\x90\x00")])
    assert set(refused.value.errors) == {"subject", "description", "category", "priority", "attachments"}
    assert ticket_count() == 0 and outbox == []


def test_subject_and_description_have_limits(app_ctx, world):
    with pytest.raises(TicketInputError) as refused:
        open_as(world, subject="x" * (service.SUBJECT_MAX + 1), description="y" * (service.BODY_MAX + 1))
    assert set(refused.value.errors) == {"subject", "description"}


# ---------------------------------------------------------------- files

@pytest.mark.parametrize(("filename", "content", "says"), [
    ("grande.pdf", b"%factories.PDF-" + b"0" * 996, "passa do limite de 1000 bytes por arquivo"),  # 1001 bytes
    ("programa.exe", b"MZ", "este tipo de arquivo não é aceito"),
    ("pagina.html", b"<script>alert(1)</script>", "este tipo de arquivo não é aceito"),
    ("sem-extensao", b"abc", "este tipo de arquivo não é aceito"),
    ("falso.pdf", b"<html>not a pdf</html>", "não é um arquivo .pdf de verdade"),
    ("falso.png", factories.PDF, "não é um arquivo .png de verdade"),
    ("falso.jpg", PNG, "não é um arquivo .jpg de verdade"),
    ("falso.docx", factories.PDF, "não é um arquivo .docx de verdade"),
    ("latin1.txt", "ação".encode("latin-1"), "não é um arquivo .txt de verdade"),
    ("vazio.pdf", b"", "está vazio"),
])
def test_a_refused_file_is_named_with_the_reason(app_ctx, world, filename, content, says):
    with pytest.raises(TicketInputError) as refused:
        open_as(world, uploads=[Upload(filename, content)])
    messages = refused.value.errors["attachments"]
    assert filename in messages[0] and says in messages[0]
    assert "escolha os arquivos de novo" in messages[-1]
    assert db.session.scalar(select(func.count(TicketAttachment.id))) == 0


def test_the_size_limit_is_shown_in_megabytes(app_ctx):
    assert AttachmentRules(max_bytes=10 * 1024 * 1024, types=frozenset()).max_label == "10 MB"
    assert AttachmentRules(max_bytes=1536 * 1024, types=frozenset()).max_label == "1,5 MB"
    assert AttachmentRules(max_bytes=2000, types=frozenset()).max_label == "2 KB"


@pytest.mark.parametrize(("filename", "content", "content_type"), [
    ("print.png", PNG, "image/png"),
    ("foto.JPG", b"\xff\xd8\xff\xe0" + b"\x00" * 20, "image/jpeg"),
    ("proposta.docx", docx_bytes(), "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ("logs.zip", docx_bytes(), "application/zip"),
    ("erro.log", "ação não concluída\n".encode(), "text/plain"),
    ("usuarios.csv", b"nome;email\nAna;ana@example.com\n", "text/csv"),
])
def test_accepted_files_keep_the_type_of_their_extension(app_ctx, world, filename, content, content_type):
    ticket = open_as(world, uploads=[Upload(filename, content)])
    [attachment] = ticket.messages[0].attachments
    assert attachment.content_type == content_type and documents.load(attachment.sha256)[0] == content


def test_at_most_five_files_per_message(app_ctx, world):
    with pytest.raises(TicketInputError) as refused:
        open_as(world, uploads=[Upload(f"{n}.pdf", factories.PDF) for n in range(6)])
    assert "no máximo 5 arquivos" in refused.value.errors["attachments"][0]


@pytest.mark.parametrize(("sent", "kept"), [
    ("../../etc/passwd.txt", "passwd.txt"),
    ("C:\\fakepath\\relatório.pdf", "relatório.pdf"),
    ("a<b>c\x00.pdf", "a_b_c_.pdf"),
    ("...", "anexo"),
    ("x" * 300 + ".pdf", "x" * 196 + ".pdf"),
])
def test_file_names_are_cleaned(sent, kept):
    assert service.clean_filename(sent) == kept


# ---------------------------------------------------------------- the customer's side of the conversation

def test_a_reply_to_a_resolved_ticket_reopens_it(app_ctx, world):
    ticket = factories.ticket(world.demo, world.suporte, status=TicketStatus.RESOLVED, resolved_at=clock.now())
    service.customer_reply(ticket, membership=world.suporte_membership, actor=actor(world.suporte),
                           body="Voltou a acontecer hoje.", uploads=[], rules=RULES)
    assert ticket.status == TicketStatus.OPEN and ticket.resolved_at is None
    kinds = [m.kind for m in ticket.messages]
    assert kinds == [MessageKind.MESSAGE, MessageKind.MESSAGE, MessageKind.STATUS]
    assert service.status_change(ticket.messages[-1]) == ("resolved", "open")
    [event] = events(AuditTag.TICKET_STATUS_CHANGED)
    assert event.before == {"status": "resolved"} and event.after == {"status": "open"}


def test_a_reply_while_staff_waits_for_the_customer_goes_back_to_staff(app_ctx, world, outbox):
    ticket = factories.ticket(world.demo, world.suporte, status=TicketStatus.WAITING_CUSTOMER,
                              assignee_id=world.staff_suporte.id)
    service.customer_reply(ticket, membership=world.master_membership, actor=actor(world.master),
                           body="Reiniciei e continua.", uploads=[Upload("log.txt", b"erro 0x80070005")],
                           rules=RULES)
    assert ticket.status == TicketStatus.IN_PROGRESS
    [mail] = outbox  # to whoever handles it
    assert mail["To"] == world.staff_suporte.email and "Reiniciei e continua." in mail_text(mail)


def test_a_closed_ticket_must_be_reopened_before_a_reply(app_ctx, world):
    ticket = factories.ticket(world.demo, world.suporte, status=TicketStatus.CLOSED, closed_at=clock.now())
    with pytest.raises(ServiceError, match="Reabra-o"):
        service.customer_reply(ticket, membership=world.suporte_membership, actor=actor(world.suporte),
                               body="Oi?", uploads=[], rules=RULES)


def test_another_organizations_ticket_is_not_found(app_ctx, world):
    foreign = factories.ticket(world.other, world.other_master)
    with pytest.raises(NotFound):
        service.customer_ticket(foreign.id, membership=world.master_membership)
    for verb in (service.customer_close, service.customer_reopen):
        with pytest.raises(NotFound):
            verb(foreign, membership=world.master_membership, actor=actor(world.master))
    with pytest.raises(NotFound):
        service.customer_reply(foreign, membership=world.master_membership, actor=actor(world.master), body="Oi",
                               uploads=[], rules=RULES)
    with pytest.raises(NotFound):
        service.customer_attachment(foreign, foreign.messages[0].attachments[0].id,
                                    membership=world.master_membership)


def test_an_attachment_of_another_ticket_is_not_found_through_this_one(app_ctx, world):
    mine, other = factories.ticket(world.demo, world.suporte), factories.ticket(world.demo, world.suporte)
    with pytest.raises(NotFound):
        service.customer_attachment(mine, other.messages[0].attachments[0].id, membership=world.suporte_membership)
    attachment = service.customer_attachment(other, other.messages[0].attachments[0].id,
                                             membership=world.suporte_membership)
    assert documents.load(attachment.sha256)[0] == factories.PDF and attachment.filename == "erro.pdf"


def test_close_and_reopen(app_ctx, world, outbox):
    ticket = factories.ticket(world.demo, world.suporte)
    service.customer_close(ticket, membership=world.master_membership, actor=actor(world.master))
    assert ticket.status == TicketStatus.CLOSED and ticket.closed_at is not None
    [mail] = outbox  # the opener learns that the Master closed it
    assert mail["To"] == world.suporte.email and "fechado" in mail["Subject"]
    with pytest.raises(ServiceError):
        service.customer_close(ticket, membership=world.master_membership, actor=actor(world.master))
    service.customer_reopen(ticket, membership=world.suporte_membership, actor=actor(world.suporte))
    assert ticket.status == TicketStatus.OPEN and ticket.closed_at is None
    assert len(outbox) == 1  # the opener did it: no e-mail to itself
    with pytest.raises(ServiceError):
        service.customer_reopen(ticket, membership=world.suporte_membership, actor=actor(world.suporte))


# ---------------------------------------------------------------- staff

def test_a_staff_reply_sets_the_first_response_once_and_mails_the_customer(app_ctx, world, outbox):
    colleague = factories.MembershipFactory(organization=world.demo, roles=["suporte"]).user
    with clock.frozen(NOON):
        ticket = factories.ticket(world.demo, world.suporte)
        clock.advance(timedelta(hours=2, minutes=10))
        service.staff_reply(ticket, actor=actor(world.staff_suporte), body="Reinstale o cliente do Teams.",
                            status=TicketStatus.WAITING_CUSTOMER, uploads=[Upload("passos.pdf",
                                                                                  factories.PDF)], rules=RULES)
        assert ticket.first_response_at == NOON + timedelta(hours=2, minutes=10)
        assert ticket.status == TicketStatus.WAITING_CUSTOMER
        clock.advance(timedelta(hours=1))
        service.staff_reply(ticket, actor=actor(world.staff_admin), body="Conseguiu?",
                            status=TicketStatus.IN_PROGRESS, uploads=[], rules=RULES)
        assert ticket.first_response_at == NOON + timedelta(hours=2, minutes=10)
    first_round = outbox[:2]
    assert sorted(m["To"] for m in first_round) == sorted([world.suporte.email, colleague.email])
    assert all("Reinstale o cliente do Teams." in mail_text(m) for m in first_round)
    everyone = {m["To"] for m in outbox}
    assert world.adm.email not in everyone and world.cobranca.email not in everyone
    assert world.master.email not in everyone  # Master is told only when it opened the ticket
    replies = events(AuditTag.TICKET_REPLIED)
    assert [e.after["from_staff"] for e in replies] == [True, True]


@pytest.mark.parametrize("role", ["compliance", "comercial", "financeiro"])
def test_only_staff_who_manage_tickets_reply_note_assign_or_change_status(app_ctx, world, role):
    ticket = factories.ticket(world.demo, world.suporte)
    someone = actor(getattr(world, f"staff_{role}"))
    with pytest.raises(PermissionDenied):
        service.staff_reply(ticket, actor=someone, body="Oi", status=TicketStatus.IN_PROGRESS, uploads=[],
                            rules=RULES)
    with pytest.raises(PermissionDenied):
        service.add_note(ticket, actor=someone, body="Oi", uploads=[], rules=RULES)
    with pytest.raises(PermissionDenied):
        service.assign(ticket, actor=someone, assignee_id=world.staff_suporte.id)
    with pytest.raises(PermissionDenied):
        service.change_status(ticket, actor=someone, status=TicketStatus.IN_PROGRESS)


def test_customers_are_not_staff(app_ctx, world):
    ticket = factories.ticket(world.demo, world.suporte)
    with pytest.raises(PermissionDenied):
        service.staff_reply(ticket, actor=actor(world.master), body="Resolvido", status=TicketStatus.RESOLVED,
                            uploads=[], rules=RULES)
    with pytest.raises(PermissionDenied):
        service.staff_ticket(ticket.id, actor=actor(world.master))


def test_compliance_reads_tickets(app_ctx, world):
    ticket = factories.ticket(world.demo, world.suporte)
    assert service.staff_ticket(ticket.id, actor=actor(world.staff_compliance)) is ticket


def test_an_internal_note_is_never_shown_nor_mailed_to_the_customer(app_ctx, world, outbox):
    ticket = factories.ticket(world.demo, world.suporte)
    note = service.add_note(ticket, actor=actor(world.staff_suporte), body=NOTE,
                            uploads=[Upload("interno.txt", b"so para a equipe")], rules=RULES)
    assert outbox == []  # nobody is mailed about a note
    service.staff_reply(ticket, actor=actor(world.staff_suporte), body="Estamos verificando.",
                        status=TicketStatus.IN_PROGRESS, uploads=[], rules=RULES)
    service.change_status(ticket, actor=actor(world.staff_suporte), status=TicketStatus.RESOLVED)
    service.customer_close(ticket, membership=world.master_membership, actor=actor(world.master))
    assert outbox and all(NOTE not in mail_text(m) and "interno.txt" not in mail_text(m) for m in outbox)

    assert note not in service.customer_conversation(ticket)
    assert note in service.staff_conversation(ticket)
    with pytest.raises(NotFound):  # the note's file is not the customer's to download
        service.customer_attachment(ticket, note.attachments[0].id, membership=world.suporte_membership)
    attachment = service.staff_attachment(ticket, note.attachments[0].id, actor=actor(world.staff_compliance))
    assert documents.load(attachment.sha256)[0] == b"so para a equipe"
    [event] = events(AuditTag.TICKET_NOTE_ADDED)
    assert event.organization_id is None  # the customer's Histórico lists only its organization's events
    assert NOTE not in str(event.after) and event.after["organization_id"] == world.demo.id


def test_a_note_is_refused_empty(app_ctx, world):
    ticket = factories.ticket(world.demo, world.suporte)
    with pytest.raises(TicketInputError) as refused:
        service.add_note(ticket, actor=actor(world.staff_suporte), body="   ", uploads=[], rules=RULES)
    assert list(refused.value.errors) == ["body"]


def test_a_staff_reply_needs_a_known_status_and_an_open_ticket(app_ctx, world):
    ticket = factories.ticket(world.demo, world.suporte)
    with pytest.raises(TicketInputError) as refused:
        service.staff_reply(ticket, actor=actor(world.staff_suporte), body="Oi", status=TicketStatus.CLOSED,
                            uploads=[], rules=RULES)
    assert list(refused.value.errors) == ["status"]
    closed = factories.ticket(world.demo, world.suporte, status=TicketStatus.CLOSED)
    with pytest.raises(ServiceError, match="Reabra-o"):
        service.staff_reply(closed, actor=actor(world.staff_suporte), body="Oi", status=TicketStatus.IN_PROGRESS,
                            uploads=[], rules=RULES)


def test_the_email_never_carries_a_note_even_if_asked(app_ctx, world):
    from portal.notifications import service as notifications

    ticket = factories.ticket(world.demo, world.suporte)
    note = factories.ticket_message(ticket, world.staff_suporte, NOTE, kind=MessageKind.NOTE, from_staff=True)
    with pytest.raises(ValueError):
        notifications.ticket_replied(ticket=ticket, message=note, author=world.staff_suporte)


def test_assignment_to_staff_who_answer_tickets_only(app_ctx, world):
    ticket = factories.ticket(world.demo, world.suporte)
    service.assign(ticket, actor=actor(world.staff_suporte), assignee_id=world.staff_admin.id)
    assert ticket.assignee_id == world.staff_admin.id
    for someone in (world.staff_comercial, world.staff_compliance, world.master):
        with pytest.raises(TicketInputError):
            service.assign(ticket, actor=actor(world.staff_suporte), assignee_id=someone.id)
    world.staff_suporte.active = False
    with pytest.raises(PermissionDenied):
        service.assign(ticket, actor=actor(world.staff_suporte), assignee_id=world.staff_suporte.id)
    world.staff_suporte.active = True
    service.assign(ticket, actor=actor(world.staff_suporte), assignee_id=None)
    assert ticket.assignee_id is None
    assigned = events(AuditTag.TICKET_ASSIGNED)
    assert [(e.before, e.after) for e in assigned] == [
        ({"assignee": None}, {"assignee": world.staff_admin.email}),
        ({"assignee": world.staff_admin.email}, {"assignee": None}),
    ]
    assert {u.id for u in service.assignable_staff()} == {world.staff_suporte.id, world.staff_admin.id}


def test_status_changes_follow_the_workflow_and_mail_the_opener(app_ctx, world, outbox):
    ticket = factories.ticket(world.demo, world.suporte)
    staff = actor(world.staff_suporte)
    for status in (TicketStatus.IN_PROGRESS, TicketStatus.WAITING_CUSTOMER, TicketStatus.RESOLVED):
        service.change_status(ticket, actor=staff, status=status)
    assert ticket.resolved_at is not None
    service.change_status(ticket, actor=staff, status=TicketStatus.CLOSED)
    assert ticket.closed_at is not None
    with pytest.raises(TicketInputError):
        service.change_status(ticket, actor=staff, status=TicketStatus.IN_PROGRESS)  # closed: only reopening
    service.change_status(ticket, actor=staff, status=TicketStatus.OPEN)
    assert ticket.resolved_at is None and ticket.closed_at is None
    assert [m["To"] for m in outbox] == [world.suporte.email] * 5
    assert "resolvido" in outbox[2]["Subject"] and "“aguardando cliente” para “resolvido”" in mail_text(outbox[2])
    assert [e.after["status"] for e in events(AuditTag.TICKET_STATUS_CHANGED)] == [
        "in_progress", "waiting_customer", "resolved", "closed", "open"]


def test_an_inactive_opener_gets_no_email(app_ctx, world, outbox):
    ticket = factories.ticket(world.demo, world.suporte)
    world.suporte.active = False
    service.change_status(ticket, actor=actor(world.staff_suporte), status=TicketStatus.IN_PROGRESS)
    assert outbox == []


# ---------------------------------------------------------------- clocks and queue

def test_the_clocks_against_their_targets(app_ctx, world):
    with clock.frozen(NOON):
        urgent = factories.ticket(world.demo, world.suporte, priority=TicketPriority.URGENT)
        normal = factories.ticket(world.demo, world.suporte, priority=TicketPriority.NORMAL)
        clock.advance(timedelta(hours=2, minutes=10))
        service.staff_reply(normal, actor=actor(world.staff_suporte), body="Olá", status=TicketStatus.IN_PROGRESS,
                            uploads=[], rules=RULES)
        now = clock.now()
        first, resolution = service.ticket_clocks(urgent, targets=TARGETS, now=now)
        assert (first.state, first.late) == ("running", True)
        assert service.first_response_label(first) == "1ª resposta: aguardando há 2 h 10 min (meta 1 h) — atrasada"
        assert service.resolution_label(resolution) == (
            "Resolução: em aberto há 2 h 10 min (meta 8 h) — faltam 5 h 50 min")
        first, resolution = service.ticket_clocks(normal, targets=TARGETS, now=now + timedelta(days=3, hours=1))
        assert service.first_response_label(first) == "1ª resposta: 2 h 10 min (meta 8 h) — no prazo"
        assert resolution.late and service.resolution_label(resolution).endswith("(meta 72 h) — atrasada")
        service.change_status(normal, actor=actor(world.staff_suporte), status=TicketStatus.RESOLVED)
        first, resolution = service.ticket_clocks(normal, targets=TARGETS, now=now + timedelta(days=9))
        assert service.resolution_label(resolution) == "Resolução: 2 h 10 min (meta 72 h) — no prazo"


def test_a_ticket_finished_without_a_staff_reply(app_ctx, world):
    with clock.frozen(NOON):
        ticket = factories.ticket(world.demo, world.suporte)
        clock.advance(timedelta(minutes=30))
        service.customer_close(ticket, membership=world.suporte_membership, actor=actor(world.suporte))
        first, _resolution = service.ticket_clocks(ticket, targets=TARGETS, now=clock.now() + timedelta(days=1))
    assert not first.late and service.first_response_label(first) == "1ª resposta: não houve (meta 8 h)"


def test_late_first_responses_are_counted(app_ctx, world):
    with clock.frozen(NOON):
        factories.ticket(world.demo, world.suporte, priority=TicketPriority.URGENT,
                         created_at=NOON - timedelta(hours=1, minutes=1))  # late
        factories.ticket(world.demo, world.suporte, priority=TicketPriority.HIGH,
                         created_at=NOON - timedelta(hours=3))  # not yet
        factories.ticket(world.demo, world.suporte, priority=TicketPriority.LOW, created_at=NOON - timedelta(days=2),
                         first_response_at=NOON - timedelta(days=1))  # answered
        factories.ticket(world.other, world.other_master, priority=TicketPriority.NORMAL,
                         created_at=NOON - timedelta(hours=9))  # late
        factories.ticket(world.other, world.other_master, priority=TicketPriority.NORMAL, status=TicketStatus.CLOSED,
                         created_at=NOON - timedelta(hours=9))  # closed
        assert service.late_first_response_count(TARGETS, clock.now()) == 2


def test_the_queue_puts_the_oldest_urgent_first_and_filters(app_ctx, world):
    staff = actor(world.staff_suporte)
    with clock.frozen(NOON):
        old_normal = factories.ticket(world.demo, world.suporte, created_at=NOON - timedelta(days=3))
        new_urgent = factories.ticket(world.demo, world.suporte, priority=TicketPriority.URGENT,
                                      created_at=NOON - timedelta(hours=1))
        old_urgent = factories.ticket(world.other, world.other_master, priority=TicketPriority.URGENT,
                                      created_at=NOON - timedelta(hours=5), assignee_id=world.staff_suporte.id)
        low = factories.ticket(world.demo, world.suporte, priority=TicketPriority.LOW, assignee_id=world.staff_admin.id)
        closed = factories.ticket(world.demo, world.suporte, priority=TicketPriority.URGENT, status=TicketStatus.CLOSED)

    def ids(**filters):
        arguments = {"statuses": service.ACTIVE, "priority": None, "organization": "", "assignee": None, **filters}
        return [t.id for t in service.search_queue(actor=staff, page=1, per_page=50, **arguments)]

    assert ids() == [old_urgent.id, new_urgent.id, old_normal.id, low.id]
    assert ids(statuses=None)[:3] == [old_urgent.id, new_urgent.id, closed.id]
    assert ids(priority=TicketPriority.URGENT) == [old_urgent.id, new_urgent.id]
    assert ids(organization="outra empresa") == [old_urgent.id]
    assert ids(organization=world.other.cnpj[:8]) == [old_urgent.id]
    assert ids(assignee=service.ASSIGNEE_MINE) == [old_urgent.id]
    assert ids(assignee=service.ASSIGNEE_NONE) == [new_urgent.id, old_normal.id]
    assert ids(assignee=world.staff_admin.id) == [low.id]
    with pytest.raises(PermissionDenied):
        service.search_queue(actor=actor(world.staff_comercial), statuses=None, priority=None, organization="",
                             assignee=None, page=1, per_page=50)


def test_file_sizes_read_as_people_read_them(app_ctx):
    assert service.file_size_label(850) == "850 bytes"
    assert service.file_size_label(12 * 1024 + 100) == "12 KB"
    assert service.file_size_label(1536 * 1024) == "1,5 MB"
