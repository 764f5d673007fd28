"""The Mailer contract, checked on every adapter: what goes in is what a recipient reads back.

The SMTP adapter talks to a real SMTP server (aiosmtpd on loopback), in clear and with STARTTLS + AUTH.
"""

import smtplib
import ssl
from email import message_from_bytes, policy

import pytest

from portal.integrations.mailer import (
    Attachment,
    FileOutboxMailer,
    MemoryMailer,
    OutgoingEmail,
    SMTPMailer,
    from_config,
)
from tests.fakes.externals import SelfSignedCertificate, SMTPSink, free_port

PDF = b"%PDF-1.7\n% fatura de teste\n%%EOF\n"

EMAIL = OutgoingEmail(
    to=("cobranca@cliente.example.com", "financeiro@cliente.example.com"),
    subject="Fatura de novembro — São Paulo",
    text="Olá! Sua fatura de R$ 1.234,56 está disponível.",
    html="<p>Olá! Sua fatura de <strong>R$ 1.234,56</strong> está disponível.</p>",
    sender="Portal Cloud <nao-responda@portal.example.com>",
    reply_to="financeiro@portal.example.com",
    attachments=(Attachment("fatura-2026-11.pdf", PDF, "application/pdf"),),
)


@pytest.fixture(scope="module")
def certificate():
    cert = SelfSignedCertificate()
    yield cert
    cert.remove()


class Memory:
    def __init__(self, _tmp_path, _certificate):
        self.mailer = MemoryMailer()

    def read_back(self):
        return message_from_bytes(bytes(self.mailer.outbox[-1]), policy=policy.default)

    def close(self):
        pass


class FileOutbox:
    def __init__(self, tmp_path, _certificate):
        self.directory = tmp_path / "outbox"
        self.mailer = FileOutboxMailer(self.directory)

    def read_back(self):
        [path] = sorted(self.directory.glob("*.eml"))
        return message_from_bytes(path.read_bytes(), policy=policy.default)

    def close(self):
        pass


class PlainSMTP:
    def __init__(self, _tmp_path, _certificate):
        self.sink = SMTPSink().start()
        self.mailer = SMTPMailer("127.0.0.1", self.sink.port, starttls=False, timeout=10)

    def read_back(self):
        return self.sink.wait_for(1)[-1]

    def close(self):
        self.sink.stop()


class StartTLSWithLogin:
    def __init__(self, _tmp_path, certificate):
        self.sink = SMTPSink(require_auth=True, tls=certificate).start()
        self.mailer = from_config({
            "MAIL_BACKEND": "smtp", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": self.sink.port,
            "SMTP_USERNAME": "portal", "SMTP_PASSWORD": "secret", "SMTP_STARTTLS": True, "SMTP_SSL": False,
            "SMTP_TIMEOUT": 10, "SMTP_CA_FILE": str(certificate.cert),
        })

    def read_back(self):
        message = self.sink.wait_for(1)[-1]
        assert self.sink.logins == [(b"portal", b"secret")]
        return message

    def close(self):
        self.sink.stop()


@pytest.fixture(params=[Memory, FileOutbox, PlainSMTP, StartTLSWithLogin])
def adapter(request, tmp_path, certificate):
    made = request.param(tmp_path, certificate)
    yield made
    made.close()


def test_every_adapter_delivers_the_whole_message(adapter):
    adapter.mailer.send(EMAIL, "<fatura-123@portal.local>")
    received = adapter.read_back()
    assert received["Subject"] == EMAIL.subject
    assert received["To"] == "cobranca@cliente.example.com, financeiro@cliente.example.com"
    assert received["From"] == EMAIL.sender
    assert received["Reply-To"] == EMAIL.reply_to
    assert received["Message-ID"] == "<fatura-123@portal.local>"
    assert received.get_body(("plain",)).get_content().strip() == EMAIL.text
    assert "<strong>R$ 1.234,56</strong>" in received.get_body(("html",)).get_content()
    [attachment] = list(received.iter_attachments())
    assert attachment.get_filename() == "fatura-2026-11.pdf"
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_content() == PDF


def test_smtp_envelope_has_every_recipient():
    sink = SMTPSink().start()
    try:
        SMTPMailer("127.0.0.1", sink.port, starttls=False).send(EMAIL, "<x@portal.local>")
        sink.wait_for(1)
        [(sender, recipients)] = sink.envelopes
        assert sender == "nao-responda@portal.example.com"
        assert recipients == list(EMAIL.to)
    finally:
        sink.stop()


def test_smtp_wrong_password_raises_so_the_job_retries(certificate):
    sink = SMTPSink(require_auth=True, tls=certificate).start()
    try:
        mailer = SMTPMailer("127.0.0.1", sink.port, "portal", "errada", starttls=True,
                            tls_context=certificate.client_context(), timeout=10)
        with pytest.raises(smtplib.SMTPAuthenticationError):
            mailer.send(EMAIL, "<x@portal.local>")
        assert sink.messages == []
    finally:
        sink.stop()


def test_smtp_refuses_an_untrusted_certificate(certificate):
    sink = SMTPSink(require_auth=True, tls=certificate).start()
    try:
        mailer = SMTPMailer("127.0.0.1", sink.port, "portal", "secret", starttls=True,
                            tls_context=ssl.create_default_context(), timeout=10)
        with pytest.raises(ssl.SSLError):
            mailer.send(EMAIL, "<x@portal.local>")
        assert sink.logins == [] and sink.messages == []  # nothing, not even the password, went in clear
    finally:
        sink.stop()


def test_smtp_server_down_raises():
    with pytest.raises(OSError):
        SMTPMailer("127.0.0.1", free_port(), starttls=False, timeout=5).send(EMAIL, "<x@portal.local>")


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(RuntimeError, match="MAIL_BACKEND must be"):
        from_config({"MAIL_BACKEND": "pombo-correio"})
