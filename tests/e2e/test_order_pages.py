"""Browser: what the cancellation page says for one licence and for some licences (issue 13 point 14a), and the
staff offer page once the customer accepted another quantity (point 14b), as people see them."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


def open_cancel(page, product: str) -> None:
    page.goto("/licencas")
    row = page.get_by_test_id("licenses-table").get_by_role("row").filter(has_text=product)
    row.get_by_role("link", name=re.compile("^Cancelar")).click()
    expect(page.get_by_test_id("cancel-rules")).to_be_visible()


def test_the_cancel_page_speaks_of_one_licence_and_of_the_others_as_they_are(page, log_in, check_page):
    log_in(page, "adm@demo.example.com")
    open_cancel(page, "Backup em Nuvem 500 GB")  # one licence, no decrease window
    rules = page.get_by_test_id("cancel-rules")
    expect(rules).to_contain_text("A licença segue em uso até o fim do termo")
    expect(rules).not_to_contain_text("As demais")
    check_page(page)
    open_cancel(page, "Microsoft 365 Business Basic")  # 3 bought long ago, 2 two days ago (inside the window)
    rules = page.get_by_test_id("cancel-rules")
    expect(rules).to_contain_text("As outras 3 licenças seguem em uso até o fim do termo")
    expect(rules).to_contain_text("2 licenças podem ser canceladas com crédito até")
    expect(rules).not_to_contain_text("As demais")
    check_page(page)


def test_the_staff_offer_page_shows_the_quantity_the_customer_accepted(page, log_in, another_browser, check_page):
    product = "Microsoft 365 E3"  # no other browser test buys it for Demo Tecnologia
    log_in(page, "comercial@staff.example.com", totp=True)
    page.goto("/backoffice/ofertas/nova")
    page.get_by_label("Escritório do parceiro").fill("São Paulo (matriz)")
    organization = page.get_by_label("Organização")
    organization.select_option(organization.locator("option", has_text="Demo Tecnologia Ltda").get_attribute("value"))
    page.get_by_label(product, exact=True).fill("4")
    page.get_by_role("button", name="Criar oferta").click()
    page.get_by_role("button", name="Enviar oferta").click()
    expect(page.get_by_test_id("offer-status")).to_have_text("enviada")
    offer_page, url = page.url, page.get_by_test_id("offer-url").input_value()

    customer = another_browser()
    log_in(customer, "master@demo.example.com")
    customer.goto(url)
    customer.get_by_label(product, exact=True).fill("6")  # the Master takes 6 of the 4 offered
    customer.get_by_role("button", name="Aceitar oferta").click()
    expect(customer.get_by_test_id("checkout-lines")).to_contain_text(f"6 licenças de {product}")
    customer.get_by_role("button", name="Confirmar compra").click()
    expect(customer).to_have_url(re.compile(r"/licencas$"))

    page.goto(offer_page)
    expect(page.get_by_test_id("offer-status")).to_have_text("aceita")
    lines = page.get_by_test_id("offer-lines")
    expect(lines.get_by_role("columnheader", name="Licenças oferecidas")).to_be_visible()
    expect(lines.get_by_role("columnheader", name="Licenças aceitas")).to_be_visible()
    row = lines.get_by_role("row").filter(has_text=product)
    expect(row.get_by_test_id("offered-quantity")).to_have_text("4")
    expect(row.get_by_test_id("accepted-quantity")).to_have_text("6")
    check_page(page)
