"""The demo data: Demo Tecnologia has approval rules and one request waiting on the day the demo is loaded."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from portal import demo
from portal.accounts.models import Organization
from portal.approvals import service as approvals
from portal.approvals.models import ApprovalStatus
from portal.extensions import db
from portal.shared import clock


@pytest.mark.parametrize("day", [2, 28])
def test_the_demo_master_sees_a_request_waiting(app_ctx, day):
    with clock.frozen(datetime(2026, 5, day, 15, tzinfo=UTC)):
        demo.load(app_ctx.config["DEMO_PASSWORD"], app_ctx.config["PASSWORD_HASH_METHOD"])
        organization = db.session.scalar(
            select(Organization).where(Organization.legal_name == demo.ORGANIZATIONS[0]["legal_name"]))
        rules = approvals.rules_of(organization.id)
        [waiting] = approvals.queue(organization).waiting
    assert rules.monthly_cents == demo.DEMO_APPROVAL_MONTHLY_CENTS
    assert waiting.status == ApprovalStatus.WAITING and waiting.monthly_cents > demo.DEMO_APPROVAL_MONTHLY_CENTS
    assert waiting.requested_by.email == demo.ORGANIZATIONS[0]["users"][1][0]
