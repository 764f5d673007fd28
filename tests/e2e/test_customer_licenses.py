"""Browser, as a customer's Master: "Alterar quantidades" up (pró-rata shown, confirmed) and down (credit inside the
window), then "Adicionar novos produtos" filtered by family, to the cart, reviewed, confirmed, the order listed.

Each test has its own organization (tests/e2e/customers.py): what it changes, no other test counts on.
"""

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from portal.accounts.models import Organization
from portal.billing.prorata import prorated_amount
from portal.extensions import db
from portal.shared import clock
from portal.shared.money import format_brl
from portal.shared.periods import monthly_period
from tests.e2e.customers import new_customer
from tests.e2e.pagecheck import PageChecks

pytestmark = pytest.mark.e2e

BASIC = "Microsoft 365 Business Basic"  # R$ 36,00 per license and month in the demo catalog
ENTRA = "Microsoft Entra ID P1"  # family Segurança, R$ 36,00
DEFENDER_O365 = "Microsoft Defender for Office 365 (Plano 1)"  # family Segurança


def license_row(page: Page, product: str):
    return page.get_by_test_id("licenses-table").get_by_role("row").filter(has_text=product)


def open_licenses(page: Page) -> None:
    page.get_by_role("navigation", name="Navegação principal").get_by_role("link", name="Licenças").click()
    expect(page).to_have_url(re.compile(r"/licencas$"))
    expect(page.get_by_role("heading", name="Licenças", level=1)).to_be_visible()


def test_master_increases_then_decreases_a_quantity(page, log_in, live_server, check_page):
    checks = PageChecks(check_page)
    customer = new_customer(live_server.app, licenses={"M365-BASIC": 5})
    log_in(page, customer.master_email)
    open_licenses(page)
    checks(page)
    row = license_row(page, BASIC)
    expect(row.get_by_test_id("quantity")).to_have_text("5")

    # Up by 3: the review shows the pró-rata of this period, and nothing changes before "Confirmar".
    row.get_by_role("link", name=re.compile("^Alterar quantidades")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Alterar quantidades: {BASIC}")
    checks(page)
    page.get_by_label("Nova quantidade de licenças").fill("8")
    page.get_by_role("button", name="Ver valores antes de confirmar").click()
    expect(page).to_have_url(re.compile(r"/licencas/orcamento/\w+$"))
    expect(page.get_by_role("heading", name="Confira antes de confirmar")).to_be_visible()
    with live_server.app.app_context():
        billing_day = db.session.scalar(select(Organization.billing_day).where(Organization.id == customer.id))
        db.session.remove()
    today = clock.today()
    start, end = monthly_period(billing_day, today)
    prorata = format_brl(prorated_amount(3600, 3, start, end, today))
    charge = page.get_by_test_id("quote-lines").locator('[data-kind="charge"]')
    expect(charge).to_contain_text("+3 licenças a R$ 36,00")
    expect(charge).to_contain_text(prorata)
    expect(page.get_by_test_id("next-invoice")).to_contain_text(f"{prorata} de pró-rata")
    expect(page.get_by_test_id("quote-summary")).to_contain_text("de 5 para 8 licenças")
    expect(page.get_by_test_id("new-recurring")).to_contain_text("R$ 288,00")  # 8 × R$ 36,00
    checks(page)
    page.get_by_role("button", name="Confirmar").click()
    expect(page).to_have_url(re.compile(r"/licencas$"))
    expect(page.get_by_role("status").filter(has_text="Pedido registrado")).to_be_visible()
    expect(license_row(page, BASIC).get_by_test_id("quantity")).to_have_text("8")

    # Down by 2: bought minutes ago, so inside the decrease window: a credit, effective now.
    license_row(page, BASIC).get_by_role("link", name=re.compile("^Alterar quantidades")).click()
    page.get_by_label("Nova quantidade de licenças").fill("6")
    page.get_by_role("button", name="Ver valores antes de confirmar").click()
    credit = page.get_by_test_id("quote-lines").locator('[data-kind="credit"]')
    expect(credit).to_contain_text("−2 licenças dentro da janela")
    expect(credit).to_contain_text("crédito de R$")
    expect(page.get_by_test_id("quote-lines").locator('[data-kind="scheduled"]')).to_have_count(0)
    expect(page.get_by_test_id("next-invoice")).to_contain_text("crédito de R$")
    expect(page.get_by_test_id("new-recurring")).to_contain_text("R$ 216,00")  # 6 × R$ 36,00
    checks(page)
    page.get_by_role("button", name="Confirmar").click()
    expect(page).to_have_url(re.compile(r"/licencas$"))
    expect(page.get_by_role("status").filter(has_text="Pedido registrado")).to_be_visible()
    row = license_row(page, BASIC)
    expect(row.get_by_test_id("quantity")).to_have_text("6")

    # The order of the decrease is followed from the row to its page.
    row.get_by_test_id("order-state").get_by_role("link", name=re.compile(r"Pedido nº \d+")).click()
    expect(page).to_have_url(re.compile(r"/pedidos/\d+$"))
    expect(page.get_by_role("main")).to_contain_text(BASIC)
    checks(page)
    checks.assert_clean()


def test_a_decrease_after_the_window_is_scheduled_for_the_term_end(page, log_in, live_server, check_page):
    checks = PageChecks(check_page)
    customer = new_customer(live_server.app, licenses={"M365-BASIC": 6}, bought_days_ago=20)  # window: 7 days
    log_in(page, customer.master_email)
    open_licenses(page)
    row = license_row(page, BASIC)
    term_end = re.search(r"renova em (\d\d/\d\d/\d{4})", row.inner_text()).group(1)
    row.get_by_role("link", name=re.compile("^Alterar quantidades")).click()
    page.get_by_label("Nova quantidade de licenças").fill("4")
    page.get_by_role("button", name="Ver valores antes de confirmar").click()

    scheduled = page.get_by_test_id("quote-lines").locator('[data-kind="scheduled"]')
    expect(scheduled).to_contain_text(f"2 licenças saem no fim do termo, em {term_end}, sem crédito")
    expect(page.get_by_test_id("quote-lines").locator('[data-kind="credit"]')).to_have_count(0)
    expect(page.get_by_test_id("next-invoice")).to_contain_text("nada muda: sem cobrança e sem crédito")
    expect(page.get_by_test_id("at-renewal")).to_contain_text("4 licenças")
    checks(page)
    page.get_by_role("button", name="Confirmar").click()

    # Until the term ends the 6 licenses stay (and are billed); the row says what happens at the renewal.
    expect(page).to_have_url(re.compile(r"/licencas$"))
    expect(page.get_by_role("status").filter(has_text="Pedido registrado")).to_be_visible()
    row = license_row(page, BASIC)
    expect(row.get_by_test_id("quantity")).to_have_text("6")
    expect(row).to_contain_text(f"2 licenças a menos a partir de {term_end}")
    checks(page)
    checks.assert_clean()


def test_master_buys_a_new_product_from_the_catalog_filtered_by_family(page, log_in, live_server, check_page):
    checks = PageChecks(check_page)
    customer = new_customer(live_server.app, licenses={"M365-BASIC": 2})
    log_in(page, customer.master_email)
    nav = page.get_by_role("navigation", name="Navegação principal")
    nav.get_by_role("link", name="Adicionar novos produtos").click()
    expect(page).to_have_url(re.compile(r"/produtos$"))
    checks(page)

    # The family filter keeps only that family's products.
    page.get_by_label("Família de produtos").select_option(label="Segurança")
    page.get_by_role("button", name="Filtrar").click()
    expect(page).to_have_url(re.compile(r"/produtos\?.*familia=\d+"))
    cards = page.get_by_test_id("product-card")
    expect(cards).to_have_count(3)  # Defender for Business, Defender for Office 365 (Plano 1), Entra ID P1
    expect(page.get_by_test_id("products")).not_to_contain_text(BASIC)
    checks(page)

    for product, quantity in ((ENTRA, "3"), (DEFENDER_O365, "2")):
        card = cards.filter(has_text=product)
        card.get_by_label("Quantidade").fill(quantity)
        card.get_by_role("button", name="Adicionar ao carrinho").click()
        expect(page.get_by_role("status").filter(has_text="adicionadas ao carrinho")).to_be_visible()

    # In the cart: one product removed, the other's quantity changed.
    page.get_by_test_id("cart-link").click()
    expect(page).to_have_url(re.compile(r"/carrinho$"))
    expect(page.get_by_test_id("cart-line")).to_have_count(2)
    checks(page)
    page.get_by_test_id("cart-line").filter(has_text=DEFENDER_O365).get_by_role("button", name="Remover").click()
    expect(page.get_by_role("status").filter(has_text="Produto removido do carrinho.")).to_be_visible()
    line = page.get_by_test_id("cart-line")
    expect(line).to_have_count(1)
    line.get_by_label(f"Quantidade de {ENTRA}").fill("4")
    line.get_by_role("button", name="Atualizar").click()
    expect(page.get_by_role("status").filter(has_text="Carrinho atualizado.")).to_be_visible()
    expect(page.get_by_test_id("cart-line").get_by_label(f"Quantidade de {ENTRA}")).to_have_value("4")
    expect(page.get_by_test_id("cart-totals")).to_contain_text("R$ 144,00 por mês")
    checks(page)
    page.get_by_role("button", name="Revisar pedido").click()

    expect(page).to_have_url(re.compile(r"/carrinho/orcamento/[0-9a-f]{32}$"))
    line = page.get_by_test_id("checkout-line").filter(has_text=ENTRA)
    expect(line.get_by_test_id("prorata")).to_contain_text("agora, pelo período de")
    expect(line.get_by_test_id("recurring")).to_contain_text("R$ 144,00 por mês")  # 4 × R$ 36,00
    expect(page.get_by_test_id("charge")).to_contain_text("R$")
    checks(page)
    page.get_by_role("button", name="Confirmar compra").click()

    expect(page).to_have_url(re.compile(r"/licencas$"))
    expect(page.get_by_role("status").filter(has_text="Pedido registrado")).to_be_visible()
    row = license_row(page, ENTRA)
    expect(row.get_by_test_id("quantity")).to_have_text("4")
    order = row.get_by_test_id("order-state")
    expect(order).to_contain_text(re.compile(r"Pedido nº \d+"))
    order.get_by_role("link").click()
    expect(page.get_by_role("main")).to_contain_text(ENTRA)
    checks(page)

    # The cart is empty again.
    page.get_by_test_id("cart-link").click()
    expect(page.get_by_test_id("empty-cart")).to_be_visible()
    checks.assert_clean()
