"""Browser: financeiro opens "Régua de cobrança" from the billing area, adds a step five days before the due date
through the form the page renders, and finds it listed; the page passes `check_page` (1366 px and a phone)."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.staff_walk import flash, staff_nav

pytestmark = pytest.mark.e2e


def test_financeiro_adds_a_step_to_the_dunning_schedule(page, log_in, live_server, check_page):
    log_in(page, "financeiro@staff.example.com", totp=True)
    staff_nav(page, "Faturas")
    page.get_by_role("link", name="Régua de cobrança").click()
    expect(page).to_have_url(re.compile(r"/backoffice/regua-de-cobranca$"))
    expect(page.get_by_role("heading", name="Régua de cobrança", level=1)).to_be_visible()
    steps = page.get_by_test_id("dunning-steps")
    expect(steps).to_contain_text("3 dias antes do vencimento")
    expect(steps.locator('[data-offset="-5"]')).to_have_count(0)
    check_page(page)

    form = page.get_by_test_id("dunning-step-form")
    form.get_by_label("Dia em relação ao vencimento").fill("-5")
    form.get_by_label("Assunto do e-mail").fill("Sua fatura {fatura} vence {prazo}")
    form.get_by_label("Mensagem").fill("Olá! A fatura {fatura} de {empresa}, de {valor}, vence {prazo}.")
    form.get_by_role("button", name="Adicionar etapa").click()

    flash(page, "Etapa “5 dias antes do vencimento” adicionada à régua.")
    added = page.get_by_test_id("dunning-steps").locator('[data-offset="-5"]')
    expect(added).to_contain_text("5 dias antes do vencimento")
    expect(added).to_contain_text("Sua fatura {fatura} vence {prazo}")
    expect(added).to_contain_text("ativa")
    check_page(page)

    page.get_by_role("link", name="Prévia do e-mail 5 dias antes do vencimento").click()
    expect(page.get_by_test_id("preview-subject")).to_have_text(re.compile(r"^Sua fatura \d{4}-\d{6} vence em 5 dias$"))
    check_page(page)
