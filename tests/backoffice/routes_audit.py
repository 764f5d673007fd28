"""The backoffice "Auditoria" routes, for tests/test_permissions.py, and a helper that makes a cancellation row."""

from datetime import date, datetime

from portal.cancellations.models import CancellationRequest, CancellationStatus, ReasonCategory
from portal.extensions import db
from portal.shared import clock

REASON = "Vamos migrar toda a equipe para outro fornecedor em abril."


def make_cancellation(organization, user, *, category=ReasonCategory.MIGRATION, reason=REASON,
                      created_at: datetime | None = None, subscription=None, parent=None, is_rescission=False,
                      roles="adm", ip="203.0.113.7", quantity_before=None, quantity_after=None,
                      ends_on: date | None = None, credit_cents=0, status=CancellationStatus.APPLIED,
                      **fields) -> CancellationRequest:
    """A cancellation request row as the cancellations service leaves it (without running the service)."""
    request = CancellationRequest(
        organization_id=organization.id, subscription_id=subscription.id if subscription is not None else None,
        parent_id=parent.id if parent is not None else None, is_rescission=is_rescission, category=category,
        reason=reason, status=status, requested_by_id=user.id, requester_roles=roles, ip=ip,
        quantity_before=quantity_before, quantity_after=quantity_after, ends_on=ends_on, credit_cents=credit_cents,
        created_at=created_at or clock.now(), **fields,
    )
    db.session.add(request)
    db.session.commit()
    return request


def _cancellation(world) -> dict:
    return {"request_id": make_cancellation(world.demo, world.adm).id}


STAFF_ROUTES = {
    "backoffice.audit_cancellations": ("GET", {}),
    "backoffice.audit_cancellations_csv": ("GET", {}),
    "backoffice.audit_cancellation": ("GET", _cancellation),
    "backoffice.audit_trail": ("GET", {}),
    "backoffice.audit_verify": ("POST", {}),
    "backoffice.audit_checkpoint": ("POST", {}),
}
