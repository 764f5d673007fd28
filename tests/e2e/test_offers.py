"""Browser: comercial creates and sends a purchase offer; the Master opens the link, changes a count, accepts and
confirms; back in the backoffice the offer is "aceita" with who accepted it."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import DEMO_PASSWORD

pytestmark = pytest.mark.e2e

PRODUCTS = {"Microsoft 365 Business Premium": 5, "Microsoft Entra ID P1": 10}


def test_comercial_sends_an_offer_and_the_master_accepts_it(page, log_in, another_browser, mail_to):
    log_in(page, "comercial@staff.example.com", totp=True)
    page.get_by_role("navigation", name="Navegação principal").get_by_role("link", name="Ofertas").click()
    expect(page.get_by_role("heading", name="Ofertas de compra")).to_be_visible()
    page.get_by_role("link", name="Nova oferta").click()

    page.get_by_label("Escritório do parceiro").fill("São Paulo (matriz)")
    organization = page.get_by_label("Organização")
    demo = organization.locator("option", has_text="Demo Tecnologia Ltda").get_attribute("value")
    organization.select_option(demo)
    expect(page.get_by_label("Local de uso")).to_have_value("BR")
    for product, quantity in PRODUCTS.items():
        page.get_by_label(product, exact=True).fill(str(quantity))
    page.get_by_label("Oferecer administração delegada").check()
    page.get_by_label("Mensagem ao cliente").fill("Condição especial para a Demo Tecnologia até o fim do mês.")
    page.get_by_role("button", name="Criar oferta").click()

    heading = page.get_by_role("heading", name=re.compile(r"Oferta de compra OF-\d{4}-\d{6}"))
    expect(heading).to_be_visible()
    summary = re.search(r"OF-\d{4}-\d{6}", heading.inner_text()).group(0)
    expect(page.get_by_test_id("offer-status")).to_have_text("rascunho")
    page.get_by_label("Enviar também por e-mail aos Masters da organização").check()
    page.get_by_role("button", name="Enviar oferta").click()
    expect(page.get_by_role("status").filter(has_text="Oferta enviada")).to_be_visible()
    expect(page.get_by_test_id("offer-status")).to_have_text("enviada")
    url = page.get_by_test_id("offer-url").input_value()
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/oferta/[A-Za-z0-9_-]{43}", url), url
    expect(page.get_by_test_id("offer-copy")).to_contain_text(summary)
    assert url in mail_to("master@demo.example.com").get_body(("plain",)).get_content()

    customer = another_browser()
    customer.goto(url)
    expect(customer.get_by_test_id("offer-prospect")).to_contain_text("cadastre a sua empresa")
    customer.get_by_role("link", name="Entrar para ver a oferta").click()
    customer.get_by_label("E-mail").fill("master@demo.example.com")
    customer.get_by_label("Senha", exact=True).fill(DEMO_PASSWORD)
    customer.get_by_role("button", name="Entrar", exact=True).click()
    expect(customer).to_have_url(url)
    expect(customer.get_by_role("heading", name="Oferta de compra")).to_be_visible()
    expect(customer.get_by_test_id("offer-message")).to_have_text(
        "Condição especial para a Demo Tecnologia até o fim do mês.")
    lines = customer.get_by_test_id("offer-lines")
    expect(lines).to_contain_text("R$ 132,50 por licença/mês")
    expect(customer.get_by_label("Microsoft 365 Business Premium", exact=True)).to_have_value("5")

    customer.get_by_label("Microsoft Entra ID P1", exact=True).fill("12")
    customer.get_by_label("Aceito a administração delegada").check()
    customer.get_by_role("button", name="Aceitar oferta").click()
    checkout = customer.get_by_test_id("checkout-lines")
    expect(checkout).to_contain_text("5 licenças de Microsoft 365 Business Premium")
    expect(checkout).to_contain_text("12 licenças de Microsoft Entra ID P1")
    expect(customer.get_by_test_id("delegated-admin")).to_have_text("aceita")
    customer.get_by_role("button", name="Confirmar compra").click()
    expect(customer).to_have_url(re.compile(r"/licencas$"))
    expect(customer.get_by_role("status").filter(has_text=f"Oferta {summary} aceita. Pedido registrado")
           ).to_be_visible()

    page.goto("/backoffice/ofertas")
    row = page.get_by_test_id("offer-row").filter(has_text=summary)
    expect(row.get_by_test_id("offer-status")).to_have_text("aceita")
    expect(row.get_by_test_id("offer-accepted")).to_contain_text("Marina Master · Demo Tecnologia")
    expect(row.get_by_test_id("offer-openings")).to_contain_text("Marina Master")
