"""Browser, as a customer's Adm: the purchase-order number and cost centre set on a licence through the form its
page renders (issue 16 point 7), a bad value explained without losing what was typed, then saved and shown.
The page is checked at 1366 px and on a phone (check_page)."""

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal.accounts.models import Organization, User
from portal.accounts.roles import Role
from portal.catalog import cart as carts
from portal.catalog.models import Product
from portal.extensions import db
from tests.e2e.customers import new_customer
from tests.e2e.pagecheck import PageChecks

pytestmark = pytest.mark.e2e

BASIC = "Microsoft 365 Business Basic"


def test_adm_sets_a_po_and_cost_centre_on_a_licence(page, log_in, live_server, check_page):
    checks = PageChecks(check_page)
    customer = new_customer(live_server.app, licenses={"M365-BASIC": 5}, roles=(Role.MASTER, Role.ADM))
    log_in(page, customer.emails[Role.ADM])
    page.goto("/licencas")
    page.get_by_test_id("licenses-table").get_by_role("link", name=BASIC).first.click()
    expect(page).to_have_url(re.compile(r"/licencas/\d+$"))
    form = page.get_by_test_id("reference-form")
    expect(form).to_be_visible()
    checks(page)

    # Too long: the service says why, and the typed values come back.
    page.evaluate("document.querySelectorAll('[maxlength]').forEach(el => el.removeAttribute('maxlength'))")
    form.get_by_label("Pedido de compra").fill("4" * 61)
    form.get_by_label("Centro de custo").fill("TI-SP")
    form.get_by_role("button", name="Salvar").click()
    expect(page.get_by_text("Use no máximo 60 caracteres.")).to_be_visible()
    expect(page.get_by_test_id("reference-form").get_by_label("Centro de custo")).to_have_value("TI-SP")
    checks(page)

    form = page.get_by_test_id("reference-form")
    form.get_by_label("Pedido de compra").fill("4500012345")
    form.get_by_role("button", name="Salvar").click()
    expect(page.get_by_role("alert").or_(page.get_by_role("status")).filter(
        has_text="Pedido de compra e centro de custo salvos")).to_be_visible()
    form = page.get_by_test_id("reference-form")
    expect(form.get_by_label("Pedido de compra")).to_have_value("4500012345")
    expect(form.get_by_label("Centro de custo")).to_have_value("TI-SP")
    checks(page)

    # The cart's lines carry their own, in a fold under each product (looked at, at both widths).
    with live_server.app.app_context():
        organization = db.session.get(Organization, customer.id)
        user = db.session.scalar(select(User).where(User.email == customer.emails[Role.ADM]))
        product = db.session.scalar(select(Product).where(Product.sku == "M365-BASIC"))
        carts.set_cart_quantity(organization=organization, user=user, product_id=product.id, quantity=2)
        db.session.remove()
    page.goto("/carrinho")
    line = page.get_by_test_id("cart-reference")
    line.locator("summary").click()
    line.get_by_label("Centro de custo").fill("RH")
    line.get_by_role("button", name=re.compile("^Salvar")).click()
    expect(page.get_by_test_id("cart-reference").locator("summary")).to_contain_text("RH")
    page.get_by_test_id("cart-reference").locator("summary").click()
    checks(page)
    # The review before confirming shows what the licence will carry.
    page.get_by_role("button", name="Revisar pedido").click()
    expect(page.get_by_role("heading", name="Revisar pedido", level=1)).to_be_visible()
    expect(page.get_by_test_id("checkout-line").get_by_test_id("references")).to_have_text("Centro de custo: RH")
    checks(page)
    checks.assert_clean()
