"""Approval jobs: the hourly expiry of requests nobody decided."""

from huey import crontab

from portal.approvals import service
from portal.jobs import periodic_task
from portal.shared import clock


@periodic_task(crontab(minute="15"))
def expire_approval_requests() -> int:
    """Every hour: the requests waiting longer than APPROVAL_EXPIRY_DAYS are closed as expired (audited, the
    requester e-mailed), each once however many consumers run it."""
    return service.expire_due(clock.now())
