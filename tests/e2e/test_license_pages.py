"""Browser: an organization with more licenses than a page holds. "Licenças" and "Renovações" show 25 at a time and
say where the page sits; the Adm follows "Próxima" to the rest (the totals still count every license), changes a
quantity from the second page and comes back to it, and cancels a license there and comes back to it too."""

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from portal.accounts.models import Organization
from portal.accounts.roles import Role
from portal.catalog.models import Product
from portal.extensions import db
from portal.shared import clock
from portal.shared.money import format_brl
from tests import factories
from tests.e2e.conftest import DEMO_PASSWORD
from tests.e2e.customers import new_customer
from tests.e2e.pagecheck import PageChecks

pytestmark = pytest.mark.e2e

BASIC = "M365-BASIC"  # Microsoft 365 Business Basic: annual term, billed monthly
COUNT = 27


def _with_many_licenses(app) -> tuple[str, int]:
    """A new customer (Master and Adm) with COUNT subscriptions of Business Basic, the n-th with n licenses; the Adm's
    e-mail and what they all cost a month."""
    customer = new_customer(app, roles=(Role.MASTER, Role.ADM))
    with app.app_context():
        organization = db.session.get(Organization, customer.id)
        product = db.session.scalar(select(Product).where(Product.sku == BASIC))
        price = product.price_on(clock.today()).unit_price_cents
        for n in range(1, COUNT + 1):
            factories.subscription(organization, product=product, quantity=n)
        db.session.commit()
        db.session.remove()
    return customer.emails[Role.ADM], price * COUNT * (COUNT + 1) // 2


def _rows(page: Page, table: str):
    return page.get_by_test_id(table).locator("tbody > tr")


def test_an_adm_pages_through_licenses_and_renewals(page, log_in, live_server, check_page):
    checks = PageChecks(check_page)
    adm, monthly_total = _with_many_licenses(live_server.app)
    log_in(page, adm)
    page.get_by_role("navigation", name="Navegação principal").get_by_role("link", name="Licenças").click()
    expect(page.get_by_test_id("page-position")).to_have_text(f"Mostrando 1–25 de {COUNT} licenças")
    expect(_rows(page, "licenses-table")).to_have_count(25)
    expect(page.get_by_test_id("totals")).to_contain_text(format_brl(monthly_total))
    checks(page)

    page.get_by_role("navigation", name="Paginação").get_by_role("link", name="Próxima").click()
    expect(page).to_have_url(re.compile(r"/licencas\?pagina=2$"))
    expect(page.get_by_test_id("page-position")).to_have_text(f"Mostrando 26–{COUNT} de {COUNT} licenças")
    expect(_rows(page, "licenses-table")).to_have_count(COUNT - 25)
    expect(page.get_by_test_id("totals")).to_contain_text(format_brl(monthly_total))
    checks(page)
    last = _rows(page, "licenses-table").filter(has=page.get_by_test_id("quantity").get_by_text(str(COUNT), exact=True))
    last.get_by_role("link", name=re.compile("Alterar quantidades")).click()
    expect(page.get_by_label("Nova quantidade de licenças")).to_have_value(str(COUNT))
    page.get_by_label("Nova quantidade de licenças").fill(str(COUNT + 1))
    page.get_by_role("button", name="Ver valores antes de confirmar").click()
    page.get_by_role("button", name="Confirmar").click()
    # Back on the page the change started from, with its row.
    expect(page).to_have_url(re.compile(r"/licencas\?pagina=2$"))
    expect(page.get_by_role("status").filter(has_text="Pedido registrado")).to_be_visible()
    quantities = _rows(page, "licenses-table").get_by_test_id("quantity")
    expect(quantities.get_by_text(str(COUNT + 1), exact=True)).to_be_visible()
    page.get_by_role("navigation", name="Paginação").get_by_role("link", name="Anterior").click()
    expect(page.get_by_test_id("page-position")).to_have_text(f"Mostrando 1–25 de {COUNT} licenças")

    page.get_by_role("navigation", name="Navegação principal").get_by_role("link", name="Renovações").click()
    expect(page.get_by_test_id("page-position")).to_have_text(f"Mostrando 1–25 de {COUNT} renovações")
    expect(_rows(page, "renewals-table")).to_have_count(25)
    checks(page)
    page.get_by_role("navigation", name="Paginação").get_by_role("link", name="Próxima").click()
    expect(_rows(page, "renewals-table")).to_have_count(COUNT - 25)
    checks(page)

    # A license cancelled from the second page (its term is annual, bought before the cancellation window: it ends with
    # the term, still listed where it was): the confirmation comes back to that page, the row saying so.
    page.get_by_role("navigation", name="Navegação principal").get_by_role("link", name="Licenças").click()
    page.get_by_role("navigation", name="Paginação").get_by_role("link", name="Próxima").click()
    row = _rows(page, "licenses-table").filter(has=page.get_by_test_id("quantity").get_by_text("26", exact=True))
    row.get_by_role("link", name=re.compile("^Cancelar")).click()
    page.get_by_label("Motivo do cancelamento").select_option(label="Não utiliza mais")
    page.get_by_label("Explique o motivo").fill("A equipe que usava estas licenças foi desligada no mês passado.")
    page.get_by_role("button", name="Ver as consequências antes de confirmar").click()
    expect(page.get_by_role("heading", name="Confira antes de cancelar")).to_be_visible()
    page.get_by_role("textbox", name="Sua senha").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Confirmar cancelamento").click()
    expect(page).to_have_url(re.compile(r"/licencas\?pagina=2$"))
    expect(page.get_by_role("status").filter(has_text="Cancelamento registrado")).to_be_visible()
    row = _rows(page, "licenses-table").filter(has=page.get_by_test_id("quantity").get_by_text("26", exact=True))
    expect(row).to_contain_text("Cancelamento agendado para o fim do termo")
    checks(page)
    checks.assert_clean()
