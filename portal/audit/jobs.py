"""Audit jobs: the daily signed checkpoint of the audit chain (portal/audit/checkpoints.py)."""

from huey import crontab

from portal.audit import checkpoints
from portal.jobs import periodic_task
from portal.shared.audit import Actor

SYSTEM = Actor.system("audit")


@periodic_task(crontab(hour="6", minute="0"))
def daily_checkpoint() -> int:
    """Every day at 03:00 in São Paulo (06:00 UTC): sign the chain's head, store it, e-mail it to compliance.
    → the sequence it covers."""
    return checkpoints.make_checkpoint(actor=SYSTEM).seq
