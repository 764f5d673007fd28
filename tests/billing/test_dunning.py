"""The régua de cobrança (issue 15, point 8): finance's schedule of reminders, what each carries (through a real
SMTP server, the boleto PDF read back), a payment stopping the rest, exactly one reminder per (invoice, step)
whatever the number of consumers, and the Master's choice of who receives them."""

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select

from portal.billing import delivery, documents, dunning, payments
from portal.billing.jobs import send_dunning_reminders
from portal.billing.models import DunningNotice, DunningStep, Invoice, InvoiceStatus
from portal.billing.settings import BillingSettings
from portal.extensions import db
from portal.integrations.mailer import SMTPMailer
from portal.notifications.models import EmailDelivery
from portal.shared import clock
from portal.shared.audit import Actor, AuditEvent, AuditTag
from portal.shared.errors import ServiceError
from tests import factories
from tests.fakes import pdf
from tests.fakes.concurrency import concurrently

SYSTEM = Actor.system("tests")
DUE = date(2026, 3, 11)
SCHEDULE = (-5, -1, 0, 3, 10)


def on(day: date, hour: int = 9) -> datetime:
    """`day` at `hour` in São Paulo (UTC−3)."""
    return datetime(day.year, day.month, day.day, hour + 3, tzinfo=UTC)


@pytest.fixture
def finance(world):
    return Actor.for_user(world.staff_financeiro)


@pytest.fixture
def schedule(app_ctx, finance):
    """Finance's régua: D−5, D−1, D0, D+3, D+10 (instead of the default D−3, D+1, D+7)."""
    for step in dunning.steps():
        dunning.remove_step(step.id, actor=finance)
    for offset in SCHEDULE:
        dunning.add_step(offset_days=offset, subject=f"Etapa {offset}: fatura {{fatura}} vence {{prazo}}",
                         message=f"Mensagem da etapa {offset}.\nValor: {{valor}}, vencimento {{vencimento}}.",
                         actor=finance)


@pytest.fixture
def march_invoice(app_ctx, world):
    with clock.frozen(on(date(2026, 3, 1))):
        return factories.invoice(world.demo, with_documents=True, billing_date=date(2026, 3, 1), due_date=DUE)


def run_job_each_day(first: date, last: date, outbox) -> dict[int, list[str]]:
    """Run the daily job from `first` to `last`; day (relative to DUE) → subjects sent that day."""
    sent = {}
    day = first
    while day <= last:
        before = len(outbox)
        with clock.frozen(on(day)):
            send_dunning_reminders.call_local()
        db.session.expire_all()
        if len(outbox) > before:
            sent[(day - DUE).days] = sorted({m["Subject"] for m in outbox[before:]})
        day += timedelta(days=1)
    return sent


# ---------------------------------------------------------------- the window of each step

@pytest.mark.parametrize(("offset", "step"), [
    (-8, None), (-6, None), (-5, -5), (-4, -5), (-3, -5), (-2, None), (-1, -1), (0, 0), (1, 0), (2, 0),
    (3, 3), (4, 3), (5, 3), (6, None), (9, None), (10, 10), (12, 10), (13, None),
])
def test_any_schedule_each_step_lasts_until_the_next_or_two_more_days(offset, step):
    assert dunning.step_for(SCHEDULE, DUE, DUE + timedelta(days=offset)) == step


@pytest.mark.parametrize(("offsets", "offset", "step"), [
    ((-10,), -8, -10), ((-10,), -7, None),  # two days of catch-up, then nothing
    ((-2,), -1, -2), ((-2,), 0, None),  # a reminder before the due date never lasts to the due date
    ((-1,), 0, None), ((5, 1), 2, 1), ((5, 1), 4, None), ((5, 1), 5, 5),  # the order of the list is no matter
    ((), 0, None), ((1, 2), 2, 2), ((1, 2), 1, 1),
])
def test_the_window_of_odd_schedules(offsets, offset, step):
    assert dunning.step_for(offsets, DUE, DUE + timedelta(days=offset)) == step


# ---------------------------------------------------------------- the job follows the schedule

def test_the_default_schedule_is_todays_three_reminders(app_ctx):
    assert [(s.offset_days, s.active) for s in dunning.steps()] == [(-3, True), (1, True), (7, True)]


def test_reminders_follow_finances_schedule_once_each(app_ctx, world, outbox, schedule, march_invoice):
    number = march_invoice.display_number
    sent = run_job_each_day(DUE - timedelta(days=10), DUE + timedelta(days=20), outbox)
    assert sent == {
        -5: [f"Etapa -5: fatura {number} vence em 5 dias"],
        -1: [f"Etapa -1: fatura {number} vence em 1 dia"],
        0: [f"Etapa 0: fatura {number} vence hoje"],
        3: [f"Etapa 3: fatura {number} vence há 3 dias"],
        10: [f"Etapa 10: fatura {number} vence há 10 dias"],
    }
    assert sorted(db.session.scalars(select(DunningNotice.step))) == list(SCHEDULE)
    assert len(outbox) == 2 * len(SCHEDULE)  # Master and Cobrança, once per step


def test_a_deactivated_or_removed_step_is_not_sent(app_ctx, world, outbox, schedule, finance, march_invoice):
    steps = {s.offset_days: s for s in dunning.steps()}
    dunning.set_active(steps[-1].id, False, actor=finance)
    dunning.remove_step(steps[3].id, actor=finance)
    sent = run_job_each_day(DUE - timedelta(days=6), DUE + timedelta(days=12), outbox)
    assert sorted(sent) == [-5, 0, 10]


def test_what_a_reminder_carries(app_ctx, world, smtp_sink, schedule):
    with clock.frozen(on(date(2026, 3, 1))):  # the boleto PDF as the documents job renders it (WeasyPrint)
        march_invoice = factories.invoice(world.demo, billing_date=date(2026, 3, 1), due_date=DUE)
        documents.ensure_invoice_documents(march_invoice, settings=BillingSettings.from_config(app_ctx.config),
                                           actor=SYSTEM)
    original = app_ctx.extensions["mailer"]
    app_ctx.extensions["mailer"] = SMTPMailer("127.0.0.1", smtp_sink.port, starttls=False, timeout=10)
    try:
        with clock.frozen(on(DUE + timedelta(days=3))):
            assert dunning.send_reminders(today=clock.today()) == 1
    finally:
        app_ctx.extensions["mailer"] = original
    boleto = march_invoice.current_boleto
    message = next(m for m in smtp_sink.wait_for(2) if m["To"] == world.cobranca.email)
    body = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert body.splitlines()[0] == "Olá, Cobranca Demo,"
    assert "Mensagem da etapa 3.\nValor: R$ 789,00, vencimento 11/03/2026." in body
    digits = "".join(ch for ch in boleto.digitable_line if ch.isdigit())
    assert len(digits) == 47 and boleto.digitable_line in body
    assert boleto.pix_payload.startswith("000201") and boleto.pix_payload in body
    assert f"http://portal.test/faturas/{march_invoice.id}/segunda-via" in body  # overdue: the 2ª via
    assert f"http://portal.test/faturas/{march_invoice.id}" in body
    html = message.get_body(("html",)).get_content()
    assert boleto.digitable_line in html and boleto.pix_payload in html
    files = {part.get_filename(): part.get_payload(decode=True) for part in message.iter_attachments()}
    name = f"boleto-{march_invoice.year}-{march_invoice.number:06d}.pdf"
    assert list(files) == [name]
    text = pdf.pdf_text(files[name])
    assert "R$ 789,00" in text and "11/03/2026" in text


def test_a_payment_stops_the_rest_at_once(app_ctx, world, outbox, schedule, finance, march_invoice):
    assert run_job_each_day(DUE - timedelta(days=5), DUE - timedelta(days=5), outbox) == {
        -5: [f"Etapa -5: fatura {march_invoice.display_number} vence em 5 dias"]}
    with clock.frozen(on(DUE - timedelta(days=2))):
        payments.record_payment(march_invoice, amount_cents=march_invoice.total_cents, method="pix",
                                paid_on=clock.today(), actor=finance)
    assert db.session.get(Invoice, march_invoice.id).status == InvoiceStatus.PAID
    outbox.clear()
    assert run_job_each_day(DUE - timedelta(days=2), DUE + timedelta(days=15), outbox) == {}


def test_a_partly_paid_invoice_is_reminded_of_its_balance(app_ctx, world, outbox, schedule, finance, march_invoice):
    with clock.frozen(on(DUE - timedelta(days=2))):
        payments.record_payment(march_invoice, amount_cents=28_900, method="pix", paid_on=clock.today(),
                                actor=finance)
    outbox.clear()  # the "pagamento recebido" e-mail
    with clock.frozen(on(DUE)):
        assert dunning.send_reminders(today=clock.today()) == 1
    body = outbox[0].get_body(("plain",)).get_content()
    assert "Valor: R$ 500,00" in body


def test_the_open_check_is_made_under_the_lock_at_sending_time(app_ctx, world, outbox, schedule, march_invoice,
                                                              monkeypatch):
    """A payment committed between the job's list of candidates and the sending: nothing goes."""
    real = dunning._remind

    def paid_meanwhile(invoice_id, **kwargs):
        db.session.execute(Invoice.__table__.update().where(Invoice.id == invoice_id)
                           .values(status=InvoiceStatus.PAID))
        db.session.commit()
        return real(invoice_id, **kwargs)

    monkeypatch.setattr(dunning, "_remind", paid_meanwhile)
    with clock.frozen(on(DUE)):
        assert dunning.send_reminders(today=clock.today()) == 0
    assert outbox == [] and db.session.scalar(select(func.count(DunningNotice.id))) == 0


# ---------------------------------------------------------------- one reminder, however many consumers

def test_concurrent_consumers_send_each_reminder_once(make_app, engine_name):
    app = make_app(engine_name)
    with app.app_context():
        organization = factories.OrganizationFactory()
        factories.MembershipFactory(organization=organization, roles=["master"])
        factories.MembershipFactory(organization=organization, roles=["cobranca"])
        db.session.commit()
        with clock.frozen(on(date(2026, 3, 1))):
            invoices = [factories.invoice(organization, with_documents=True, billing_date=date(2026, 3, day),
                                          due_date=DUE).id for day in (1, 2, 3)]
        db.session.remove()

    def send(_index):
        with app.app_context():
            try:
                return dunning.send_reminders(today=DUE - timedelta(days=3))
            finally:
                db.session.remove()

    with clock.frozen(on(DUE - timedelta(days=3))):
        results, errors = concurrently(6, send)
    assert errors == []
    assert sum(results) == 3  # each invoice reminded by exactly one consumer
    with app.app_context():
        notices = db.session.execute(select(DunningNotice.invoice_id, DunningNotice.step)).all()
        assert sorted(notices) == [(i, -3) for i in sorted(invoices)]
        mails = db.session.execute(select(EmailDelivery.to_address, func.count())
                                   .where(EmailDelivery.template == "dunning_reminder")
                                   .group_by(EmailDelivery.to_address)).all()
        assert len(mails) == 2 and all(count == 3 for _to, count in mails)  # 2 people × 3 invoices, once each
        db.session.execute(delete(DunningNotice))
        db.session.commit()
        db.session.remove()


# ---------------------------------------------------------------- who receives them

def test_by_default_master_cobranca_and_billing_contacts(app_ctx, world):
    delivery.add_billing_contact(world.demo, email="contas@demo.example.com", name="",
                                 actor=Actor.for_user(world.master))
    assert sorted(r.email for r in dunning.reminder_recipients(world.demo.id)) == sorted(
        [world.master.email, world.cobranca.email, "contas@demo.example.com"])


def test_the_master_chooses_who_receives_them(app_ctx, world, outbox, march_invoice):
    master = Actor.for_user(world.master)
    dunning.set_reminder_recipients(world.demo, [world.adm_membership.id, world.master_membership.id], actor=master)
    assert sorted(r.email for r in dunning.reminder_recipients(world.demo.id)) == sorted(
        [world.adm.email, world.master.email])
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.tag == AuditTag.DUNNING_RECIPIENTS_CHANGED))
    assert event.organization_id == world.demo.id
    assert event.before == {"to": sorted([world.master.email, world.cobranca.email])}
    assert event.after == {"to": sorted([world.adm.email, world.master.email])}
    with clock.frozen(on(DUE - timedelta(days=3))):
        assert dunning.send_reminders(today=clock.today()) == 1
    assert sorted(m["To"] for m in outbox) == sorted([world.adm.email, world.master.email])


def test_only_the_organizations_users(app_ctx, world):
    with pytest.raises(ServiceError):
        dunning.set_reminder_recipients(world.demo, [world.other_master_membership.id],
                                        actor=Actor.for_user(world.master))
    assert [s for s in dunning.seats(world.demo.id) if s.receives] == [
        s for s in dunning.seats(world.demo.id) if s.default]


# ---------------------------------------------------------------- the schedule's rules

@pytest.mark.parametrize(("values", "field"), [
    ({"offset_days": 91}, "offset_days"),
    ({"offset_days": -61}, "offset_days"),
    ({"offset_days": None}, "offset_days"),
    ({"offset_days": -3}, "offset_days"),  # the default D−3 exists
    ({"subject": "   "}, "subject"),
    ({"subject": "x" * 151}, "subject"),
    ({"message": ""}, "message"),
    ({"message": "x" * 2001}, "message"),
    ({"message": "Olá {cliente}"}, "message"),
])
def test_bad_steps_are_refused(app_ctx, finance, values, field):
    good = {"offset_days": -5, "subject": "Lembrete", "message": "Sua fatura {fatura} vence {prazo}."}
    with pytest.raises(ServiceError) as refused:
        dunning.add_step(**{**good, **values}, actor=finance)
    assert field in refused.value.errors
    assert [s.offset_days for s in dunning.steps()] == [-3, 1, 7]


def test_each_change_is_audited_with_before_and_after(app_ctx, finance):
    step = dunning.add_step(offset_days=-5, subject="Lembrete", message="Vence {prazo}.", actor=finance)
    dunning.update_step(step.id, offset_days=-6, subject="Lembrete", message="Vence {prazo}.", active=True,
                        actor=finance)
    dunning.remove_step(step.id, actor=finance)
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.tag == AuditTag.DUNNING_SCHEDULE_CHANGED)
                                .order_by(AuditEvent.seq)).all()
    assert [(e.before and e.before["offset_days"], e.after and e.after["offset_days"]) for e in events] == [
        (None, -5), (-5, -6), (-6, None)]
    assert all(e.organization_id is None for e in events)


def test_preview_of_a_step(app_ctx):
    step = db.session.scalar(select(DunningStep).where(DunningStep.offset_days == 1))
    with clock.frozen(on(DUE)):
        shown = dunning.preview(step, today=clock.today())
    assert shown.subject == f"A fatura {DUE.year}-000123 venceu ontem"
    assert "Empresa Exemplo Ltda venceu ontem" in shown.text and "R$ 1.234,56" in shown.text
    assert "Pix copia e cola" in shown.text and "2ª via" in shown.text
