"""E-mail: rendered from templates in the recipient's language, logged, sent by a job after the commit, retried."""

import re

import pytest
from sqlalchemy import select

from portal.accounts import service as accounts
from portal.extensions import db
from portal.integrations.mailer import MemoryMailer, SMTPMailer
from portal.notifications import service as notify
from portal.notifications.jobs import send_email
from portal.notifications.models import DeliveryStatus, EmailDelivery
from portal.shared.audit import Actor
from tests.fakes.externals import SMTPSink

RESET_LINK = re.compile(r"http://portal\.test/senha/redefinir/\S+")


def _deliveries():
    return list(db.session.scalars(select(EmailDelivery).order_by(EmailDelivery.id)))


def test_nothing_is_sent_before_the_commit_and_everything_after(app_ctx, world, outbox):
    delivery = notify.password_changed(user=world.cobranca)
    assert outbox == [] and delivery.status == DeliveryStatus.QUEUED
    db.session.commit()
    [message] = outbox
    assert message["To"] == world.cobranca.email
    assert message["Message-ID"] == delivery.message_id
    db.session.refresh(delivery)
    assert delivery.status == DeliveryStatus.SENT and delivery.attempts == 1 and delivery.sent_at is not None


def test_a_rolled_back_action_sends_nothing_and_logs_nothing(app_ctx, world, outbox):
    notify.password_changed(user=world.cobranca)
    db.session.rollback()
    db.session.commit()
    assert outbox == [] and _deliveries() == []


def test_the_log_keeps_what_was_sent(app_ctx, world, outbox):
    notify.password_changed(user=world.master)
    db.session.commit()
    [delivery] = _deliveries()
    assert delivery.template == "password_changed"
    assert delivery.to_address == world.master.email
    assert delivery.subject == outbox[0]["Subject"] == "Sua senha do portal foi alterada"
    assert delivery.body_text.strip() == outbox[0].get_body(("plain",)).get_content().strip()
    assert delivery.body_html and "<html" in delivery.body_html.lower()


def test_each_recipient_reads_its_own_language(app_ctx, world, outbox):
    world.adm.language = "en"
    notify.password_changed(user=world.adm)
    notify.password_changed(user=world.suporte)
    db.session.commit()
    english, portuguese = outbox
    assert english["Subject"] != portuguese["Subject"] == "Sua senha do portal foi alterada"
    assert "senha" not in english["Subject"].lower()


class FlakyMailer(MemoryMailer):
    """Refuses the first `failures` attempts, like an SMTP relay that is briefly down."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    def send(self, email, message_id):
        if self.failures:
            self.failures -= 1
            raise ConnectionRefusedError("relay indisponível")
        super().send(email, message_id)


@pytest.fixture
def flaky_mailer(app_ctx):
    original = app_ctx.extensions["mailer"]
    app_ctx.extensions["mailer"] = FlakyMailer(failures=1)
    yield app_ctx.extensions["mailer"]
    app_ctx.extensions["mailer"] = original


def test_a_failed_send_is_logged_and_a_retry_sends_it_once(app_ctx, world, flaky_mailer):
    delivery = notify.password_changed(user=world.suporte)
    db.session.commit()  # the inline job fails; Huey schedules the retry
    db.session.refresh(delivery)
    assert delivery.status == DeliveryStatus.FAILED and delivery.attempts == 1
    assert "relay indisponível" in delivery.last_error
    assert flaky_mailer.outbox == []

    assert send_email.call_local(delivery.id) == "sent"  # what the retry runs
    db.session.refresh(delivery)
    assert delivery.status == DeliveryStatus.SENT and delivery.attempts == 2 and delivery.last_error is None
    assert send_email.call_local(delivery.id) == "already sent"  # a duplicated job sends nothing twice
    assert len(flaky_mailer.outbox) == 1


def test_password_reset_mail_through_a_real_smtp_server(app_ctx, world):
    sink = SMTPSink().start()
    original = app_ctx.extensions["mailer"]
    app_ctx.extensions["mailer"] = SMTPMailer("127.0.0.1", sink.port, starttls=False, timeout=10)
    try:
        with app_ctx.test_request_context():
            accounts.request_password_reset(world.cobranca.email.upper(), actor=Actor.anonymous(ip="127.0.0.1"))
        [message] = sink.wait_for(1)
    finally:
        app_ctx.extensions["mailer"] = original
        sink.stop()
    assert message["To"] == world.cobranca.email
    assert RESET_LINK.search(message.get_body(("plain",)).get_content())
    assert RESET_LINK.search(message.get_body(("html",)).get_content())
    [delivery] = _deliveries()
    assert delivery.status == DeliveryStatus.SENT
