"""The demo data shows the budget card with meaningful numbers on the day it is loaded, whatever that day is."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from portal import demo
from portal.accounts.models import Organization
from portal.budgets import service as budgets
from portal.extensions import db
from portal.shared import clock


@pytest.mark.parametrize(("day", "spent"), [
    (12, True), (28, True),  # the month's invoice was issued three days before
    (2, False),  # the last invoice is April's: nothing of May billed yet, the forecast is what is measured
])
def test_the_demo_budget_is_near_80_percent_spent(app_ctx, day, spent):
    with clock.frozen(datetime(2026, 5, day, 15, tzinfo=UTC)):
        demo.load(app_ctx.config["DEMO_PASSWORD"], app_ctx.config["PASSWORD_HASH_METHOD"])
        organization = db.session.scalar(
            select(Organization).where(Organization.legal_name == demo.ORGANIZATIONS[0]["legal_name"]))
        status = budgets.budget_status(organization, clock.today())
    total = status.total
    measured = total.spend_cents if spent else total.forecast_cents
    assert (total.spend_cents > 0) is spent
    assert measured * 100 // total.budget_cents in (77, 78, 79)
    [office] = status.families
    assert office.label == "Microsoft 365" and 0 < office.budget_cents <= total.budget_cents
    assert (office.spend_cents if spent else office.forecast_cents) * 100 // office.budget_cents in (87, 88, 89)
