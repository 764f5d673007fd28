"""One function per message. Each renders its templates in the recipient's language and queues it.

Templates: templates/emails/<name>.txt (required) and <name>.html (optional), with `subject` set
by the function. Sending happens in `jobs.send_email` after the caller's transaction commits.
"""

from email.utils import make_msgid

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _

from portal.extensions import db
from portal.jobs import enqueue_after_commit
from portal.notifications.models import EmailDelivery


def _language(user) -> str:
    return (user.language if user is not None and user.language else None) or current_app.config[
        "BABEL_DEFAULT_LOCALE"
    ]


def queue_email(template: str, *, to: list[str], subject_fn, context: dict, language: str,
                organization_id: int | None = None) -> EmailDelivery:
    """Render `template` in `language`, log it as queued, and send it once the transaction commits."""
    from portal.notifications.jobs import send_email

    with force_locale(language):
        subject = str(subject_fn())
        context = {**context, "subject": subject}
        text = render_template(f"emails/{template}.txt", **context)
        html = render_template(f"emails/{template}.html", **context)
    delivery = EmailDelivery(
        template=template,
        to_address=", ".join(to),
        subject=subject,
        body_text=text,
        body_html=html,
        organization_id=organization_id,
        message_id=make_msgid(domain="portal.local"),
    )
    db.session.add(delivery)
    db.session.flush()
    enqueue_after_commit(db.session, send_email, delivery.id)
    return delivery


def invitation(*, invitation, url: str) -> EmailDelivery:
    membership = invitation.membership
    return queue_email(
        "invitation",
        to=[membership.user.email],
        subject_fn=lambda: _("Convite para o portal de %(org)s", org=membership.organization.display_name),
        context={"invitation": invitation, "membership": membership, "url": url},
        language=_language(membership.user),
        organization_id=membership.organization_id,
    )


def password_reset(*, user, url: str, max_age_minutes: int) -> EmailDelivery:
    return queue_email(
        "password_reset",
        to=[user.email],
        subject_fn=lambda: _("Redefinição de senha do portal"),
        context={"user": user, "url": url, "max_age_minutes": max_age_minutes},
        language=_language(user),
    )


def password_changed(*, user) -> EmailDelivery:
    return queue_email(
        "password_changed",
        to=[user.email],
        subject_fn=lambda: _("Sua senha do portal foi alterada"),
        context={"user": user},
        language=_language(user),
    )
