"""Browser, as a customer's Master: "Orçamento" from the navigation, a bad amount refused on the form, then the
organization's and a family's monthly budget set through the rendered form, and the card with the month's spend
and forecast against them. Cobrança (who gets the e-mails) does not see the page.

A new organization (tests/e2e/customers.py), so the demo's budget stays as the demo sets it.
"""

import pytest
from playwright.sync_api import expect

from portal.accounts.roles import Role
from tests.e2e.customers import new_customer
from tests.e2e.pagecheck import PageChecks

pytestmark = pytest.mark.e2e


def test_master_sets_the_budget_and_sees_the_card(page, log_in, live_server, check_page, another_browser):
    checks = PageChecks(check_page)
    customer = new_customer(live_server.app, licenses={"M365-BASIC": 5}, roles=(Role.MASTER, Role.COBRANCA))

    log_in(page, customer.master_email)
    page.get_by_test_id("nav").get_by_role("link", name="Orçamento").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Orçamento")
    expect(page.get_by_test_id("no-budget")).to_be_visible()
    checks(page)

    # A bad amount: refused on its field, what was typed kept.
    form = page.get_by_test_id("budget-form")
    form.get_by_label("Orçamento mensal da organização").fill("mil reais")
    form.get_by_role("button", name="Salvar orçamento").click()
    expect(page.locator("#total-error")).to_have_text("Valor inválido: use o formato 1.234,56.")
    expect(form.get_by_label("Orçamento mensal da organização")).to_have_value("mil reais")
    checks(page)

    # The organization's budget and Microsoft 365's, typed as a Brazilian types them.
    form.get_by_label("Orçamento mensal da organização").fill("2.500,00")
    form.get_by_label("Microsoft 365", exact=True).fill("1.000")
    form.get_by_role("button", name="Salvar orçamento").click()
    expect(page.get_by_role("status")).to_contain_text("Orçamento salvo.")
    card = page.get_by_test_id("budget-card")
    expect(card).to_contain_text("de R$ 2.500,00")
    expect(card).to_contain_text("Previsão para o mês: R$")
    bars = card.get_by_role("progressbar")
    expect(bars).to_have_count(2)
    expect(bars.first).to_have_attribute("max", "250000")
    expect(bars.first).to_have_accessible_name("Gasto até hoje · orçamento mensal da organização")
    family = card.get_by_test_id("budget-family")
    expect(family).to_contain_text("Microsoft 365")
    expect(family).to_contain_text("de R$ 1.000,00")
    expect(form.get_by_label("Orçamento mensal da organização")).to_have_value("2.500,00")
    checks(page)

    # Cobrança receives the e-mails but does not set the budget: no link, and the page is refused.
    cobranca = another_browser()
    log_in(cobranca, customer.emails[Role.COBRANCA])
    expect(cobranca.get_by_test_id("nav").get_by_role("link", name="Orçamento")).to_have_count(0)
    assert cobranca.goto("/orcamento").status == 403
    checks.assert_clean()
