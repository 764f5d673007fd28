"""Fixtures of the orders tests: a frozen day with Demo Tecnologia's Microsoft tenant, and the provisioner to use."""

from datetime import UTC, datetime

import pytest

from portal.extensions import db
from portal.shared import clock

NOW = datetime(2026, 3, 11, 15, 0, tzinfo=UTC)


@pytest.fixture
def setting(app_ctx, world):
    """2026-03-11 15:00 UTC, frozen; Demo Tecnologia billed on day 1 with the Microsoft tenant "tenant-demo"."""
    world.demo.billing_day = 1
    world.demo.microsoft_tenant_id = "tenant-demo"
    db.session.commit()
    with clock.frozen(NOW):
        yield clock


@pytest.fixture
def use_provisioner(app_ctx):
    """`use_provisioner(p)`: orders go to `p` for the rest of the test."""
    original = app_ctx.extensions["provisioner"]

    def use(provisioner):
        app_ctx.extensions["provisioner"] = provisioner
        return provisioner

    yield use
    app_ctx.extensions["provisioner"] = original
