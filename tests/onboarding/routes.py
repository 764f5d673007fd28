"""The "Contratação" routes, for tests/test_permissions.py, and helpers that build opportunities at any stage."""

from datetime import timedelta

from portal.backoffice.onboarding.models import STAGE_ORDER, Opportunity, OpportunityItem, Stage
from portal.extensions import db
from portal.shared import clock
from portal.shared.documents import PDF, store
from tests import factories

FAKE_PDF = b"%PDF-1.4\n% a stored document for tests\n%%EOF\n"


def complete_data(**overrides) -> dict:
    """Every field the stages ask for, valid: a Backup em Nuvem customer on a supported Windows Server."""
    return {
        "company_name": "Acme Backup", "contact_name": "Rita Responsável", "phone": "(11) 98888-7777",
        "email": "rita@acme.example.com", "cnpj": factories.valid_cnpj(), "crm_id": "CRM-42",
        "legal_name": "Acme Backup Ltda", "trade_name": "Acme", "street": "Rua das Flores", "number": "10",
        "complement": "", "district": "Centro", "city": "São Paulo", "state": "SP", "postal_code": "01001000",
        "billing_day": 10, "first_payment_date": clock.today() + timedelta(days=15), "disk_space_gb": 500,
        "installation_sites": 2, "windows_server_licenses": 3, "windows_server_version": "2019",
        "notes": "Cliente prefere contato pela manhã.", "tenant_mode": "existing",
        "tenant_reference": "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9", **overrides,
    }


def make_opportunity(stage: Stage = Stage.PRESENTATION, *, items=None, owner=None, **data) -> Opportunity:
    """An opportunity at `stage` as the pipeline would have left it (complete data unless told otherwise),
    with `items` [(product, quantity)] (default: one Backup em Nuvem product)."""
    values = complete_data(**data)
    if items is None:
        items = [(factories.own_service_product(price=15000), 1)]
    index = STAGE_ORDER.index(stage) if stage in STAGE_ORDER else 0
    now = clock.now()
    opportunity = Opportunity(stage=stage, owner_id=owner.id if owner else None, created_at=now, updated_at=now,
                              **values)
    stored = store(FAKE_PDF, PDF)
    defaults = {}
    if index >= STAGE_ORDER.index(Stage.NEGOTIATION):
        defaults["proposal_pdf_sha256"] = stored
    if index >= STAGE_ORDER.index(Stage.CONTRACT_SENT):
        defaults.update(contract_pdf_sha256=stored, signature_provider="simulator",
                        signature_document_id=f"sim-test-{values['cnpj']}")
    if index >= STAGE_ORDER.index(Stage.CONTRACT_SIGNED):
        defaults.update(signed_pdf_sha256=stored, signed_at=now)
    if stage == Stage.LOST:
        defaults["lost_reason"] = "O cliente desistiu da contratação."
    for name, value in defaults.items():
        if name not in data:  # what the caller gave wins
            setattr(opportunity, name, value)
    db.session.add(opportunity)
    db.session.flush()
    for product, quantity in items:
        db.session.add(OpportunityItem(opportunity_id=opportunity.id, product_id=product.id, quantity=quantity,
                                       unit_price_cents=product.price_on(clock.today()).unit_price_cents))
    db.session.commit()
    db.session.expire(opportunity, ["items"])
    return opportunity


def _opportunity(world) -> dict:
    opportunity = make_opportunity(Stage.PRESENTATION, proposal_pdf_sha256=None)
    opportunity.proposal_pdf_sha256 = opportunity.contract_pdf_sha256 = opportunity.signed_pdf_sha256 = store(
        FAKE_PDF, PDF)
    db.session.commit()
    return {"opportunity_id": opportunity.id}


def _item(world) -> dict:
    opportunity = make_opportunity(Stage.PROPOSAL)
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
