"""Browser: a new customer's Master is told at checkout to accept the contract, is refused without "Li e aceito",
accepts it, then buys. (The attestation of an acceptance made outside the portal is staff-side: backoffice tests.)

The organization is new (tests/e2e/customers.py), so the test does not depend on, nor use up, the demo's only
organization without an acceptance."""

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal.agreements.models import AgreementAcceptance
from portal.extensions import db
from tests.e2e.customers import new_customer
from tests.e2e.pagecheck import PageChecks

pytestmark = pytest.mark.e2e

PRODUCT = "TEAMS-ESS"  # Microsoft Teams Essentials


def acceptances(app, organization_id: int) -> list[tuple[str, str, str]]:
    with app.app_context():
        rows = db.session.execute(
            select(AgreementAcceptance.method, AgreementAcceptance.email, AgreementAcceptance.provider_status)
            .where(AgreementAcceptance.organization_id == organization_id).order_by(AgreementAcceptance.id)
        ).all()
        db.session.remove()
        return [tuple(row) for row in rows]


def test_master_accepts_the_agreement_and_the_checkout_becomes_possible(page, log_in, live_server, check_page):
    checks = PageChecks(check_page)
    customer = new_customer(live_server.app, accepted=False)
    master = customer.master_email
    assert acceptances(live_server.app, customer.id) == []
    log_in(page, master)
    nav = page.get_by_test_id("nav")
    expect(nav.get_by_role("link", name=re.compile("Contrato"))).to_contain_text("pendente")

    # A product in the cart, then "Revisar pedido": refused, with the way to accept.
    nav.get_by_role("link", name="Adicionar novos produtos").click()
    card = page.locator(f'[data-testid="product-card"][data-sku="{PRODUCT}"]')
    card.get_by_label("Quantidade").fill("3")
    card.get_by_role("button", name="Adicionar ao carrinho").click()
    expect(page.get_by_role("status").filter(has_text="adicionadas ao carrinho")).to_be_visible()
    nav.get_by_test_id("cart-link").click()
    page.get_by_role("button", name="Revisar pedido").click()
    expect(page).to_have_url(re.compile(r"/carrinho$"))
    refusal = page.get_by_role("alert")
    expect(refusal).to_contain_text("Para comprar ou aumentar licenças, aceite antes")
    expect(refusal).to_contain_text("Contrato de Cliente da Microsoft")
    expect(refusal).to_contain_text("Termos de serviço do Portal Cloud")
    expect(refusal).to_contain_text("/contrato")
    expect(refusal).to_contain_text("Li e aceito")
    checks(page)

    # "Contrato": read, tick "Li e aceito" on each, accept.
    nav.get_by_role("link", name=re.compile("Contrato")).click()
    expect(page).to_have_url(re.compile(r"/contrato$"))
    expect(page.get_by_role("heading", name="Contrato", level=1)).to_be_visible()
    expect(page.get_by_test_id("acceptor-name")).to_have_text(customer.master_name)
    checks(page)

    # "Aceitar" without ticking anything: refused on the form, nothing recorded.
    page.get_by_role("button", name="Aceitar").click()
    expect(page.get_by_text("Marque “Li e aceito” no contrato que você aceita.")).to_be_visible()
    assert acceptances(live_server.app, customer.id) == []
    checks(page)

    for kind in ("microsoft_mca", "reseller_terms"):
        section = page.get_by_test_id(f"agreement-{kind}")
        expect(section.get_by_test_id("agreement-status")).to_have_text("Não fornecido")
        section.get_by_label("Li e aceito").check()
    page.get_by_label("Telefone").fill("(21) 3000-1234")
    page.get_by_role("button", name="Aceitar").click()
    expect(page.get_by_role("status").filter(has_text="Contrato aceito.")).to_be_visible()
    for kind in ("microsoft_mca", "reseller_terms"):
        section = page.get_by_test_id(f"agreement-{kind}")
        expect(section.get_by_test_id("agreement-status")).to_have_text("Fornecido")
        expect(section.get_by_test_id("agreement-accepted")).to_contain_text(
            f"Aceito no portal por {customer.master_name}")
    expect(nav.get_by_role("link", name=re.compile("Contrato"))).not_to_contain_text("pendente")
    checks(page)
    assert acceptances(live_server.app, customer.id) == [("accepted", master, "done"),  # the MCA reached Microsoft
                                                         ("accepted", master, "not_needed")]

    # The same cart now goes through to the purchase.
    nav.get_by_test_id("cart-link").click()
    page.get_by_role("button", name="Revisar pedido").click()
    expect(page).to_have_url(re.compile(r"/carrinho/orcamento/[0-9a-f]{32}$"))
    page.get_by_role("button", name="Confirmar compra").click()
    expect(page).to_have_url(re.compile(r"/licencas$"))
    expect(page.get_by_role("status").filter(has_text="Pedido registrado")).to_be_visible()
    expect(page.get_by_test_id("licenses-table")).to_contain_text("Microsoft Teams Essentials")
    checks(page)
    checks.assert_clean()
