"""Purchase offer jobs: once a day, offers whose validity ended become "expirada"."""

from huey import crontab

from portal.jobs import periodic_task
from portal.offers.service import expire_due
from portal.shared import clock
from portal.shared.audit import Actor


@periodic_task(crontab(hour="3", minute="10"))
def expire_offers() -> int:
    """Daily, just after midnight in São Paulo (03:10 UTC): drafts and sent offers past their validity expire."""

    return expire_due(now=clock.now(), actor=Actor.system("offers"))
