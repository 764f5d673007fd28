"""Browser, approvals both ways: the Master sets a monthly threshold (from "Minha conta"), the Adm's increase above
it waits ("aguardando aprovação", nothing ordered), the Master approves it from the queue and the order appears;
then another increase is refused with a comment, which the Adm reads on the request's page.

A new organization (tests/e2e/customers.py) with a Master and an Adm and 5 Business Basic licences.
"""

import re

import pytest
from playwright.sync_api import expect

from portal.accounts.roles import Role
from tests.e2e.customers import new_customer
from tests.e2e.pagecheck import PageChecks

pytestmark = pytest.mark.e2e

PRODUCT = "Microsoft 365 Business Basic"  # R$ 36,00 per licence and month


def _ask_increase(page, quantity: int) -> None:
    page.get_by_role("navigation", name="Navegação principal").get_by_role("link", name="Licenças").click()
    row = page.get_by_test_id("licenses-table").get_by_role("row").filter(has_text=PRODUCT)
    row.get_by_role("link", name=re.compile("Alterar quantidades")).click()
    page.get_by_label("Nova quantidade de licenças").fill(str(quantity))
    page.get_by_role("button", name="Ver valores antes de confirmar").click()
    page.get_by_role("button", name="Confirmar").click()


def test_an_increase_waits_is_approved_and_another_is_refused(page, log_in, live_server, check_page,
                                                               another_browser):
    checks = PageChecks(check_page)
    customer = new_customer(live_server.app, licenses={"M365-BASIC": 5}, roles=(Role.MASTER, Role.ADM))

    # The Master: "Minha conta" → "Aprovações de compras" → "Ver as regras": R$ 100,00 a month.
    log_in(page, customer.master_email)
    page.goto("/conta")
    page.get_by_test_id("approvals-link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Aprovações de compras")
    expect(page.get_by_test_id("nothing-waiting")).to_be_visible()
    checks(page)
    page.get_by_role("link", name="Ver as regras").click()
    form = page.get_by_test_id("rules-form")
    form.get_by_label("Valor mensal acima de").fill("cem")
    form.get_by_role("button", name="Salvar regras").click()
    expect(page.locator("#monthly-error")).to_have_text("Valor inválido: use o formato 1.234,56.")
    expect(form.get_by_label("Valor mensal acima de")).to_have_value("cem")
    form.get_by_label("Valor mensal acima de").fill("100,00")
    form.get_by_role("button", name="Salvar regras").click()
    expect(page.get_by_role("status").filter(has_text="Regras de aprovação salvas.")).to_be_visible()
    checks(page)

    # The Adm: 5 → 10 adds R$ 180,00 a month, above R$ 100,00: it waits, nothing is ordered.
    adm = another_browser()
    log_in(adm, customer.emails[Role.ADM])
    _ask_increase(adm, 10)
    expect(adm).to_have_url(re.compile(r"/aprovacoes/\d+$"))
    expect(adm.get_by_test_id("approval-status")).to_have_text("aguardando aprovação")
    expect(adm.get_by_test_id("approval-reasons")).to_contain_text(
        "valor mensal de R$ 180,00, acima do limite de R$ 100,00")
    expect(adm.get_by_test_id("decision-form")).to_have_count(0)
    checks(adm)

    # The Master approves it from the queue; the order appears.
    page.get_by_role("link", name="Aprovações de compras").click()
    page.get_by_test_id("waiting").get_by_role("link", name=re.compile(r"^nº \d+$")).click()
    expect(page.get_by_test_id("approval-summary")).to_contain_text(f"{PRODUCT}: 5 → 10")
    checks(page)
    page.get_by_label("Comentário").fill("Previsto no orçamento.")
    page.get_by_role("button", name="Aprovar e confirmar o pedido").click()
    expect(page.get_by_role("status").filter(has_text="Compra aprovada e pedido registrado")).to_be_visible()
    expect(page.get_by_test_id("approval-status")).to_have_text("aprovada")
    expect(page.get_by_test_id("approval-orders").get_by_role("link", name=re.compile(r"^Pedido nº \d+$"))) \
        .to_have_count(1)
    checks(page)
    adm.reload()
    expect(adm.get_by_test_id("approval-status")).to_have_text("aprovada")

    # Another increase, refused with a comment the Adm reads.
    _ask_increase(adm, 20)
    expect(adm.get_by_test_id("approval-status")).to_have_text("aguardando aprovação")
    page.goto("/aprovacoes")
    page.get_by_test_id("waiting").get_by_role("link", name=re.compile(r"^nº \d+$")).click()
    page.get_by_role("button", name="Recusar").click()
    expect(page.locator("#comment-error")).to_have_text("Escreva o motivo da recusa: quem pediu vai lê-lo.")
    page.get_by_label("Comentário").fill("Sem verba neste trimestre.")
    page.get_by_role("button", name="Recusar").click()
    expect(page.get_by_role("status").filter(has_text="Compra recusada. Avisamos quem pediu.")).to_be_visible()
    adm.reload()
    expect(adm.get_by_test_id("approval-status")).to_have_text("recusada")
    expect(adm.get_by_test_id("decision-comment")).to_have_text("Sem verba neste trimestre.")
    checks(adm)
    checks.assert_clean()
