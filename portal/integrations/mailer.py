"""Sending e-mail: the Mailer Protocol, an SMTP adapter, a file outbox (default) and an in-memory fake."""

import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Protocol

from portal.shared import clock


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    mimetype: str = "application/octet-stream"


@dataclass(frozen=True)
class OutgoingEmail:
    to: tuple[str, ...]
    subject: str
    text: str
    html: str | None = None
    sender: str = ""
    reply_to: str | None = None
    attachments: tuple[Attachment, ...] = field(default_factory=tuple)

    def to_message(self, message_id: str | None = None) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.to)
        msg["Subject"] = self.subject
        msg["Date"] = clock.now()
        msg["Message-ID"] = message_id or make_msgid(domain="portal.local")
        if self.reply_to:
            msg["Reply-To"] = self.reply_to
        msg.set_content(self.text)
        if self.html:
            msg.add_alternative(self.html, subtype="html")
        for attachment in self.attachments:
            maintype, _, subtype = attachment.mimetype.partition("/")
            msg.add_attachment(
                attachment.content, maintype=maintype, subtype=subtype or "octet-stream",
                filename=attachment.filename,
            )
        return msg


class Mailer(Protocol):
    def send(self, email: OutgoingEmail, message_id: str) -> None:
        """Deliver or raise; raising makes the job retry."""


class SMTPMailer:
    """A real SMTP server: STARTTLS (port 587) or implicit TLS (465), optional login."""

    def __init__(self, host: str, port: int, username: str = "", password: str = "",
                 starttls: bool = True, use_ssl: bool = False, timeout: int = 30,
                 tls_context: ssl.SSLContext | None = None) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.username, self.password = username, password
        self.starttls, self.use_ssl = starttls, use_ssl
        self.tls_context = tls_context or ssl.create_default_context()

    def send(self, email: OutgoingEmail, message_id: str) -> None:
        message = email.to_message(message_id)
        if self.use_ssl:
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=self.tls_context
            )
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with client:
            client.ehlo()
            if self.starttls and not self.use_ssl:
                client.starttls(context=self.tls_context)
                client.ehlo()
            if self.username:
                client.login(self.username, self.password)
            client.send_message(message)


class FileOutboxMailer:
    """Development default: each message is written as an .eml file to a directory."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def send(self, email: OutgoingEmail, message_id: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        stamp = clock.now().strftime("%Y%m%dT%H%M%S%f")
        safe_id = "".join(c for c in message_id if c.isalnum())[:40]
        path = self.directory / f"{stamp}-{safe_id}.eml"
        path.write_bytes(bytes(email.to_message(message_id)))


class MemoryMailer:
    """Fake for tests: keeps the messages in a list."""

    def __init__(self) -> None:
        self.outbox: list[EmailMessage] = []

    def send(self, email: OutgoingEmail, message_id: str) -> None:
        self.outbox.append(email.to_message(message_id))


def from_config(config: dict) -> Mailer:
    backend = config["MAIL_BACKEND"]
    if backend == "smtp":
        # SMTP_CA_FILE: trust a private CA (an internal relay) instead of the system's store.
        tls_context = ssl.create_default_context(cafile=config.get("SMTP_CA_FILE") or None)
        return SMTPMailer(
            config["SMTP_HOST"], config["SMTP_PORT"], config["SMTP_USERNAME"], config["SMTP_PASSWORD"],
            starttls=config["SMTP_STARTTLS"], use_ssl=config["SMTP_SSL"], timeout=config["SMTP_TIMEOUT"],
            tls_context=tls_context,
        )
    if backend == "file":
        return FileOutboxMailer(config["MAIL_OUTBOX_DIR"])
    if backend == "memory":
        return MemoryMailer()
    raise RuntimeError(f"MAIL_BACKEND must be smtp, file or memory, not {backend!r}")
