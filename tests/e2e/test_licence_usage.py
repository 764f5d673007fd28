"""Browser: "Uso de licenças" — a tenant with unassigned and inactive licences ("reduzir N" opens "Alterar quantidades"
with the quantity less N filled in), and a tenant that has not granted consent (counts nowhere, the admin-consent
link and how to use it), refreshed from the page's own button.

Each test has its own organization (tests/e2e/customers.py); the Graph simulator answers for its tenant.
"""

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal.accounts.models import Organization
from portal.accounts.roles import Role
from portal.extensions import db
from portal.integrations.graph import InactiveUser, SimulatedTenant, SkuUsage
from tests.e2e.customers import new_customer
from tests.e2e.pagecheck import PageChecks

pytestmark = pytest.mark.e2e

STANDARD = "Microsoft 365 Business Standard"
STANDARD_SKU = ("f245ecc8-75af-4f8e-b61f-27d8114de5f3", "O365_BUSINESS_PREMIUM")


def _tenant(app, customer, tenant: SimulatedTenant) -> None:
    with app.app_context():
        tenant_id = db.session.scalar(select(Organization.microsoft_tenant_id).where(Organization.id == customer.id))
        db.session.remove()
    app.extensions["licence_usage"].set_tenant(tenant_id, tenant)


def test_reduce_n_opens_the_quantity_change_with_the_number(page, log_in, live_server, check_page):
    checks = PageChecks(check_page)
    customer = new_customer(live_server.app, licenses={"M365-STD": 12}, roles=(Role.MASTER, Role.ADM))
    _tenant(live_server.app, customer, SimulatedTenant(
        skus=[SkuUsage(*STANDARD_SKU, 12, 9)],
        inactive=[InactiveUser("ana@cliente.example.com", None, (STANDARD_SKU[1],)),
                  InactiveUser("beto@cliente.example.com", None, (STANDARD_SKU[1],))]))
    log_in(page, customer.emails[Role.ADM])
    page.goto("/licencas")
    page.get_by_test_id("usage-link").click()
    expect(page.get_by_role("heading", name="Uso de licenças", level=1)).to_be_visible()
    expect(page.get_by_test_id("no-snapshot")).to_be_visible()
    page.get_by_role("button", name="Atualizar agora").click()
    expect(page.get_by_text("Números atualizados agora.")).to_be_visible()
    row = page.get_by_test_id("usage-table").get_by_role("row").filter(has_text=STANDARD)
    expect(row.get_by_test_id("unassigned")).to_have_text("3")
    checks(page)
    page.get_by_role("button", name="Atualizar agora").click()  # again at once: throttled, said so
    expect(page.get_by_text(re.compile("Tente de novo em"))).to_be_visible()

    page.goto("/licencas")
    expect(page.get_by_test_id("licenses-table")).to_contain_text("12 compradas · 9 atribuídas · 2 inativas")
    page.get_by_test_id("usage-link").click()
    page.get_by_role("link", name=re.compile("^Reduzir 5")).click()
    expect(page).to_have_url(re.compile(r"/licencas/\d+/alterar\?reduzir=5$"))
    expect(page.get_by_label("Nova quantidade de licenças")).to_have_value("7")
    checks(page)


def test_consent_missing_says_how_to_grant_it(page, log_in, live_server, check_page):
    checks = PageChecks(check_page)
    customer = new_customer(live_server.app, licenses={"M365-STD": 4})
    _tenant(live_server.app, customer, SimulatedTenant(consent=False))
    log_in(page, customer.master_email)
    page.goto("/uso-de-licencas")
    page.get_by_role("button", name="Atualizar agora").click()
    notice = page.get_by_test_id("consent-missing")
    expect(notice).to_contain_text("Falta a autorização do seu tenant")
    expect(notice).to_contain_text("administrador global")
    expect(notice.get_by_role("link", name="Autorizar no Microsoft 365")).to_have_attribute(
        "href", re.compile(r"^https://login\.microsoftonline\.com/[0-9a-f-]{36}/adminconsent\?client_id="))
    expect(page.get_by_test_id("usage-table")).to_have_count(0)
    checks(page)
    page.goto("/licencas")
    expect(page.get_by_test_id("licenses-table")).not_to_contain_text("compradas")
