"""One function per message. Each renders its templates in the recipient's language and queues it.

Templates: templates/emails/<name>.txt (required) and <name>.html (optional), with `subject` set
by the function. Sending happens in `jobs.send_email` after the caller's transaction commits.
"""

from collections.abc import Sequence
from email.utils import make_msgid

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select

from portal.extensions import db
from portal.jobs import enqueue_after_commit
from portal.notifications.models import EmailDelivery


def _language(user) -> str:
    return (user.language if user is not None and user.language else None) or current_app.config[
        "BABEL_DEFAULT_LOCALE"
    ]


def queue_email(template: str, *, to: list[str], subject_fn, context: dict, language: str,
                organization_id: int | None = None,
                attachments: Sequence[tuple[str, str, str]] = ()) -> EmailDelivery:
    """Render `template` in `language`, log it as queued, and send it once the transaction commits.

    `attachments`: (file name, SHA-256 of a stored document, content type) each; the job reads the bytes
    from storage when it sends, so the log keeps references, not copies.
    """
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
    if attachments:
        delivery.attachments = [list(attachment) for attachment in attachments]
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


def _order_recipients(organization_id: int, requester) -> list:
    """The person who asked and the organization's active Masters, once each."""
    from portal.accounts.models import Membership, MembershipRole, User
    from portal.accounts.roles import Role

    masters = db.session.scalars(
        select(User).join(Membership, Membership.user_id == User.id).join(MembershipRole)
        .where(Membership.organization_id == organization_id, Membership.active.is_(True),
               Membership.accepted_at.is_not(None), User.active.is_(True), MembershipRole.role == Role.MASTER)
    ).all()
    people = ([requester] if requester is not None else []) + list(masters)
    seen, unique = set(), []
    for person in people:
        if person.id not in seen:
            seen.add(person.id)
            unique.append(person)
    return unique


def _portal_url(path: str) -> str:
    return current_app.config["BASE_URL"].rstrip("/") + path


def order_received(*, orders: list, requester) -> list[EmailDelivery]:
    """"Recebemos seu pedido": what was asked, and that it reaches the provider within 30 minutes."""
    if not orders:
        return []
    organization_id = orders[0].organization_id
    deliveries = []
    for person in _order_recipients(organization_id, requester):
        deliveries.append(queue_email(
            "order_received",
            to=[person.email],
            subject_fn=lambda: _("Recebemos seu pedido de licenças"),
            context={"orders": orders, "person": person, "requester": requester,
                     "url": _portal_url("/licencas")},
            language=_language(person),
            organization_id=organization_id,
        ))
    return deliveries


def order_finished(*, order) -> list[EmailDelivery]:
    """The order was carried out ("concluído") or could not be ("falhou": staff is already on it)."""
    from portal.accounts.models import User
    from portal.subscriptions.models import OrderStatus

    requester = db.session.get(User, order.requested_by_id) if order.requested_by_id else None
    done = order.status == OrderStatus.DONE
    deliveries = []
    for person in _order_recipients(order.organization_id, requester):
        deliveries.append(queue_email(
            "order_finished",
            to=[person.email],
            subject_fn=(lambda: _("Pedido de licenças concluído")) if done else (
                lambda: _("Não conseguimos concluir seu pedido de licenças")),
            context={"order": order, "person": person, "done": done,
                     "url": _portal_url(f"/pedidos/{order.id}")},
            language=_language(person),
            organization_id=order.organization_id,
        ))
    return deliveries
