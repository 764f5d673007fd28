"""Rescission jobs: every day, organizations whose rescinded contract has run out are closed ("encerrada")."""

from huey import crontab

from portal.cancellations.service import close_rescinded
from portal.jobs import periodic_task
from portal.shared import clock
from portal.shared.audit import Actor


@periodic_task(crontab(hour="11", minute="15"))
def close_rescinded_organizations() -> int:
    """Daily at 08:15 in São Paulo (11:15 UTC), after the renewals (03:05 UTC) and the billing run (09:00 UTC):
    an organization in rescission whose subscriptions all ended and whose last invoice is out is closed."""

    return close_rescinded(today=clock.today(), actor=Actor.system("rescissions"))
