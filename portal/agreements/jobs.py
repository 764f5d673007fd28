"""Agreement jobs: confirm MCA acceptances at Partner Center, e-mail the contact of an attestation, and a sweep."""

from flask import current_app
from huey import crontab

from portal.agreements import service
from portal.extensions import db
from portal.jobs import periodic_task, task
from portal.shared import clock

PROVIDER_RETRIES = 6  # after the first try: 2, 4, 8, 16, 32, 64 minutes apart (about two hours in all)


class ProviderRetry(Exception):
    """Partner Center answered with something worth trying again (throttling, 5xx, network)."""


@task(retries=PROVIDER_RETRIES, retry_delay=120, retry_backoff=2, context=True)
def send_agreement_to_provider(acceptance_id: int, task=None) -> str:
    """Right after an MCA acceptance or attestation commits; retried by Huey while Partner Center is unwell.

    The last try (no retries left, or a direct call) records the acceptance as failed instead of retrying.
    """
    final = task is None or not task.retries
    outcome = service.send_to_provider(acceptance_id, provisioner=current_app.extensions["provisioner"],
                                       final_attempt=final)
    if outcome == "retry":
        raise ProviderRetry(f"agreement acceptance {acceptance_id}: Partner Center asked to try again")
    return outcome


@task(retries=5, retry_delay=60)
def notify_attestation_contact(acceptance_id: int) -> bool:
    """Right after an attestation commits: e-mail the customer's primary contact (once)."""
    return service.notify_attestation(acceptance_id)


@periodic_task(crontab(minute="*/5"))
def sweep_agreements() -> int:
    """Every 5 minutes: attestations whose contact e-mail, or MCA acceptances whose first send to Partner Center,
    should have happened 10 minutes ago and did not (a lost job). Keeps the 30-minute promise to the contact."""
    now, done = clock.now(), 0
    for acceptance_id in service.overdue_notices(now):
        done += bool(service.notify_attestation(acceptance_id))
    stalled = service.stalled_provider_sends(now)
    db.session.commit()  # end this read before the jobs run (inline, they use sessions of their own)
    for acceptance_id in stalled:
        send_agreement_to_provider(acceptance_id)
        done += 1
    return done
