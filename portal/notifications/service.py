"""One function per message. Each renders its templates in the recipient's language and queues it.

Templates: templates/emails/<name>.txt (required) and <name>.html (optional), with `subject` set
by the function. Sending happens in `jobs.send_email` after the caller's transaction commits.
"""

from collections.abc import Sequence
from email.utils import make_msgid

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from jinja2 import TemplateNotFound
from sqlalchemy import select

from portal import jobs
from portal.accounts.models import Membership, MembershipRole, Organization, StaffRoleGrant, User
from portal.accounts.roles import ROLE_LABELS, Role, StaffRole
from portal.extensions import db
from portal.notifications.models import EmailDelivery
from portal.shared.links import absolute_url
from portal.subscriptions.failures import Audience, cause_of
from portal.subscriptions.models import OrderStatus, Subscription
from portal.support.models import TICKET_CATEGORY_LABELS, TICKET_PRIORITY_LABELS, TICKET_STATUS_LABELS, MessageKind


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

    with force_locale(language):
        subject = str(subject_fn())
        context = {**context, "subject": subject}
        text = render_template(f"emails/{template}.txt", **context)
        try:
            html = render_template(f"emails/{template}.html", **context)
        except TemplateNotFound:  # the HTML part is optional: text-only messages are fine
            html = None
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
    jobs.enqueue("notifications.send_email", delivery.id)
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
    """The person who asked and the organization's active Masters, once each: customer people only.

    The requester counts only as an active member of the organization: a staff user who acted for the customer
    (an onboarding approval, a staff purchase) is not a customer and never gets a customer's message.
    """

    masters = db.session.scalars(
        select(User).join(Membership, Membership.user_id == User.id).join(MembershipRole)
        .where(Membership.organization_id == organization_id, Membership.active.is_(True),
               Membership.accepted_at.is_not(None), User.active.is_(True), MembershipRole.role == Role.MASTER)
    ).all()
    member = requester is not None and not requester.is_staff and db.session.scalar(
        select(Membership.id).join(User, Membership.user_id == User.id)
        .where(Membership.organization_id == organization_id, Membership.user_id == requester.id,
               Membership.active.is_(True), Membership.accepted_at.is_not(None), User.active.is_(True))
    ) is not None
    people = ([requester] if member else []) + list(masters)
    seen, unique = set(), []
    for person in people:
        if person.id not in seen:
            seen.add(person.id)
            unique.append(person)
    return unique


def _staff_with_role(role) -> list:
    """Active staff users holding staff role `role`."""

    return list(db.session.scalars(
        select(User).join(StaffRoleGrant, StaffRoleGrant.user_id == User.id)
        .where(User.is_staff.is_(True), User.active.is_(True), StaffRoleGrant.role == role).order_by(User.id)))


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
                     "url": absolute_url("subscriptions.licenses")},
            language=_language(person),
            organization_id=organization_id,
        ))
    return deliveries


def _requester_of(order):

    return db.session.get(User, order.requested_by_id) if order.requested_by_id else None


def _tell_customer_about_order(template: str, *, order, subject_fn, context: dict | None = None) -> list[EmailDelivery]:
    """`template` (a customer template) to the customer people of the order: the requester and the Masters."""
    return [
        queue_email(template, to=[person.email], subject_fn=subject_fn,
                    context={"order": order, "person": person,
                             "url": absolute_url("subscriptions.order", order_id=order.id), **(context or {})},
                    language=_language(person), organization_id=order.organization_id)
        for person in _order_recipients(order.organization_id, _requester_of(order))
    ]


def order_finished(*, order) -> list[EmailDelivery]:
    """The order was carried out ("concluído"), by the provider or by staff. A failed order goes to `order_failed`."""

    if order.status != OrderStatus.DONE:
        return order_failed(order=order)
    return _tell_customer_about_order("order_finished", order=order,
                                      subject_fn=lambda: _("Pedido de licenças concluído"))


def order_failed(*, order) -> list[EmailDelivery]:
    """The order failed for good. Who is told, and with which template, is `subscriptions.failures.cause_of`:

    - a staff-side cause: staff role "suporte" gets `order_failed_staff` (the provider's words, the backoffice
      link); the customer gets `order_delayed` (late, the team is on it, nothing to do), never the cause;
    - a cause the customer can act on: the customer gets `order_action_needed` with what to do.
    """

    cause = cause_of(order.error_code)
    if cause.audience == Audience.CUSTOMER:
        return _tell_customer_about_order(
            "order_action_needed", order=order, subject_fn=lambda: _("Não conseguimos concluir seu pedido de licenças"),
            context={"action": cause.customer_action})
    return order_failed_staff(order=order) + _tell_customer_about_order(
        "order_delayed", order=order, subject_fn=lambda: _("Seu pedido de licenças está atrasado"))


def order_failed_staff(*, order) -> list[EmailDelivery]:
    """A failed order only staff can fix: to each active staff "suporte" user in their language (to MAIL_STAFF_TO
    when there is none), with the cause and the provider's own words."""

    organization = db.session.get(Organization, order.organization_id)
    requester = _requester_of(order)
    context = {"order": order, "organization": organization, "requester": requester,
               "url": absolute_url("backoffice.order", order_id=order.id)}

    def subject():
        return _("Pedido nº %(id)d falhou e precisa da equipe — %(org)s", id=order.id, org=organization.display_name)

    people = _staff_with_role(StaffRole.SUPORTE)
    if not people:
        return [queue_email("order_failed_staff", to=[current_app.config["MAIL_STAFF_TO"]], subject_fn=subject,
                            context={**context, "person": None},
                            language=current_app.config["BABEL_DEFAULT_LOCALE"], organization_id=order.organization_id)]
    return [queue_email("order_failed_staff", to=[person.email], subject_fn=subject,
                        context={**context, "person": person}, language=_language(person),
                        organization_id=order.organization_id)
            for person in people]


def nfse_cancellation_failed(*, invoice, errors: list[tuple[str, str]]) -> list[EmailDelivery]:
    """The authority refused (or could not be reached for) the cancellation of an invoice's NFS-e: to each active
    staff "financeiro" user (MAIL_STAFF_TO when there is none), with the authority's codes and messages as-is."""

    organization = db.session.get(Organization, invoice.organization_id)
    context = {"invoice": invoice, "organization": organization, "errors": errors,
               "url": absolute_url("backoffice.invoice", invoice_id=invoice.id)}

    def subject():
        return _("NFS-e da fatura %(number)s não foi cancelada — %(org)s", number=invoice.display_number,
                 org=organization.display_name)

    people = _staff_with_role(StaffRole.FINANCEIRO)
    if not people:
        return [queue_email("nfse_cancellation_failed", to=[current_app.config["MAIL_STAFF_TO"]], subject_fn=subject,
                            context={**context, "person": None}, language=current_app.config["BABEL_DEFAULT_LOCALE"],
                            organization_id=invoice.organization_id)]
    return [queue_email("nfse_cancellation_failed", to=[person.email], subject_fn=subject,
                        context={**context, "person": person}, language=_language(person),
                        organization_id=invoice.organization_id)
            for person in people]


# ---------------------------------------------------------------- support tickets ("Chamados")
# Customer e-mails are built only from what the customer may see: a staff reply (MessageKind.MESSAGE) or a status
# change. Internal notes are never passed here.

def _ticket_customer_recipients(ticket, *, author=None) -> list:
    """The ticket's opener and the organization's other active Suporte users, once each (never `author`)."""

    opener = db.session.scalar(
        select(User).join(Membership, Membership.user_id == User.id)
        .where(User.id == ticket.opened_by_id, User.active.is_(True),
               Membership.organization_id == ticket.organization_id, Membership.active.is_(True),
               Membership.accepted_at.is_not(None)))
    suporte = db.session.scalars(
        select(User).join(Membership, Membership.user_id == User.id).join(MembershipRole)
        .where(Membership.organization_id == ticket.organization_id, Membership.active.is_(True),
               Membership.accepted_at.is_not(None), User.active.is_(True), MembershipRole.role == Role.SUPORTE)
        .order_by(User.id)
    ).all()
    seen, unique = {author.id} if author is not None else set(), []
    for person in ([opener] if opener is not None else []) + list(suporte):
        if person.id not in seen:
            seen.add(person.id)
            unique.append(person)
    return unique


def ticket_opened(*, ticket, message, opener, organization, attachments: Sequence[str] = ()) -> EmailDelivery:
    """A new ticket, to staff (MAIL_STAFF_TO): who opened it, its subject and description."""

    return queue_email(
        "ticket_opened",
        to=[current_app.config["MAIL_STAFF_TO"]],
        subject_fn=lambda: _("Novo chamado nº %(id)d (%(priority)s): %(subject)s", id=ticket.id,
                             priority=TICKET_PRIORITY_LABELS[ticket.priority], subject=ticket.subject),
        context={"ticket": ticket, "message": message, "opener": opener, "organization": organization,
                 "attachments": list(attachments), "category": TICKET_CATEGORY_LABELS[ticket.category],
                 "priority": TICKET_PRIORITY_LABELS[ticket.priority],
                 "url": absolute_url("backoffice.ticket", ticket_id=ticket.id)},
        language=current_app.config["BABEL_DEFAULT_LOCALE"],
        organization_id=ticket.organization_id,
    )


def ticket_customer_replied(*, ticket, message, author, organization, assignee=None) -> EmailDelivery:
    """The customer answered: to the staff member the ticket is assigned to, or to MAIL_STAFF_TO."""
    to = assignee.email if assignee is not None and assignee.active else current_app.config["MAIL_STAFF_TO"]
    return queue_email(
        "ticket_customer_replied",
        to=[to],
        subject_fn=lambda: _("Chamado nº %(id)d respondido pelo cliente: %(subject)s", id=ticket.id,
                             subject=ticket.subject),
        context={"ticket": ticket, "message": message, "author": author, "organization": organization,
                 "url": absolute_url("backoffice.ticket", ticket_id=ticket.id)},
        language=_language(assignee) if assignee is not None else current_app.config["BABEL_DEFAULT_LOCALE"],
        organization_id=ticket.organization_id,
    )


def ticket_replied(*, ticket, message, author) -> list[EmailDelivery]:
    """A staff reply, to the opener and the organization's other Suporte users: the reply's text and the ticket's
    status now. `message` must be a reply the customer sees (never an internal note)."""

    if message.kind != MessageKind.MESSAGE or not message.from_staff:
        raise ValueError("only a staff reply the customer sees is e-mailed to the customer")
    deliveries = []
    for person in _ticket_customer_recipients(ticket):
        deliveries.append(queue_email(
            "ticket_replied",
            to=[person.email],
            subject_fn=lambda: _("Resposta ao chamado nº %(id)d: %(subject)s", id=ticket.id, subject=ticket.subject),
            context={"ticket": ticket, "message": message, "author": author, "person": person,
                     "status": TICKET_STATUS_LABELS[ticket.status],
                     "url": absolute_url("support.ticket", ticket_id=ticket.id)},
            language=_language(person),
            organization_id=ticket.organization_id,
        ))
    return deliveries


def ticket_status_changed(*, ticket, old: str, new: str, opener) -> EmailDelivery | None:
    """The ticket's status changed: to its opener (nobody when the opener's account is inactive)."""

    if opener is None or not opener.active:
        return None
    return queue_email(
        "ticket_status_changed",
        to=[opener.email],
        subject_fn=lambda: _("Chamado nº %(id)d: %(status)s", id=ticket.id, status=TICKET_STATUS_LABELS[new]),
        context={"ticket": ticket, "person": opener, "old": TICKET_STATUS_LABELS[old], "new": TICKET_STATUS_LABELS[new],
                 "url": absolute_url("support.ticket", ticket_id=ticket.id)},
        language=_language(opener),
        organization_id=ticket.organization_id,
    )


# ---------------------------------------------------------------- cancellations and rescissions

def _tell_masters_and_staff(template: str, *, organization_id: int, requester, subject_fn, context: dict,
                            url: str) -> list[EmailDelivery]:
    """The organization's active Masters and the person who acted (each in their language), and the staff."""

    context = {**context, "role_labels": ROLE_LABELS, "requester": requester}
    deliveries = [
        queue_email(template, to=[person.email], subject_fn=subject_fn,
                    context={**context, "person": person, "url": url},
                    language=_language(person), organization_id=organization_id)
        for person in _order_recipients(organization_id, requester)
    ]
    deliveries.append(queue_email(template, to=[current_app.config["MAIL_STAFF_TO"]], subject_fn=subject_fn,
                                  context={**context, "person": None, "url": None},
                                  language=current_app.config["BABEL_DEFAULT_LOCALE"],
                                  organization_id=organization_id))
    return deliveries


def cancellation_requested(*, request, requester) -> list[EmailDelivery]:
    """A license cancelled: who, as what, when, why, and what ends now (with the credit) or at the term end."""

    organization = db.session.get(Organization, request.organization_id)
    subscription = db.session.get(Subscription, request.subscription_id)
    product = subscription.product.name
    return _tell_masters_and_staff(
        "cancellation_requested", organization_id=organization.id, requester=requester,
        subject_fn=lambda: _("Cancelamento de %(product)s — %(org)s", product=product,
                             org=organization.display_name),
        context={"request": request, "organization": organization, "subscription": subscription},
        url=absolute_url("subscriptions.detail", subscription_id=subscription.id),
    )


def rescission_requested(*, parent, items, requester, grace_until) -> list[EmailDelivery]:
    """The contract rescinded: every subscription and the day it ends; how long a Master has to withdraw it."""

    organization = db.session.get(Organization, parent.organization_id)
    return _tell_masters_and_staff(
        "cancellation_rescission", organization_id=organization.id, requester=requester,
        subject_fn=lambda: _("Rescisão de contrato — %(org)s", org=organization.display_name),
        context={"request": parent, "items": items, "organization": organization, "grace_until": grace_until},
        url=absolute_url("cancellations.rescission"),
    )


def rescission_withdrawn(*, parent, items, withdrawn_by) -> list[EmailDelivery]:
    """The rescission withdrawn by a Master before anything reached the provider: the licenses carry on."""

    organization = db.session.get(Organization, parent.organization_id)
    return _tell_masters_and_staff(
        "cancellation_withdrawn", organization_id=organization.id, requester=withdrawn_by,
        subject_fn=lambda: _("Rescisão de contrato retirada — %(org)s", org=organization.display_name),
        context={"request": parent, "items": items, "organization": organization,
                 "original_requester": db.session.get(User, parent.requested_by_id)},
        url=absolute_url("subscriptions.licenses"),
    )
