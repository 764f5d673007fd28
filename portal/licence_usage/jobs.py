"""Licence-use jobs: every tenant read daily from Microsoft Graph, and the monthly e-mail of unassigned licences."""

from flask import current_app
from huey import crontab

from portal.jobs import periodic_task
from portal.licence_usage import service
from portal.shared import clock


@periodic_task(crontab(hour="8", minute="15"))
def refresh_all() -> dict[str, int]:
    """05:15 in São Paulo (08:15 UTC): a snapshot of every organization with a Microsoft tenant."""
    return service.refresh_all(reader=current_app.extensions["licence_usage"])


@periodic_task(crontab(hour="11", minute="30"))
def send_monthly_emails() -> int:
    """08:30 in São Paulo, daily: the month's e-mail of unassigned licences, once per organization and month (an
    organization read for the first time mid-month gets it that day)."""
    return service.send_monthly_emails(today=clock.today())
