"""Browser, as a customer user: change the password in "Minha conta" (another signed-in browser of the same user is
signed out, issue 13 point 17), then "Esqueci minha senha" from the sign-in page, the e-mailed link (on the
portal's own address, point 15), a new password; the old one no longer works.

The user is a new organization's Master (tests/e2e/customers.py): the demo password stays the demo's.
"""

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import DEMO_PASSWORD
from tests.e2e.customers import new_customer
from tests.e2e.pagecheck import PageChecks

pytestmark = pytest.mark.e2e

CHANGED = "Trovoada-Verde-3318!"  # noqa: S105 - throwaway passwords of a throwaway user
RESET = "Maresia-Clara-5127!"  # noqa: S105


def sign_in(page: Page, email: str, password: str) -> None:
    page.goto("/entrar")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Senha", exact=True).fill(password)
    page.get_by_role("button", name="Entrar", exact=True).click()


def test_customer_changes_the_password_then_resets_it_from_the_emailed_link(
    page, another_browser, log_in, mail_to, live_server, check_page
):
    checks = PageChecks(check_page)
    customer = new_customer(live_server.app)
    email = customer.master_email
    elsewhere = another_browser()  # the same person, signed in on another computer
    log_in(elsewhere, email)
    log_in(page, email)

    # "Minha conta" → "Alterar senha": the current password is checked first.
    page.get_by_role("link", name=customer.master_name).click()
    form = page.get_by_role("region", name="Alterar senha")
    checks(page)
    form.get_by_label("Senha atual").fill("nao-e-esta")
    form.get_by_label("Nova senha", exact=True).fill(CHANGED)
    form.get_by_label("Repita a nova senha").fill(CHANGED)
    form.get_by_role("button", name="Alterar senha").click()
    form = page.get_by_role("region", name="Alterar senha")
    expect(form.locator(".invalid-feedback").first).to_be_visible()
    checks(page)
    form.get_by_label("Senha atual").fill(DEMO_PASSWORD)
    form.get_by_label("Nova senha", exact=True).fill(CHANGED)
    form.get_by_label("Repita a nova senha").fill(CHANGED)
    form.get_by_role("button", name="Alterar senha").click()
    expect(page.get_by_role("status").filter(has_text="Senha alterada.")).to_be_visible()
    expect(page.get_by_test_id("nav")).to_be_visible()  # this browser stays signed in
    checks(page)

    # Signed out: "Esqueci minha senha" from the sign-in page.
    page.get_by_role("button", name="Sair", exact=True).click()
    expect(page.get_by_role("heading", name="Entrar no portal")).to_be_visible()
    page.get_by_role("link", name="Esqueci minha senha").click()
    expect(page.get_by_role("heading", name="Esqueci minha senha")).to_be_visible()
    checks(page)
    page.get_by_label("E-mail").fill(email)
    page.get_by_role("button", name="Enviar link").click()
    expect(page.get_by_role("heading", name="Verifique seu e-mail")).to_be_visible()
    checks(page)

    text = mail_to(email).get_body(preferencelist=("plain",)).get_content()
    link = re.search(r"https?://\S+/senha/redefinir/[\w.\-~]+", text)
    assert link, text
    assert link.group(0).startswith(f"{live_server.url}/"), link.group(0)  # the portal's address (BASE_URL)
    page.goto(urlsplit(link.group(0)).path)
    expect(page.get_by_role("heading", name="Criar nova senha")).to_be_visible()
    checks(page)
    page.get_by_label("Nova senha", exact=True).fill(RESET)
    page.get_by_label("Repita a nova senha").fill(RESET)
    page.get_by_role("button", name="Salvar nova senha").click()
    expect(page.get_by_role("status").filter(has_text="Senha redefinida. Entre com a nova senha.")).to_be_visible()

    # The old passwords are refused, the new one lets the user in.
    for old in (DEMO_PASSWORD, CHANGED):
        sign_in(page, email, old)
        expect(page.get_by_role("alert")).to_have_text("E-mail ou senha incorretos.")
    sign_in(page, email, RESET)
    expect(page.get_by_role("heading", level=1)).to_have_text(customer.trade_name)
    checks(page)

    # The other computer's session ended with the password change (issue 13, point 17).
    elsewhere.get_by_role("navigation", name="Navegação principal").get_by_role("link", name="Início").click()
    expect(elsewhere).to_have_url(re.compile(r"/entrar"))
    expect(elsewhere.get_by_role("heading", name="Entrar no portal")).to_be_visible()
    checks.assert_clean()
