"""Purchase offer jobs: once a day, offers whose validity ended become "expirada"."""

from huey import crontab

from portal.jobs import periodic_task
from portal.shared import clock


@periodic_task(crontab(hour="3", minute="10"))
def expire_offers() -> int:
    """Daily, just after midnight in São Paulo (03:10 UTC): drafts and sent offers past their validity expire."""
    from portal.backoffice.offers.service import expire_due
    from portal.shared.audit import Actor

    return expire_due(now=clock.now(), actor=Actor.system("offers"))
