"""Browser, issue 16: the customer's IBGE city code (the NFS-e's cMun). Finance fills it on the organization page,
where it shows "não informado" first; the customer's Master corrects it on Usuários. Every page on the way passes
`check_page`."""

import pytest
from playwright.sync_api import expect

from portal.accounts.models import Organization
from portal.extensions import db
from tests.e2e import staff_data
from tests.e2e.pagecheck import PageChecks
from tests.e2e.staff_walk import flash, search, staff_nav

pytestmark = pytest.mark.e2e

FINANCEIRO = "financeiro@staff.example.com"


def test_finance_and_the_master_set_the_city_code(page, log_in, another_browser, check_page, page_watch,
                                                  live_server):
    checks = PageChecks(check_page)
    customer = staff_data.customer(live_server.app, billing_day=10)
    with live_server.app.app_context():
        organization = db.session.scalar(db.select(Organization).where(Organization.legal_name == customer.legal_name))
        organization.city_code = ""
        db.session.commit()

    log_in(page, FINANCEIRO, totp=True)
    staff_nav(page, "Organizações")
    found = search(page, checks, "organizations-table", {"Buscar": customer.legal_name}, button="Buscar")
    found.get_by_role("link", name=customer.legal_name).click()
    expect(page.get_by_test_id("city-code")).to_contain_text("não informado")
    checks(page)
    page.get_by_label("Código IBGE do município").fill("123")
    page.get_by_role("button", name="Salvar código IBGE").click()
    expect(page.get_by_text("Informe os 7 dígitos do código IBGE.")).to_be_visible()
    checks(page)
    page.get_by_label("Código IBGE do município").fill("3550308")
    page.get_by_role("button", name="Salvar código IBGE").click()
    flash(page, "Código IBGE do município salvo.")
    expect(page.get_by_test_id("city-code")).to_have_text("3550308")
    checks(page)

    master = another_browser()
    log_in(master, customer.master_email)
    master.get_by_role("navigation", name="Navegação principal").get_by_role("link", name="Usuários").click()
    expect(master.get_by_label("Código IBGE do município")).to_have_value("3550308")
    checks(master)
    master.get_by_label("Código IBGE do município").fill("3304557")
    master.get_by_role("button", name="Salvar código IBGE").click()
    flash(master, "Código IBGE do município salvo.")
    expect(master.get_by_label("Código IBGE do município")).to_have_value("3304557")
    checks(master)
    checks.assert_clean()
