"""Browser: with the Pix simulator as the backend (the demo's `make run`), financeiro opens an open invoice in the
backoffice, clicks "Simular pagamento Pix", and the invoice turns "paga" — the Pix went through the same path as
the PSP's webhook. Every page on the way passes `check_page`."""

import pytest
from playwright.sync_api import expect

from portal.integrations.pix import SimulatedPixProvider
from portal.shared import clock
from tests.e2e import staff_data
from tests.e2e.pagecheck import PageChecks
from tests.e2e.staff_walk import flash

pytestmark = pytest.mark.e2e

FINANCEIRO = "financeiro@staff.example.com"


def test_financeiro_simulates_a_pix_and_the_invoice_is_paid(page, log_in, check_page, live_server, monkeypatch):
    app = live_server.app
    monkeypatch.setitem(app.extensions, "pix_provider",
                        SimulatedPixProvider(app.config["PIX_KEY"], "PORTAL CLOUD", "SAO PAULO"))
    checks = PageChecks(check_page)
    day = staff_data.last_day_with_day_at_most_28(clock.today())
    customer = staff_data.customer(app, billing_day=day.day)
    invoice = staff_data.issued_invoice(app, customer.organization_id, day)

    log_in(page, FINANCEIRO, totp=True)
    page.goto(f"/backoffice/faturas/{invoice['id']}")
    expect(page.get_by_role("heading", name=f"Fatura {invoice['number']}")).to_be_visible()
    expect(page.get_by_test_id("invoice-status")).to_have_text("aberta")
    checks(page)
    page.get_by_role("button", name="Simular pagamento Pix").click()

    flash(page, f"Pagamento Pix simulado recebido para a fatura {invoice['number']}")
    expect(page.get_by_test_id("invoice-status")).to_have_text("paga")
    expect(page.get_by_test_id("invoice-payments")).to_contain_text(staff_data.brl(invoice["total_cents"]))
    expect(page.get_by_role("button", name="Simular pagamento Pix")).to_have_count(0)
    checks(page)
    checks.assert_clean()
