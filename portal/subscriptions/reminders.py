"""Renewal reminders: an e-mail to the organization's Masters and Adms 30 and 7 days before "decidir até"
(`next_term.decide_by`) of each subscription of a year or more, once each; never for monthly rollovers, nor for a
subscription that will not renew. A person turns them off in "Minha conta" (`User.renewal_reminders`).

Once each: the reminder's row (`RenewalReminder`, unique per subscription, term and kind) is written before its
e-mails are queued, in the same transaction, under the subscription's row lock; a second run (or a concurrent
consumer) finds it, or fails on the unique constraint and sends nothing. A run that missed a day catches up while
the kind's days last (30: from 30 to 8 days before; 7: from 7 days before to the day itself)."""

from datetime import date, timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from portal.accounts.models import Membership, MembershipRole, User
from portal.accounts.roles import Role
from portal.catalog.models import Product
from portal.extensions import db
from portal.notifications.service import queue_email
from portal.shared import clock
from portal.shared.formatting import format_date, format_datetime
from portal.shared.links import absolute_url
from portal.subscriptions import next_term
from portal.subscriptions.models import RenewalReminder, Subscription, SubscriptionStatus
from portal.webhooks import outbox as webhook_outbox

# kind → (first, last) days before "decidir até" it goes out in (a missed day is caught up within them)
KINDS = {"d30": (30, 8), "d7": (7, 0)}


def kind_for(days_left: int) -> str | None:
    for kind, (first, last) in KINDS.items():
        if last <= days_left <= first:
            return kind
    return None


def recipients(organization_id: int) -> list[User]:
    """Active Masters and Adms of the organization who keep renewal reminders on, each once."""
    return list(db.session.scalars(
        select(User).join(Membership, Membership.user_id == User.id).join(MembershipRole)
        .where(Membership.organization_id == organization_id, Membership.active.is_(True),
               Membership.accepted_at.is_not(None), User.active.is_(True), User.is_staff.is_(False),
               User.renewal_reminders.is_(True), MembershipRole.role.in_([Role.MASTER, Role.ADM]))
        .distinct().order_by(User.id)))


def send_due(*, today: date) -> int:
    """Send the reminders due on `today`; returns how many subscriptions were reminded. Safe to run again, and
    concurrently: each (subscription, term, kind) goes once."""
    latest = today + timedelta(days=max(first for first, _last in KINDS.values())
                               + next_term.DECIDE_BY_DAYS_BEFORE_TERM_END)
    candidates = db.session.scalars(
        select(Subscription.id).join(Product, Product.id == Subscription.product_id)
        .where(Subscription.status == SubscriptionStatus.ACTIVE, Product.term.in_(next_term.long_term_values()),
               or_(Subscription.renewal_quantity.is_(None), Subscription.renewal_quantity > 0),
               Subscription.term_end > today, Subscription.term_end <= latest)
        .order_by(Subscription.term_end, Subscription.id)
    ).all()
    reminded = 0
    for subscription_id in candidates:
        try:
            reminded += _remind(subscription_id, today=today)
        except IntegrityError:  # another consumer sent this one at the same moment: it went once, by them
            db.session.rollback()
        except Exception:  # reported; the next run tries again while the kind's days last
            current_app.logger.exception("renewal reminder for subscription %s failed", subscription_id)
            db.session.rollback()
    return reminded


def _remind(subscription_id: int, *, today: date) -> bool:
    subscription = db.session.scalar(select(Subscription).where(Subscription.id == subscription_id).with_for_update()
                                     .execution_options(populate_existing=True))
    if subscription is None or subscription.status != SubscriptionStatus.ACTIVE or subscription.renewal_quantity == 0:
        db.session.rollback()
        return False
    kind = kind_for((next_term.decide_by_day(subscription.term_end) - today).days)
    already = db.session.scalar(select(func.count(RenewalReminder.id)).where(
        RenewalReminder.subscription_id == subscription.id, RenewalReminder.term_end == subscription.term_end,
        RenewalReminder.kind == kind)) if kind else 1
    if already:
        db.session.rollback()
        return False
    # The row first: a concurrent run that got here too fails on the unique constraint before queuing anything.
    reminder = RenewalReminder(organization_id=subscription.organization_id, subscription_id=subscription.id,
                               term_end=subscription.term_end, kind=kind, created_at=clock.now())
    db.session.add(reminder)
    db.session.flush()
    people = recipients(subscription.organization_id)
    change = next_term.current_change(subscription)
    deadline = next_term.decide_by(subscription)
    webhook_outbox.renewal_due(subscription, decide_by=deadline, kind=kind)
    for person in people:
        context = {"person": person, "subscription": subscription, "product": subscription.product,
                   "change": change, "renews_on": subscription.term_end, "deadline": deadline,
                   "url": absolute_url("subscriptions.next_term_change", subscription_id=subscription.id),
                   "calendar_url": absolute_url("subscriptions.renewals"),
                   "profile_url": absolute_url("accounts.profile")}
        queue_email("renewal_reminder", to=[person.email], context=context,
                    subject_fn=lambda s=subscription, d=deadline: _(
                        "Renovação de %(product)s em %(date)s: decida até %(deadline)s", product=s.product.name,
                        date=format_date(s.term_end), deadline=format_datetime(d)),
                    language=person.language or current_app.config["BABEL_DEFAULT_LOCALE"],
                    organization_id=subscription.organization_id)
    reminder.recipients = len(people)
    db.session.commit()
    return True
