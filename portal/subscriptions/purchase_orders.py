"""The customer's purchase-order number (PO) and cost centre on a subscription: reading them from a form, changing
them (audited), and what an invoice's DPS says of the POs its lines carry."""

from collections.abc import Iterable
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import update

from portal.accounts.models import Organization
from portal.extensions import db
from portal.shared.audit import Actor, AuditTag, record
from portal.shared.errors import NotFound, ServiceError
from portal.subscriptions.models import Subscription

MAX_LENGTH = 60  # characters; the NFS-e Nacional DPS field xPed (TSNumeroEndereco) takes 1 to 60
DPS_SEPARATOR = ","


def _allowed(character: str) -> bool:
    # The DPS's TSString pattern takes characters from " " to "ÿ" (Latin-1); control characters never.
    return character.isprintable() and " " <= character <= "ÿ"


def clean_reference(value: Any, *, field: str) -> str:
    """A PO number or cost centre as typed: trimmed, inner runs of spaces kept as typed; "" = none.
    ServiceError (on `field`) when too long or with a character the nota fiscal cannot carry."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ServiceError(_("Informe um texto."), field=field)
    value = value.strip()
    if len(value) > MAX_LENGTH:
        raise ServiceError(_("Use no máximo %(max)d caracteres.", max=MAX_LENGTH), field=field)
    if not all(_allowed(character) for character in value):
        raise ServiceError(_("Use apenas letras, números e sinais comuns (sem emojis nem quebras de linha)."),
                           field=field)
    return value


def clean_references(purchase_order: Any, cost_centre: Any) -> dict[str, str]:
    """Both fields cleaned; one ServiceError carrying every field's problem at once."""
    values, problems = {}, {}
    for name, raw in (("purchase_order", purchase_order), ("cost_centre", cost_centre)):
        try:
            values[name] = clean_reference(raw, field=name)
        except ServiceError as error:
            problems[name] = [error.message]
    if problems:
        error = ServiceError(next(iter(problems.values()))[0], field=next(iter(problems)))
        error.errors = problems
        raise error
    return values


def set_subscription_reference(*, organization: Organization, subscription: Subscription, purchase_order: Any,
                               cost_centre: Any, actor: Actor) -> Subscription:
    """Set the PO and cost centre of a subscription of `organization`; audited with before/after; commits.

    Written with an UPDATE that leaves `Subscription.version` alone: a PO is not a quantity fact, so a quote
    being confirmed meanwhile stays valid."""
    if subscription.organization_id != organization.id:
        raise NotFound(_("Licença não encontrada."))
    values = clean_references(purchase_order, cost_centre)
    before = {"purchase_order": subscription.purchase_order, "cost_centre": subscription.cost_centre}
    if before == values:
        return subscription
    db.session.execute(update(Subscription.__table__).where(
        Subscription.__table__.c.id == subscription.id,
        Subscription.__table__.c.organization_id == organization.id).values(**values)
        .execution_options(organization_ids=[organization.id]))
    record(AuditTag.SUBSCRIPTION_REFERENCE_CHANGED, actor=actor, organization_id=organization.id,
           subject=f"subscription:{subscription.id}", before=before, after=values)
    db.session.commit()
    return subscription


def dps_purchase_order(purchase_orders: Iterable[str]) -> str:
    """What the DPS's purchase-order field (xPed) says of an invoice whose lines carry `purchase_orders`: the one
    PO they share; several joined "4500012345,4500012399" in first-seen order, cut to the field's 60
    characters (never ending in a separator or a space); "" when none."""
    distinct = list(dict.fromkeys(po for po in purchase_orders if po))
    return DPS_SEPARATOR.join(distinct)[:MAX_LENGTH].rstrip(DPS_SEPARATOR + " ")
