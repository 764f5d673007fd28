"""Browser: an Adm changes a quantity, sees the preview in R$, confirms, and follows the order to "concluído"."""

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal.accounts.models import Organization
from portal.billing.prorata import prorated_amount
from portal.extensions import db
from portal.integrations.partner_center import PartnerCenterSimulator
from portal.shared import clock
from portal.shared.money import format_brl
from portal.shared.periods import monthly_period
from portal.subscriptions.jobs import sweep_orders
from tests.e2e.pagecheck import PageChecks

pytestmark = pytest.mark.e2e

DELAY_SECONDS = 5  # the simulator answers "accepted" and completes this much later (as in `make run`)


@pytest.fixture
def slow_provider(live_server):
    """Orders reach a simulator that takes a moment, so the page can show them pending first."""
    app = live_server.app
    original = app.extensions["provisioner"]
    app.extensions["provisioner"] = PartnerCenterSimulator(delay_seconds=DELAY_SECONDS)
    yield app
    app.extensions["provisioner"] = original


def run_consumer_sweep_a_minute_later(app) -> None:
    """What the job consumer does every minute: poll the orders the provider accepted (a minute on)."""
    with clock.frozen(clock.now() + timedelta(minutes=1)), app.app_context():
        sweep_orders.call_local()


def test_adm_changes_a_quantity_and_follows_the_order(page, log_in, slow_provider, check_page):
    checks = PageChecks(check_page)
    log_in(page, "adm@demo.example.com")
    page.get_by_role("navigation", name="Navegação principal").get_by_role("link", name="Licenças").click()
    row = page.get_by_test_id("licenses-table").get_by_role("row").filter(has_text="Microsoft Defender for Business")
    before = int(row.get_by_test_id("quantity").inner_text())
    checks(page)
    row.get_by_role("link", name=re.compile("Alterar quantidades")).click()
    checks(page)

    page.get_by_label("Nova quantidade de licenças").fill(str(before + 3))
    page.get_by_role("button", name="Ver valores antes de confirmar").click()

    today = clock.today()
    with slow_provider.app_context():  # the demo's billing day follows the day it was loaded
        billing_day = db.session.scalar(select(Organization.billing_day).where(
            Organization.legal_name == "Demo Tecnologia Ltda"))
    start, end = monthly_period(billing_day, today)
    expected = format_brl(prorated_amount(1800, 3, start, end, today))  # R$ 18,00 per license and month
    lines = page.get_by_test_id("quote-lines")
    expect(lines).to_contain_text("+3 licenças a R$ 18,00")
    expect(lines).to_contain_text(expected)
    expect(page.get_by_test_id("next-invoice")).to_contain_text(expected)
    expect(page.get_by_test_id("new-recurring")).to_contain_text(format_brl((before + 3) * 1800))

    checks(page)
    page.get_by_role("button", name="Confirmar").click()
    expect(page).to_have_url(re.compile(r"/licencas$"))
    expect(page.get_by_role("status").filter(has_text="Pedido registrado")).to_be_visible()
    row = page.get_by_test_id("licenses-table").get_by_role("row").filter(has_text="Microsoft Defender for Business")
    expect(row.get_by_test_id("quantity")).to_have_text(str(before + 3))
    state = row.get_by_test_id("order-state")
    expect(state).to_contain_text("enviado")
    expect(state).to_contain_text("será refletido em até 30 minutos")
    checks(page)

    run_consumer_sweep_a_minute_later(slow_provider)
    page.reload()
    state = page.get_by_test_id("licenses-table").get_by_role("row").filter(
        has_text="Microsoft Defender for Business").get_by_test_id("order-state")
    expect(state).to_contain_text("concluído")
    expect(state).not_to_contain_text("30 minutos")
    state.get_by_role("link").click()
    expect(page.get_by_role("main")).to_contain_text("Pedido concluído.")
    checks(page)
    checks.assert_clean()
