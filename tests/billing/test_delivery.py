"""The monthly invoice e-mail (through a real SMTP server, attachments read back) and the dunning reminders.

Recipients: Demo Tecnologia's active Cobrança and Master users and its billing contacts, never Adm or Suporte.
"""

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from portal.billing import delivery, dunning
from portal.billing import jobs as billing_jobs
from portal.billing.delivery import send_invoice
from portal.billing.dunning import send_reminders, step_for
from portal.billing.jobs import send_dunning_reminders
from portal.billing.models import DunningNotice, Invoice, InvoiceStatus, Payment
from portal.extensions import db
from portal.integrations.mailer import SMTPMailer
from portal.notifications.models import DeliveryStatus, EmailDelivery
from portal.shared import clock, documents
from portal.shared.audit import Actor, AuditEvent, AuditTag
from tests import factories

SYSTEM = Actor.system("tests")
CONTACT = "contas.pagar@demo.example.com"


def on(day: date, hour: int = 9) -> datetime:
    """`day` at `hour` in São Paulo (UTC−3)."""
    return datetime(day.year, day.month, day.day, hour + 3, tzinfo=UTC)


@pytest.fixture
def smtp(app_ctx, smtp_sink):
    """Mail goes to a real SMTP server (aiosmtpd) on loopback."""
    original = app_ctx.extensions["mailer"]
    app_ctx.extensions["mailer"] = SMTPMailer("127.0.0.1", smtp_sink.port, starttls=False, timeout=10)
    yield smtp_sink
    app_ctx.extensions["mailer"] = original


@pytest.fixture
def contact(app_ctx, world):
    delivery.add_billing_contact(world.demo, email=CONTACT, name="Contas a pagar", actor=Actor.for_user(world.master))
    return CONTACT


@pytest.fixture
def march_invoice(app_ctx, world):
    """Issued Sunday 01/03/2026, R$ 789,00, due Wednesday 11/03/2026, every document stored."""
    with clock.frozen(on(date(2026, 3, 1))):
        return factories.invoice(world.demo, with_documents=True, billing_date=date(2026, 3, 1),
                                 due_date=date(2026, 3, 11))


def attachments(message) -> dict[str, tuple[str, bytes]]:
    """File name → (content type, bytes) of each attachment."""
    return {part.get_filename(): (part.get_content_type(), part.get_payload(decode=True))
            for part in message.iter_attachments()}


def deliveries(template: str | None = None) -> list[EmailDelivery]:
    statement = select(EmailDelivery).order_by(EmailDelivery.id)
    if template:
        statement = statement.where(EmailDelivery.template == template)
    return list(db.session.scalars(statement))


def plain(message) -> str:
    return message.get_body(("plain",)).get_content()


# ---------------------------------------------------------------- the monthly e-mail

def test_the_invoice_reaches_cobranca_master_and_billing_contacts_with_its_documents(app_ctx, world, smtp, contact,
                                                                                     march_invoice):
    invoice = march_invoice
    with clock.frozen(on(date(2026, 3, 1), 10)):
        assert send_invoice(invoice, actor=SYSTEM) is True
    messages = smtp.wait_for(3)
    assert sorted(m["To"] for m in messages) == sorted([world.master.email, world.cobranca.email, CONTACT])
    assert sorted(rcpt for _sender, rcpts in smtp.envelopes for rcpt in rcpts) == sorted(
        [world.master.email, world.cobranca.email, CONTACT])

    db.session.expire_all()
    invoice = db.session.get(Invoice, invoice.id)
    boleto, note = invoice.current_boleto, invoice.fiscal_document
    stem = f"{invoice.year}-{invoice.number:06d}"
    for message in messages:
        assert message["Subject"] == f"Fatura {invoice.display_number} de Demo Tecnologia: vence em 11/03/2026"
        files = attachments(message)
        assert files == {
            f"fatura-{stem}.pdf": ("application/pdf", documents.load(invoice.pdf_sha256)[0]),
            f"boleto-{stem}.pdf": ("application/pdf", documents.load(boleto.pdf_sha256)[0]),
            f"nfse-{note.number}.pdf": ("application/pdf", documents.load(note.pdf_sha256)[0]),
            f"nfse-{note.number}.xml": ("application/xml", note.xml.encode("utf-8")),
        }
        body = plain(message)
        assert boleto.digitable_line in body and boleto.pix_payload in body
        assert "Valor: R$ 789,00" in body and "Vencimento: 11/03/2026" in body
        assert "Simulação — sem valor fiscal." in body
        assert f"http://portal.test/faturas/{invoice.id}" in body
        assert boleto.digitable_line in message.get_body(("html",)).get_content()
    contact_message = next(m for m in messages if m["To"] == CONTACT)
    assert plain(contact_message).splitlines()[0] == "Olá,"
    assert plain(next(m for m in messages if m["To"] == world.cobranca.email)).splitlines()[0] == "Olá, Cobranca Demo,"

    assert invoice.emailed_at == on(date(2026, 3, 1), 10)
    logged = deliveries("invoice_issued")
    assert len(logged) == 3 and all(d.status == DeliveryStatus.SENT for d in logged)
    assert all(d.organization_id == world.demo.id for d in logged)
    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.tag == AuditTag.INVOICE_EMAILED)).all()
    assert event.subject == f"invoice:{invoice.id}" and event.organization_id == world.demo.id
    assert sorted(event.after["to"]) == sorted([world.master.email, world.cobranca.email, CONTACT])
    assert len(event.after["attachments"]) == 4


def test_it_is_sent_once(app_ctx, smtp, march_invoice):
    assert send_invoice(march_invoice, actor=SYSTEM) is True
    smtp.wait_for(2)
    assert send_invoice(march_invoice, actor=SYSTEM) is True  # e-mailed already: nothing more
    db.session.expire_all()
    assert send_invoice(db.session.get(Invoice, march_invoice.id), actor=SYSTEM) is True
    assert len(smtp.wait_for(3, timeout=0.5)) == 2
    assert len(deliveries("invoice_issued")) == 2
    assert db.session.scalar(select(func.count(AuditEvent.seq)).where(AuditEvent.tag == AuditTag.INVOICE_EMAILED)) == 1


def test_not_sent_while_the_nota_fiscal_is_missing(app_ctx, world, outbox):
    with clock.frozen(on(date(2026, 3, 1))):
        invoice = factories.store_pdfs(factories.invoice(world.demo, billing_date=date(2026, 3, 1),
                                                         due_date=date(2026, 3, 11)))
    assert send_invoice(invoice, actor=SYSTEM) is False
    assert outbox == [] and deliveries() == []
    assert db.session.get(Invoice, invoice.id).emailed_at is None

    factories.add_fiscal_document(invoice)  # the issuer came back; the sweep calls again
    assert send_invoice(invoice, actor=SYSTEM) is True
    assert len(outbox) == 2 and len(attachments(outbox[0])) == 4


def test_not_sent_while_a_pdf_is_missing(app_ctx, world, outbox):
    with clock.frozen(on(date(2026, 3, 1))):
        invoice = factories.invoice(world.demo, billing_date=date(2026, 3, 1), due_date=date(2026, 3, 11))
    factories.add_fiscal_document(invoice)
    assert send_invoice(invoice, actor=SYSTEM) is False  # neither PDF
    invoice.pdf_sha256 = documents.store(b"%PDF-1.4 fatura", "application/pdf")
    db.session.commit()
    assert send_invoice(invoice, actor=SYSTEM) is False  # the boleto's PDF still missing
    assert outbox == [] and db.session.get(Invoice, invoice.id).emailed_at is None
    factories.store_pdfs(invoice)
    assert send_invoice(invoice, actor=SYSTEM) is True and len(outbox) == 2


def test_a_cancelled_invoice_is_not_sent(app_ctx, outbox, march_invoice):
    march_invoice.status = InvoiceStatus.CANCELLED
    db.session.commit()
    assert send_invoice(march_invoice, actor=SYSTEM) is False and outbox == []


def test_only_active_cobranca_and_master_users_plus_contacts(app_ctx, world, outbox, contact, march_invoice):
    factories.MembershipFactory(organization=world.demo, roles=["cobranca"], active=False,
                                user__email="saiu@demo.example.com")
    factories.MembershipFactory(organization=world.demo, roles=["master"], accepted_at=None,
                                user__email="convidado@demo.example.com")
    factories.MembershipFactory(organization=world.demo, roles=["cobranca"], user__active=False,
                                user__email="bloqueado@demo.example.com")
    factories.MembershipFactory(organization=world.demo, roles=["adm", "cobranca"],
                                user__email="adm.cobranca@demo.example.com")
    factories.MembershipFactory(organization=world.other, roles=["cobranca"], user__email="outra@outra.example.com")
    db.session.commit()
    send_invoice(march_invoice, actor=SYSTEM)
    assert sorted(m["To"] for m in outbox) == sorted([world.master.email, world.cobranca.email, CONTACT,
                                                      "adm.cobranca@demo.example.com"])


def test_each_person_reads_it_in_their_language(app_ctx, world, outbox, march_invoice):
    world.cobranca.language = "en"
    db.session.commit()
    send_invoice(march_invoice, actor=SYSTEM)
    english = next(m for m in outbox if m["To"] == world.cobranca.email)
    portuguese = next(m for m in outbox if m["To"] == world.master.email)
    assert plain(english).startswith("Hello Cobranca Demo,")
    assert plain(portuguese).startswith("Olá, Master Demo,")


def test_the_invoice_job_renders_issues_the_note_and_mails_in_one_go(app_ctx, world, outbox):
    """complete_invoice: documents (WeasyPrint) → nota fiscal (simulator) → this e-mail."""
    with clock.frozen(on(date(2026, 3, 1))):
        invoice = factories.invoice(world.demo, billing_date=date(2026, 3, 1), due_date=date(2026, 3, 11))
        assert billing_jobs.complete_invoice.call_local(invoice.id) == "complete"
    db.session.expire_all()
    invoice = db.session.get(Invoice, invoice.id)
    assert invoice.emailed_at is not None and invoice.fiscal_document.simulated
    assert len(outbox) == 2
    files = attachments(outbox[0])
    assert len(files) == 4 and files[f"boleto-{invoice.year}-{invoice.number:06d}.pdf"][1].startswith(b"%PDF")
    assert files[f"nfse-{invoice.fiscal_document.number}.xml"][1].decode("utf-8") == invoice.fiscal_document.xml


# ---------------------------------------------------------------- dunning

@pytest.mark.parametrize(("offset", "step"), [
    (-5, None), (-4, None), (-3, -3), (-2, -3), (-1, -3), (0, None),
    (1, 1), (2, 1), (3, 1), (4, None), (6, None), (7, 7), (8, 7), (9, 7), (10, None), (30, None),
])
def test_which_reminder_a_day_falls_in(offset, step):
    due = date(2026, 3, 11)
    assert step_for((-3, 1, 7), due, due + timedelta(days=offset)) == step


def run_job_each_day(first: date, last: date, outbox) -> dict[date, list[tuple[str, str]]]:
    """Run the daily job from `first` to `last` (09:00 São Paulo); what each day sent: (to, subject)."""
    sent = {}
    day = first
    while day <= last:
        before = len(outbox)
        with clock.frozen(on(day)):
            send_dunning_reminders.call_local()
        db.session.expire_all()
        if len(outbox) > before:
            sent[day] = sorted((m["To"], m["Subject"]) for m in outbox[before:])
        day += timedelta(days=1)
    return sent


def test_reminders_at_minus_3_plus_1_and_plus_7_days_once_each(app_ctx, world, outbox, contact, march_invoice):
    number = march_invoice.display_number
    people = sorted([world.master.email, world.cobranca.email, CONTACT])
    sent = run_job_each_day(date(2026, 3, 1), date(2026, 3, 31), outbox)
    assert sent == {
        date(2026, 3, 8): [(p, f"Lembrete: a fatura {number} vence em 3 dias") for p in people],
        date(2026, 3, 12): [(p, f"A fatura {number} venceu ontem") for p in people],
        date(2026, 3, 18): [(p, f"A fatura {number} está vencida há 7 dias") for p in people],
    }
    assert sorted(db.session.scalars(select(DunningNotice.step))) == [-3, 1, 7]
    # A second run on a reminder's day sends nothing more.
    with clock.frozen(on(date(2026, 3, 12), 18)):
        assert send_reminders(today=clock.today()) == 0


def test_what_each_reminder_says_and_carries(app_ctx, world, outbox, march_invoice):
    boleto = march_invoice.current_boleto
    with clock.frozen(on(date(2026, 3, 8))):
        assert send_reminders(today=clock.today()) == 1
    before = next(m for m in outbox if m["To"] == world.cobranca.email)
    assert attachments(before) == {f"boleto-{march_invoice.year}-{march_invoice.number:06d}.pdf": (
        "application/pdf", documents.load(boleto.pdf_sha256)[0])}
    body = plain(before)
    assert "vence em 3 dias, em 11/03/2026." in body and boleto.digitable_line in body and "R$ 789,00" in body

    outbox.clear()
    with clock.frozen(on(date(2026, 3, 12))):
        assert send_reminders(today=clock.today()) == 1
    after = next(m for m in outbox if m["To"] == world.cobranca.email)
    assert list(attachments(after)) == [f"boleto-{march_invoice.year}-{march_invoice.number:06d}.pdf"]
    body = plain(after)
    assert "venceu ontem, em 11/03/2026, e ainda não identificamos o pagamento." in body
    assert f"http://portal.test/faturas/{march_invoice.id}/segunda-via" in body
    assert "Valor em aberto: R$ 789,00." in body

    outbox.clear()
    with clock.frozen(on(date(2026, 3, 18))):
        assert send_reminders(today=clock.today()) == 1
    body = plain(next(m for m in outbox if m["To"] == world.cobranca.email))
    assert "está vencida há 7 dias, desde 11/03/2026" in body
    assert f"http://portal.test/faturas/{march_invoice.id}/segunda-via" in body
    assert all(d.status == DeliveryStatus.SENT for d in deliveries("dunning_reminder"))


def test_a_missed_day_is_caught_up_while_the_step_lasts(app_ctx, world, outbox, march_invoice):
    number = march_invoice.display_number
    with clock.frozen(on(date(2026, 3, 9))):  # the job did not run on 08/03
        assert send_reminders(today=clock.today()) == 1
    assert {m["Subject"] for m in outbox} == {f"Lembrete: a fatura {number} vence em 2 dias"}
    outbox.clear()
    with clock.frozen(on(date(2026, 3, 21))):  # +7 was due on 18/03 and the job was down until 21/03: too late
        assert send_reminders(today=clock.today()) == 0
    with clock.frozen(on(date(2026, 3, 14))):  # +1 on its third day
        assert send_reminders(today=clock.today()) == 1
    assert {m["Subject"] for m in outbox} == {f"A fatura {number} venceu há 3 dias"}


def test_paid_invoices_get_no_reminders(app_ctx, world, outbox, march_invoice):
    with clock.frozen(on(date(2026, 3, 8))):
        assert send_reminders(today=clock.today()) == 1
    db.session.add(Payment(invoice_id=march_invoice.id, amount_cents=78900, method="pix", paid_on=date(2026, 3, 10),
                           source="manual", created_at=clock.now()))
    march_invoice.status = InvoiceStatus.PAID
    db.session.commit()
    outbox.clear()
    assert run_job_each_day(date(2026, 3, 9), date(2026, 3, 25), outbox) == {}


def test_the_reminder_before_the_due_date_waits_for_the_boleto_pdf(app_ctx, world, outbox):
    with clock.frozen(on(date(2026, 3, 1))):
        invoice = factories.invoice(world.demo, billing_date=date(2026, 3, 1), due_date=date(2026, 3, 11))
    with clock.frozen(on(date(2026, 3, 8))):
        assert send_reminders(today=clock.today()) == 0
    factories.store_pdfs(invoice)
    with clock.frozen(on(date(2026, 3, 9))):
        assert send_reminders(today=clock.today()) == 1
    assert len(outbox) == 2 and all(len(attachments(m)) == 1 for m in outbox)


def test_one_invoices_trouble_does_not_stop_the_others(app_ctx, world, outbox, march_invoice, monkeypatch):
    with clock.frozen(on(date(2026, 3, 1))):
        other = factories.invoice(world.other, with_documents=True, billing_date=date(2026, 3, 1),
                                  due_date=date(2026, 3, 11))
    real = dunning._remind

    def fragile(invoice_id, **kwargs):
        if invoice_id == march_invoice.id:
            raise RuntimeError("template quebrado")
        return real(invoice_id, **kwargs)

    monkeypatch.setattr(dunning, "_remind", fragile)
    with clock.frozen(on(date(2026, 3, 8))):
        assert send_reminders(today=clock.today()) == 1
    assert {m["To"] for m in outbox} == {world.other_master.email}
    assert db.session.scalar(select(func.count(DunningNotice.id)).where(DunningNotice.invoice_id == other.id)) == 1
