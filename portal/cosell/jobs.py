"""Co-sell jobs: every day, inbound deals nobody answered in 14 days expire and staff get one e-mail listing them."""

from huey import crontab

from portal.cosell.service import expire_unanswered
from portal.jobs import periodic_task
from portal.shared import clock
from portal.shared.audit import Actor


@periodic_task(crontab(hour="10", minute="30"))
def expire_inbound_deals() -> int:
    """Daily at 07:30 in São Paulo (10:30 UTC), before the working day: unanswered inbound deals → Expirado,
    an e-mail to MAIL_STAFF_TO (none when nothing expired). Returns how many expired."""
    from flask import current_app


    config = current_app.config
    return len(expire_unanswered(now=clock.now(), actor=Actor.system("cosell"), notify_to=config["MAIL_STAFF_TO"],
                                 base_url=config["BASE_URL"], language=config["BABEL_DEFAULT_LOCALE"]))
