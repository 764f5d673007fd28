"""The "Contratação" routes, for tests/test_permissions.py (opportunities at any stage:
`factories.opportunity`)."""

from portal.extensions import db
from portal.onboarding.models import Stage
from portal.shared.documents import PDF, store
from tests import factories


def _opportunity(world) -> dict:
    opportunity = factories.opportunity(Stage.PRESENTATION, proposal_pdf_sha256=None)
    opportunity.proposal_pdf_sha256 = opportunity.contract_pdf_sha256 = opportunity.signed_pdf_sha256 = store(
        factories.STORED_PDF, PDF)
    db.session.commit()
    return {"opportunity_id": opportunity.id}


def _item(world) -> dict:
    opportunity = factories.opportunity(Stage.PROPOSAL)
    return {"opportunity_id": opportunity.id, "item_id": opportunity.items[0].id}


STAFF_ROUTES = {
    "backoffice.onboarding": ("GET", {}),
    "backoffice.onboarding_new": ("GET", {}),
    "backoffice.onboarding_implantation": ("GET", {}),
    "backoffice.onboarding_opportunity": ("GET", _opportunity),
    "backoffice.onboarding_update": ("POST", _opportunity),
    "backoffice.onboarding_add_item": ("POST", _opportunity),
    "backoffice.onboarding_remove_item": ("POST", _item),
    "backoffice.onboarding_advance": ("POST", _opportunity),
    "backoffice.onboarding_lose": ("POST", _opportunity),
    "backoffice.onboarding_proposal": ("POST", _opportunity),
    "backoffice.onboarding_send_contract": ("POST", _opportunity),
    "backoffice.onboarding_check_signature": ("POST", _opportunity),
    "backoffice.onboarding_simulate_signature": ("POST", _opportunity),
    "backoffice.onboarding_approve": ("POST", _opportunity),
    "backoffice.onboarding_post_card": ("POST", _opportunity),
    "backoffice.onboarding_implantation_done": ("POST", _opportunity),
    "backoffice.onboarding_proposal_pdf": ("GET", _opportunity),
    "backoffice.onboarding_contract_pdf": ("GET", _opportunity),
    "backoffice.onboarding_signed_pdf": ("GET", _opportunity),
}
