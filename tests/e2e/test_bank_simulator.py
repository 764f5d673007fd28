"""Browser: financeiro opens "Banco", downloads today's remessa, and in the bank's simulator (a demonstration)
ticks the boleto of a new invoice and generates the retorno; the summary says 1 pago, and the invoice is paid
with its boleto registered at the bank. Every page on the way passes `check_page` (1366 px and a phone)."""

import pytest
from playwright.sync_api import expect

from portal.shared import clock
from tests.e2e import staff_data
from tests.e2e.pagecheck import PageChecks
from tests.e2e.staff_walk import staff_nav

pytestmark = pytest.mark.e2e

FINANCEIRO = "financeiro@staff.example.com"


def test_financeiro_watches_a_boleto_registered_and_paid_through_the_simulator(page, log_in, check_page,
                                                                                 live_server):
    checks = PageChecks(check_page)
    day = staff_data.last_day_with_day_at_most_28(clock.today())
    customer = staff_data.customer(live_server.app, billing_day=day.day)
    invoice = staff_data.issued_invoice(live_server.app, customer.organization_id, day)
    number = invoice["number"]

    log_in(page, FINANCEIRO, totp=True)
    staff_nav(page, "Faturas")
    page.get_by_role("link", name="Banco", exact=True).click()
    expect(page.get_by_role("heading", name="Banco", level=1)).to_be_visible()
    simulator = page.get_by_test_id("bank-simulator")
    expect(simulator.get_by_role("heading", name="Simulador do banco (demonstração)")).to_be_visible()
    checks(page)

    with page.expect_download() as download:
        page.get_by_role("button", name="Baixar a remessa de hoje").click()
    assert download.value.suggested_filename.endswith(".rem")
    page.reload()
    expect(page.get_by_test_id("today-remessa")).to_contain_text("Remessa de hoje: NSA")
    row = simulator.get_by_test_id("simulator-entry").filter(has_text=number)
    expect(row).to_contain_text(customer.legal_name)
    expect(row).to_contain_text(staff_data.brl(invoice["total_cents"]))
    checks(page)
    row.get_by_role("checkbox", name=f"Pagar a fatura {number}").check()
    simulator.get_by_role("button", name="Gerar retorno simulado").click()

    expect(page.get_by_test_id("retorno-summary")).to_contain_text("1 pago(s)")
    expect(page.get_by_test_id("simulated-download")).to_contain_text("Baixar o retorno simulado")
    checks(page)

    page.get_by_test_id("bank-simulator").get_by_role("link", name=number).click()
    expect(page.get_by_role("heading", name=f"Fatura {number}")).to_be_visible()
    expect(page.get_by_test_id("invoice-status")).to_have_text("paga")
    expect(page.get_by_test_id("boleto-registration").first).to_have_text("registrado")
    expect(page.get_by_test_id("invoice-payments")).to_contain_text(staff_data.brl(invoice["total_cents"]))
    checks(page)
    checks.assert_clean()
