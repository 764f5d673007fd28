"""Provisioning jobs: run an order as soon as it is confirmed, and a sweep every minute for retries and polls."""

from flask import current_app
from huey import crontab

from portal.jobs import periodic_task, task
from portal.shared import clock
from portal.shared.audit import Actor
from portal.subscriptions import orders, reminders
from portal.subscriptions.renewals import renew_due


def _provisioner():
    return current_app.extensions["provisioner"]


@task()
def provision_order(order_id: int) -> str | None:
    """First attempt, right after the quote is confirmed (the sweep takes care of the rest)."""
    step = orders.run_order(order_id, provisioner=_provisioner())
    return step.status if step else None


@periodic_task(crontab(minute="*"))
def sweep_orders() -> int:
    """Every minute: retries whose backoff is over, and polls of operations the provider accepted (202).

    Also the safety net that makes "nothing is ever dropped" true if a queued message was lost.
    """
    done = 0
    for order_id in orders.due_orders(clock.now()):
        orders.run_order(order_id, provisioner=_provisioner())
        done += 1
    return done


@periodic_task(crontab(hour="3", minute="5"))
def renew_subscriptions() -> int:
    """Daily, just after midnight in São Paulo (03:05 UTC): terms that ended renew."""

    return renew_due(today=clock.today(), actor=Actor.system("renewals"))


@periodic_task(crontab(hour="11", minute="15"))
def send_renewal_reminders() -> int:
    """Daily, 08:15 in São Paulo (11:15 UTC): renewal reminders 30 and 7 days before "decidir até", each once."""

    return reminders.send_due(today=clock.today())
