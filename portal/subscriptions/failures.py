"""Why an order failed and who can act on it: the one table of failure causes → audience (issue 13 point 5).

Every order that fails for good lands in the staff queue ("Pedidos" → "Precisam da equipe"). Who is *told*
depends on who can do something about the cause:

- STAFF: only the reseller can fix it (no Microsoft tenant on file, Partner Center credentials or
  configuration, the provider's or the network's trouble, a refusal the portal should have foreseen). Staff
  role "suporte" gets the staff e-mail with the provider's own words; the customer hears only that the order
  is late and that the team is on it (never the cause: there is nothing for them to do).
- CUSTOMER: the customer can fix it (a quantity Microsoft does not accept, a subscription already cancelled at
  Microsoft). The person who asked and the Masters get the customer e-mail saying what they can do; the
  staff queue still shows the order.

A cause not in the table is STAFF: a customer is never asked to act on something nobody has classified.
"""

from dataclasses import dataclass
from enum import StrEnum

from flask_babel import lazy_gettext as _l

from portal.integrations.partner_center import (
    ETAG_NO_LONGER_VALID,
    INVALID_OFFER_ID,
    PENDING_OPERATION,
    QUANTITY_CANNOT_BE_DECREASED,
    QUANTITY_OUT_OF_RANGE,
    SUBSCRIPTION_DELETED,
    SUBSCRIPTION_NOT_FOUND,
)

NO_TENANT = "no_tenant"  # ours: the organization has no Microsoft tenant id, nothing was sent


class Audience(StrEnum):
    STAFF = "staff"
    CUSTOMER = "customer"


@dataclass(frozen=True)
class FailureCause:
    audience: Audience
    # CUSTOMER causes: what the customer can do, in one or two sentences of the customer's language.
    customer_action: object | None = None  # a lazy string


_STAFF = FailureCause(Audience.STAFF)

CAUSES: dict[str, FailureCause] = {
    # Ours, before anything is sent.
    NO_TENANT: _STAFF,
    # The portal's side of Partner Center: credentials, configuration, the network.
    "token": _STAFF,  # no access token (MSAL refresh token expired or revoked)
    "401": _STAFF,
    "403": _STAFF,
    "network": _STAFF,
    "invalid_response": _STAFF,
    "simulated": _STAFF,  # the simulator's failure_rate
    "800002": _STAFF,  # invalid request input: the portal sent something wrong
    INVALID_OFFER_ID: _STAFF,  # the catalog's offer id is wrong
    SUBSCRIPTION_NOT_FOUND: _STAFF,  # the portal's subscription id does not exist at Microsoft
    ETAG_NO_LONGER_VALID: _STAFF,
    PENDING_OPERATION: _STAFF,
    # The portal thought the seats were inside their cancellation window and Microsoft did not: staff reconcile
    # (schedule the decrease for the renewal); the customer did what the portal allowed.
    QUANTITY_CANNOT_BE_DECREASED: _STAFF,
    # What the customer can act on.
    QUANTITY_OUT_OF_RANGE: FailureCause(Audience.CUSTOMER, _l(
        "A Microsoft não aceita essa quantidade para este produto. Escolha outra quantidade em Licenças, "
        "“Alterar quantidades”; se precisar de ajuda, abra um chamado.")),
    SUBSCRIPTION_DELETED: FailureCause(Audience.CUSTOMER, _l(
        "Esta assinatura já foi cancelada na Microsoft e não pode mais ser alterada. Para voltar a usar o "
        "produto, contrate-o de novo em “Adicionar novos produtos”.")),
}


def cause_of(error_code: str | None) -> FailureCause:
    """The audience of a failed order's `error_code`; HTTP 5xx and anything unknown are STAFF."""
    return CAUSES.get(error_code or "", _STAFF)
