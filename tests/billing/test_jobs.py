"""`billing_run_for_day`, the staff/ops re-run of one billing day, run in-process (`call_local`).

Two consumers running it at once are in tests/jobs/test_two_consumers.py.
"""

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from portal.billing import jobs as billing_jobs
from portal.billing.models import Invoice
from portal.extensions import db
from portal.shared import clock
from portal.shared.audit import AuditEvent, AuditTag, verify
from tests import factories

JANUARY = datetime(2026, 1, 5, 12, tzinfo=UTC)


@pytest.fixture(autouse=True)
def documents_elsewhere(monkeypatch):
    """The run alone: the documents jobs it queues are tested in their own files."""
    import portal.billing.run as billing

    monkeypatch.setattr(billing, "_queue_documents", lambda invoice: None)


def test_billing_run_for_day_issues_that_day_once(app_ctx):
    due = [factories.OrganizationFactory(billing_day=1) for _ in range(3)]
    other_day = factories.OrganizationFactory(billing_day=15)
    for organization in [*due, other_day]:
        factories.subscription(organization, quantity=2, added_at=JANUARY)
    db.session.commit()

    with clock.frozen(datetime(2026, 4, 1, 12, tzinfo=UTC)):
        assert billing_jobs.billing_run_for_day.call_local("2026-04-01") == 3
        assert billing_jobs.billing_run_for_day.call_local("2026-04-01") == 0  # again: nothing new

    rows = db.session.execute(select(Invoice.organization_id, Invoice.billing_date, Invoice.number)
                              .order_by(Invoice.number)).all()
    assert rows == [(organization.id, date(2026, 4, 1), number) for number, organization in enumerate(due, 1)]
    labels = db.session.scalars(select(AuditEvent.actor_label).where(AuditEvent.tag == AuditTag.INVOICE_ISSUED))
    assert set(labels) == {"system:billing"}
    assert verify().ok
