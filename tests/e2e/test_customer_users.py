"""Browser, as a customer's Master: invite a user with two roles; the invitee accepts from the e-mailed link and
sets a password; the Master changes the roles (the invitee's pages follow), then deactivates the user, who loses
access at once and finds no organization on the next sign-in.

A new organization (tests/e2e/customers.py), so the demo's "Usuários" list does not grow with every run.
"""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.customers import new_customer
from tests.e2e.pagecheck import PageChecks
from tests.e2e.test_invitation import INVITEE_PASSWORD, invitation_path

pytestmark = pytest.mark.e2e


def users_row(page: Page, email: str):
    return page.get_by_test_id("users-table").get_by_role("row").filter(has_text=email)


def open_users(page: Page) -> None:
    page.get_by_test_id("nav").get_by_role("link", name="Usuários").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Usuários")


def test_master_invites_changes_the_roles_and_deactivates_a_user(
    page, another_browser, log_in, mail_to, unique_email, live_server, check_page
):
    checks = PageChecks(check_page)
    customer = new_customer(live_server.app, licenses={"M365-BASIC": 2})
    email = unique_email("financas")

    # The Master invites someone as Adm and Cobrança.
    log_in(page, customer.master_email)
    open_users(page)
    checks(page)
    page.get_by_role("link", name="Convidar usuário").click()
    checks(page)
    page.get_by_role("button", name="Enviar convite").click()  # empty: refused on the form, nobody invited
    expect(page.get_by_role("heading", level=1)).to_have_text("Convidar usuário")
    expect(page.locator(".invalid-feedback").first).to_be_visible()
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Nome", exact=True).fill("Fernanda Finanças")
    roles = page.get_by_role("group", name="Papéis")
    roles.get_by_label("Adm", exact=True).check()
    roles.get_by_label("Cobrança", exact=True).check()
    page.get_by_role("button", name="Enviar convite").click()
    expect(page.get_by_role("status")).to_contain_text(email)
    row = users_row(page, email)
    expect(row).to_contain_text("convite pendente")
    expect(row).to_contain_text("Adm")
    expect(row).to_contain_text("Cobrança")
    checks(page)

    # The invitee accepts from the e-mail and creates a password: Adm and Cobrança's pages, not the Master's.
    message = mail_to(email)
    assert customer.trade_name in message.get_body(preferencelist=("plain",)).get_content()
    invitee = another_browser()
    invitee.goto(invitation_path(message))
    expect(invitee.get_by_role("heading", level=1)).to_have_text(f"Convite para {customer.trade_name}")
    checks(invitee)
    invitee.get_by_label("Nova senha", exact=True).fill(INVITEE_PASSWORD)
    invitee.get_by_label("Repita a nova senha").fill(INVITEE_PASSWORD)
    invitee.get_by_role("button", name="Criar acesso").click()
    expect(invitee.get_by_role("heading", level=1)).to_have_text(customer.trade_name)
    expect(invitee.get_by_test_id("my-roles")).to_contain_text("Adm")
    expect(invitee.get_by_test_id("my-roles")).to_contain_text("Cobrança")
    nav = invitee.get_by_test_id("nav")
    expect(nav.get_by_role("link", name="Faturas")).to_be_visible()
    expect(nav.get_by_role("link", name="Adicionar novos produtos")).to_be_visible()
    expect(nav.get_by_role("link", name="Usuários")).to_have_count(0)
    checks(invitee)

    # The Master changes the roles to Suporte only; the invitee's next page follows.
    open_users(page)
    row = users_row(page, email)
    expect(row).to_contain_text("ativo")
    row.get_by_role("link", name="Papéis").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Fernanda Finanças")
    checks(page)
    roles = page.get_by_role("group", name="Papéis")
    roles.get_by_label(re.compile(r"^Adm\b")).uncheck()
    roles.get_by_label(re.compile(r"^Cobrança\b")).uncheck()
    roles.get_by_label(re.compile(r"^Suporte\b")).check()
    page.get_by_role("button", name="Salvar papéis").click()
    expect(page.get_by_role("status")).to_contain_text("Papéis de Fernanda Finanças atualizados.")
    row = users_row(page, email)
    expect(row).to_contain_text("Suporte")
    expect(row).not_to_contain_text("Cobrança")
    invitee.reload()
    expect(invitee.get_by_test_id("my-roles")).to_contain_text("Suporte")
    expect(invitee.get_by_test_id("my-roles")).not_to_contain_text("Cobrança")
    expect(nav.get_by_role("link", name="Faturas")).to_have_count(0)
    expect(nav.get_by_role("link", name="Chamados")).to_be_visible()

    # The Master deactivates the user (the page asks first).
    page.once("dialog", lambda dialog: dialog.accept())
    users_row(page, email).get_by_role("button", name="Desativar").click()
    expect(users_row(page, email)).to_contain_text("desativado")
    expect(users_row(page, email).get_by_role("button", name="Reativar")).to_be_visible()
    checks(page)

    # Signing in again: the password still matches, but there is no organization to enter.
    again = another_browser()
    log_in(again, email, INVITEE_PASSWORD)
    expect(again.get_by_role("heading", level=1)).to_have_text("Você não tem acesso a nenhuma organização")
    expect(again.get_by_test_id("current-org")).to_have_count(0)
    expect(again.get_by_test_id("nav").get_by_role("link", name="Chamados")).to_have_count(0)
    response = again.goto("/chamados")
    assert response is not None and response.status == 403
    expect(again.get_by_role("heading", name="Chamados", level=1)).to_have_count(0)

    # The session the invitee had open ends too (issue 13, point 17: deactivation ends every copy of the
    # session): the next click lands on the sign-in page. (Before that fix it shows "Acesso negado".)
    invitee.get_by_test_id("nav").get_by_role("link", name="Chamados").click()
    expect(invitee).to_have_url(re.compile(r"/entrar"))
    expect(invitee.get_by_role("heading", name="Entrar no portal")).to_be_visible()
    checks.assert_clean()
