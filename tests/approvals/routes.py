"""The approvals pages' routes, for tests/test_permissions.py (see its _route_tables)."""

from datetime import timedelta

from portal.approvals.models import ApprovalRequest, ApprovalStatus
from portal.extensions import db
from portal.shared import clock
from portal.shared.audit import Actor
from portal.subscriptions import service
from tests import factories


def waiting_request(organization, requester) -> ApprovalRequest:
    """A request waiting for `organization`'s Masters: an increase 10 → 12 of a R$ 78,90 product."""
    subscription = factories.subscription(organization, quantity=10)
    quote = service.quote_quantity_change(organization=organization, subscription=subscription, new_quantity=12,
                                          actor=Actor.for_user(requester))
    now = clock.now()
    request = ApprovalRequest(organization_id=organization.id, quote_id=quote.id, original_quote_id=quote.id,
                              reasons=[{"rule": "monthly", "limit_cents": 100, "value_cents": 15780}],
                              monthly_cents=15780, status=ApprovalStatus.WAITING, requested_by_id=requester.id,
                              created_at=now, expires_at=now + timedelta(days=7), comment="")
    db.session.add(request)
    db.session.commit()
    return request


def _request(organization, requester):
    return {"request_id": waiting_request(organization, requester).id}


CUSTOMER_ROUTES = {
    "approvals.queue": ("GET", lambda w: {}, None),
    "approvals.rules": ("GET", lambda w: {}, None),
    "approvals.mine": ("GET", lambda w: {}, None),
    "approvals.detail": ("GET", lambda w: _request(w.demo, w.adm), lambda w: _request(w.other, w.other_master)),
    "approvals.approve": ("POST", lambda w: _request(w.demo, w.adm), lambda w: _request(w.other, w.other_master)),
    "approvals.refuse": ("POST", lambda w: _request(w.demo, w.adm), lambda w: _request(w.other, w.other_master)),
    "approvals.withdraw": ("POST", lambda w: _request(w.demo, w.adm), lambda w: _request(w.other, w.other_master)),
}
