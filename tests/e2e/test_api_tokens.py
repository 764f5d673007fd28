"""Browser, as a customer's Master: Minha conta → Integrações → Tokens de API; a token created through the rendered
form is shown once, a `requests` call with it reads /api/v1/organization, the list then shows its last use, and
revoking it (confirmed) shuts the API to it. The API reference (vendored Redoc) renders under its CSP."""

import pytest
import requests
from playwright.sync_api import expect

from portal.accounts.roles import Role
from tests.e2e.customers import new_customer
from tests.e2e.pagecheck import PageChecks

pytestmark = pytest.mark.e2e


def test_master_creates_a_token_uses_it_and_revokes_it(page, log_in, live_server, check_page, page_watch):
    checks = PageChecks(check_page)
    customer = new_customer(live_server.app, roles=(Role.MASTER, Role.COBRANCA))

    log_in(page, customer.master_email)
    page.goto("/conta")
    page.get_by_role("link", name="Tokens de API").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Tokens de API")
    expect(page.get_by_test_id("no-tokens")).to_be_visible()
    checks(page)

    form = page.get_by_test_id("token-form")
    form.get_by_role("button", name="Criar token").click()  # no name: refused on its field
    expect(page.locator("#name-error")).to_have_text("Preencha este campo.")
    checks(page)
    form.get_by_label("Nome", exact=True).fill("ERP financeiro")
    form.get_by_label("Adm", exact=True).uncheck()
    form.get_by_label("Cobrança", exact=True).check()
    form.get_by_role("button", name="Criar token").click()
    shown = page.get_by_test_id("new-token-text")
    expect(shown).to_be_visible()
    token = shown.input_value()
    assert token.startswith("ptk_")
    checks(page)

    answer = requests.get(f"{live_server.url}/api/v1/organization", headers={"Authorization": f"Bearer {token}"},
                          timeout=10)
    assert answer.status_code == 200 and answer.json()["legal_name"] == customer.legal_name
    assert requests.get(f"{live_server.url}/api/v1/users", headers={"Authorization": f"Bearer {token}"},
                        timeout=10).status_code == 403  # Cobrança does not manage users

    page.goto("/integracoes/tokens")
    expect(page.get_by_test_id("new-token")).to_have_count(0)  # shown once
    assert token not in page.content()
    row = page.get_by_test_id("token-row")
    expect(row).to_contain_text("ERP financeiro")
    expect(row).to_contain_text("Cobrança")
    expect(row.get_by_test_id("token-last-use")).not_to_contain_text("nunca usado")
    checks(page)

    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Revogar").click()
    expect(page.get_by_role("status")).to_contain_text("revogado")
    expect(page.get_by_test_id("token-row")).to_contain_text("revogado")
    checks(page)
    assert requests.get(f"{live_server.url}/api/v1/organization", headers={"Authorization": f"Bearer {token}"},
                        timeout=10).status_code == 401

    page.get_by_role("link", name="Referência da API").click()
    expect(page.get_by_role("heading", name="Portal Cloud — API", level=1)).to_be_visible()
    expect(page.get_by_text("/api/v1/subscriptions").first).to_be_attached()
    assert not page_watch.problems, page_watch.problems  # no console error, CSP refusal or missing asset
    checks.assert_clean()
