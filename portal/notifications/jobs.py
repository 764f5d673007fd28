"""The job that hands a queued e-mail to the configured Mailer and records the outcome."""

from dataclasses import replace

from flask import current_app
from sqlalchemy import select

from portal.extensions import db
from portal.integrations.mailer import Attachment, OutgoingEmail
from portal.jobs import task
from portal.notifications.models import DeliveryStatus, EmailDelivery
from portal.shared import clock, documents


def _attachments(delivery: EmailDelivery) -> tuple[Attachment, ...]:
    """The stored documents the message carries, read now (a missing one raises: the job retries)."""
    references = delivery.attachments
    if not references:
        return ()

    found = []
    for filename, sha256, content_type in references:
        content, _stored_type = documents.load(sha256)
        found.append(Attachment(filename=filename, content=content, mimetype=content_type))
    return tuple(found)


@task(retries=5, retry_delay=60)
def send_email(delivery_id: int) -> str:
    delivery = db.session.execute(
        select(EmailDelivery).where(EmailDelivery.id == delivery_id).with_for_update()
    ).scalar_one_or_none()
    if delivery is None:
        return "missing"
    if delivery.status == DeliveryStatus.SENT:  # a retried or duplicated job sends nothing twice
        return "already sent"
    email = OutgoingEmail(
        to=tuple(a.strip() for a in delivery.to_address.split(",")),
        subject=delivery.subject,
        text=delivery.body_text,
        html=delivery.body_html,
        sender=current_app.config["MAIL_FROM"],
    )
    delivery.attempts += 1
    try:
        email = replace(email, attachments=_attachments(delivery))  # a document that cannot be read fails the try
        current_app.extensions["mailer"].send(email, delivery.message_id)
    except Exception as exc:
        delivery.status = DeliveryStatus.FAILED
        delivery.last_error = f"{type(exc).__name__}: {exc}"[:1000]
        db.session.commit()
        raise
    delivery.status = DeliveryStatus.SENT
    delivery.sent_at = clock.now()
    delivery.last_error = None
    db.session.commit()
    return "sent"
