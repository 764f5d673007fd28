"""Billing fixtures. Invoices made directly (no billing run, no jobs), with their documents: `factories.invoice`."""

import pytest

from portal.billing.settings import BillingSettings


@pytest.fixture
def billing_settings(app_ctx):
    return BillingSettings.from_config(app_ctx.config)

