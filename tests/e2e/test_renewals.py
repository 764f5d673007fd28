"""Browser: "Renovações" (issue 17 points 4-5). The demo's calendar (annual renewals within 60 days, one with a change
scheduled, a lot inside its window); then, for an organization of its own, an Adm schedules a change for the next
term through the rendered forms (choice, confirmation, saved), withdraws it, and starts "Não renovar" with a reason,
which lands on the cancellation's own confirmation."""

import re

import pytest
from playwright.sync_api import Page, expect

from portal.accounts.roles import Role
from tests.e2e.customers import new_customer
from tests.e2e.pagecheck import PageChecks

pytestmark = pytest.mark.e2e

ENTRA = "Microsoft Entra ID P1"  # R$ 36,00 per license and month in the demo catalog
DEFENDER_O365 = "Microsoft Defender for Office 365 (Plano 1)"
BASIC = "Microsoft 365 Business Basic"


def open_renewals(page: Page) -> None:
    page.get_by_role("navigation", name="Navegação principal").get_by_role("link", name="Renovações").click()
    expect(page).to_have_url(re.compile(r"/renovacoes$"))
    expect(page.get_by_role("heading", name="Renovações", level=1)).to_be_visible()


def renewal_row(page: Page, product: str):
    return page.get_by_test_id("renewals-table").get_by_role("row").filter(has_text=product)


def test_the_demo_calendar_shows_renewals_a_scheduled_change_and_a_window(page, log_in, check_page):
    checks = PageChecks(check_page)
    log_in(page, "adm@demo.example.com")
    open_renewals(page)
    checks(page)
    # The demo's own subscriptions renew soonest: other browser tests of the session may have bought the same
    # products for Demo Tecnologia since (test_offers buys Entra ID P1), renewing a year from now.
    defender = renewal_row(page, DEFENDER_O365).first
    expect(defender.get_by_test_id("scheduled")).to_be_visible()
    expect(defender).to_contain_text("hoje 15 → 12")
    expect(renewal_row(page, ENTRA).first).to_contain_text("Mudar a renovação")
    expect(renewal_row(page, BASIC).first).to_contain_text("2 licenças até")  # the lot added two days ago
    page.get_by_role("link", name="Mostrar também as renovações mensais").click()
    expect(page).to_have_url(re.compile(r"/renovacoes\?mensais=1$"))
    expect(renewal_row(page, "Backup em Nuvem 500 GB")).to_be_visible()
    checks(page)
    checks.assert_clean()


def test_an_adm_schedules_a_change_withdraws_it_and_starts_not_renewing(page, log_in, live_server, check_page):
    checks = PageChecks(check_page)
    customer = new_customer(live_server.app, licenses={"M365-BASIC": 10}, roles=(Role.MASTER, Role.ADM),
                            bought_days_ago=330)
    log_in(page, customer.emails[Role.ADM])
    open_renewals(page)
    renewal_row(page, BASIC).get_by_role("link", name=re.compile("^Mudar a renovação")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Mudar a renovação: {BASIC}")
    checks(page)

    # An upgrade with fewer licenses: the confirmation says what changes and what it costs; nothing saved before.
    page.get_by_label("Produto e termo a partir da renovação").select_option(
        label="Microsoft 365 Business Standard — termo anual, cobrança mensal")
    page.get_by_label("Licenças a partir da renovação").fill("8")
    page.get_by_role("button", name="Ver o que muda antes de agendar").click()
    expect(page.get_by_role("heading", name="Confira antes de agendar")).to_be_visible()
    expect(page.get_by_test_id("next-term-changes")).to_contain_text(
        "Upgrade: de Microsoft 365 Business Basic para Microsoft 365 Business Standard")
    expect(page.get_by_test_id("next-term-changes")).to_contain_text("Licenças: de 10 para 8")
    expect(page.get_by_test_id("next-term-value")).to_contain_text("R$ 631,20 por mês")  # 8 × R$ 78,90
    checks(page)
    page.get_by_role("button", name="Agendar a mudança").click()
    expect(page.get_by_role("status").filter(has_text="Mudança agendada para a renovação")).to_be_visible()
    expect(page.get_by_test_id("next-term-change")).to_contain_text("Microsoft 365 Business Standard, 8 licenças")
    checks(page)

    # Shown on the calendar; withdrawn from the license's page.
    open_renewals(page)
    expect(renewal_row(page, BASIC).get_by_test_id("next-product")).to_contain_text("Business Standard")
    checks(page)
    renewal_row(page, BASIC).get_by_role("link", name=BASIC, exact=True).click()
    page.get_by_role("button", name="Retirar a mudança").click()
    expect(page.get_by_role("status").filter(has_text="Mudança retirada")).to_be_visible()
    expect(page.get_by_test_id("next-term-change")).to_contain_text("nenhuma: renova como está")

    # Not renewing: a cancellation with its reason, confirmed on the cancellation's own page.
    page.get_by_role("link", name="Mudar a renovação").click()
    form = page.get_by_test_id("not-renew-form")
    form.get_by_role("button", name="Continuar para não renovar").click()
    expect(page.get_by_test_id("not-renew-form").locator(".invalid-feedback").first).to_be_visible()
    page.get_by_test_id("not-renew-form").get_by_label("Motivo do cancelamento").select_option(label="Custo")
    page.get_by_test_id("not-renew-form").get_by_label("Explique o motivo").fill(
        "Vamos reduzir a equipe no próximo ano.")
    page.get_by_test_id("not-renew-form").get_by_role("button", name="Continuar para não renovar").click()
    expect(page).to_have_url(re.compile(r"/licencas/cancelamento/\w+$"))
    expect(page.locator("main")).to_contain_text("Vamos reduzir a equipe no próximo ano.")
    checks(page)
    checks.assert_clean()
