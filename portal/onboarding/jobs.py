"""Onboarding jobs: post the handover card to Teams (retried while Teams is unwell), and poll the e-signature
provider every 15 minutes for contracts whose completion webhook never arrived."""

from flask import current_app
from huey import crontab

from portal.extensions import db
from portal.integrations.esign import SignatureError
from portal.jobs import periodic_task, task
from portal.onboarding import service
from portal.shared.audit import Actor
from portal.shared.documents import DocumentStoreError

HANDOVER_RETRIES = 5  # after the first try: 1, 2, 4, 8, 16 minutes apart


class HandoverRetry(Exception):
    """Teams answered with something worth trying again (throttling, 5xx, network)."""


def signed_contract_url(opportunity_id: int) -> str:
    """The signed contract in the backoffice, as an absolute link for the card (BASE_URL + the route's path)."""
    path = current_app.url_map.bind("portal").build("backoffice.onboarding_signed_pdf",
                                                    {"opportunity_id": opportunity_id})
    return current_app.config["BASE_URL"].rstrip("/") + path


@task(retries=HANDOVER_RETRIES, retry_delay=60, retry_backoff=2, context=True)
def post_handover_card(opportunity_id: int, task=None) -> str:
    """Right after the approval (or "publicar de novo") commits. A failure is shown on the opportunity at once;
    a retryable one is tried again by Huey until the retries run out."""
    outcome = service.post_handover(opportunity_id, teams=current_app.extensions["teams"],
                                    contract_url=signed_contract_url(opportunity_id),
                                    actor=Actor.system("onboarding:handover"))
    if outcome == "retry" and task is not None and task.retries:
        raise HandoverRetry(f"opportunity {opportunity_id}: Teams asked to try again")
    return outcome


@periodic_task(crontab(minute="*/15"))
def poll_signatures() -> int:
    """Every 15 minutes: contracts out for signature are checked at the provider (lost webhooks)."""
    esign = current_app.extensions["esign"]
    document_ids = service.awaiting_signature()
    db.session.commit()  # end this read; each check below is its own transaction
    signed = 0
    for document_id in document_ids:
        try:
            outcome = service.complete_signature(document_id, esign=esign, actor=Actor.system("onboarding:esign"))
        except (SignatureError, DocumentStoreError) as error:  # the next run asks again
            current_app.logger.warning("e-signature status of %s failed: %s", document_id, error)
            continue
        signed += outcome == "signed"
    return signed
