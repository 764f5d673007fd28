"""May this organization buy? The one answer, asked before anything that adds licences (a quantity increase,
the cart's checkout, accepting a purchase offer):

- its contract is open (not being rescinded, not closed) — asked first, since it explains every refusal;
- it is not delinquent ("inadimplente": an invoice overdue past the grace period);
- its Master accepted the current customer agreement.

Decreases and cancellations ask only `ensure_contract_open` (and not even that for a cancellation).
"""

from flask_babel import gettext as _

from portal.accounts.models import Organization, OrganizationStatus
from portal.agreements.service import ensure_agreement_accepted
from portal.billing.payments import ensure_not_delinquent
from portal.shared.audit import Actor
from portal.shared.errors import ServiceError


def ensure_contract_open(organization: Organization) -> None:
    """While the contract is being rescinded (or once it ended) only cancellations go through: an increase, a
    decrease or a new product would undo the rescission's schedule or escape it."""
    if organization.status == OrganizationStatus.RESCINDING:
        raise ServiceError(_("O contrato está em rescisão: só é possível cancelar licenças. Um Master pode retirar a "
                             "rescisão enquanto nada foi enviado ao fornecedor."))
    if organization.status == OrganizationStatus.CLOSED:
        raise ServiceError(_("O contrato desta organização foi encerrado."))


def ensure_may_buy(organization: Organization, actor: Actor | None) -> None:
    """ServiceError (translated, for the page) unless `organization` may add licences now."""
    ensure_contract_open(organization)
    ensure_not_delinquent(organization)
    ensure_agreement_accepted(organization, actor)
