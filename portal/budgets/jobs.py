"""Budget jobs: the daily budget e-mails."""

from huey import crontab

from portal.budgets import service
from portal.jobs import periodic_task
from portal.shared import clock


@periodic_task(crontab(hour="11", minute="30"))
def send_budget_alerts() -> int:
    """Every day at 08:30 in São Paulo (11:30 UTC), after the billing run has issued the day's invoices: the budget
    e-mails each organization's month has reached (the forecast above the budget; 80 % and 100 % of it spent),
    each once per month and budget, however many consumers run it."""
    return service.send_alerts(today=clock.today())
