"""Browser, as a signed-in customer: the footer's language switch turns "Licenças" into English, the choice holds on
the next page, and the switch back returns the same page in Portuguese. Every page is checked (point 21)."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.customers import new_customer
from tests.e2e.pagecheck import PageChecks

pytestmark = pytest.mark.e2e

# Words of the customer pages that must not stay in Portuguese on an English page (issue 13, point 9).
PORTUGUESE = ("Licenças", "Faturas", "Adicionar novos produtos", "Alterar quantidades", "Sair", "Início",
              "por mês", "renova em")


def switch_language(page: Page, label: str, button: str) -> None:
    page.get_by_role("contentinfo").get_by_role("combobox").select_option(label=label)
    page.get_by_role("contentinfo").get_by_role("button", name=button).click()


def test_customer_switches_to_english_and_back(page, log_in, live_server, check_page):
    checks = PageChecks(check_page)
    customer = new_customer(live_server.app, licenses={"M365-BASIC": 3})
    log_in(page, customer.master_email)
    page.get_by_role("navigation", name="Navegação principal").get_by_role("link", name="Licenças").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Licenças")
    expect(page.get_by_role("contentinfo").get_by_label("Idioma")).to_have_value("pt_BR")

    switch_language(page, "English", "Mudar")
    expect(page).to_have_url(re.compile(r"/licencas$"))
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=1)).to_have_text("Licenses")
    nav = page.get_by_role("navigation", name="Main navigation")
    expect(nav.get_by_role("link", name="Add new products")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    row = page.get_by_test_id("licenses-table").get_by_role("row").filter(has_text="Microsoft 365 Business Basic")
    expect(row.get_by_role("link", name=re.compile("^Change quantities"))).to_be_visible()
    main = page.get_by_role("main").inner_text() + page.get_by_role("banner").inner_text()
    assert not [word for word in PORTUGUESE if word in main], main
    checks(page)

    # The choice holds for the next page of the visit.
    nav.get_by_role("link", name="Invoices").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=1)).to_have_text("Invoices")
    checks(page)

    # And back: the same page, in Portuguese.
    switch_language(page, "Português (Brasil)", "Change")
    expect(page).to_have_url(re.compile(r"/faturas$"))
    expect(page.locator("html")).to_have_attribute("lang", "pt-BR")
    expect(page.get_by_role("heading", level=1)).to_have_text("Faturas")
    expect(page.get_by_role("navigation", name="Navegação principal").get_by_role("link", name="Licenças")) \
        .to_be_visible()
    checks(page)
    checks.assert_clean()
