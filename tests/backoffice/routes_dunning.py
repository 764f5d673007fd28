"""Staff routes of the régua de cobrança (billing:manage)."""

from sqlalchemy import select

from portal.billing.models import DunningStep
from portal.extensions import db


def _first_step(_world) -> dict:
    return {"step_id": db.session.scalar(select(DunningStep.id).order_by(DunningStep.offset_days).limit(1))}


STAFF_ROUTES = {
    "backoffice.dunning_schedule": ("GET", {}),
    "backoffice.dunning_step": ("GET", _first_step),
    "backoffice.dunning_toggle": ("POST", _first_step),
    "backoffice.dunning_remove": ("POST", _first_step),
    "backoffice.dunning_preview": ("GET", _first_step),
}
