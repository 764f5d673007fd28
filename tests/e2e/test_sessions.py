"""In the browser (issue 13 point 17): a session cookie copied into another browser stops working when its
owner clicks "Sair" or "Sair de todos os dispositivos" on "Minha conta"."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.customers import new_customer

pytestmark = pytest.mark.e2e


def copy_of_the_session(page: Page, another_browser) -> Page:
    """Another browser holding a copy of `page`'s cookies (what someone who copied the cookie has)."""
    thief = another_browser()
    thief.context.add_cookies(page.context.cookies())
    return thief


def expect_invoices(page: Page) -> None:
    page.goto("/faturas")
    expect(page).to_have_url(re.compile(r"/faturas$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Faturas")


def expect_sent_to_sign_in(page: Page) -> None:
    page.goto("/faturas")
    expect(page).to_have_url(re.compile(r"/entrar\?next="))
    expect(page.get_by_role("heading", name="Entrar no portal")).to_be_visible()


def test_sair_de_todos_os_dispositivos_ends_a_copied_session(page, log_in, another_browser, check_page):
    log_in(page, "cobranca@demo.example.com")
    expect_invoices(page)
    thief = copy_of_the_session(page, another_browser)
    expect_invoices(thief)

    page.goto("/")
    page.locator('a[href="/conta"]').first.click()  # the user's name in the header opens "Minha conta"
    expect(page).to_have_url(re.compile(r"/conta$"))
    expect(page.get_by_role("heading", name="Sessões")).to_be_visible()
    check_page(page)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Sair de todos os dispositivos").click()

    expect(page).to_have_url(re.compile(r"/entrar$"))
    expect(page.get_by_role("status")).to_contain_text("Você saiu do portal em todos os dispositivos.")
    expect_sent_to_sign_in(thief)
    expect_sent_to_sign_in(page)


def test_sair_ends_a_copied_session(page, log_in, another_browser, check_page):
    log_in(page, "master@demo.example.com")
    thief = copy_of_the_session(page, another_browser)
    expect_invoices(thief)
    page.get_by_role("button", name="Sair", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Você saiu do portal.")
    check_page(page)
    expect_sent_to_sign_in(thief)


def test_a_reset_by_e_mail_ends_a_copied_session_and_its_link_is_on_base_url(
        page, log_in, another_browser, mail_to, live_server, check_page):
    email = new_customer(live_server.app).master_email  # its own user: the password changes here
    log_in(page, email)
    thief = copy_of_the_session(page, another_browser)
    expect_invoices(thief)

    person = another_browser()
    person.goto("/entrar")
    person.get_by_role("link", name="Esqueci minha senha").click()
    person.get_by_label("E-mail").fill(email)
    person.get_by_role("button", name="Enviar link").click()
    expect(person.get_by_role("heading", name="Verifique seu e-mail")).to_be_visible()
    check_page(person)
    body = mail_to(email).get_body(("plain",)).get_content()
    link = re.search(r"https?://\S+/senha/redefinir/\S+", body).group(0)
    assert link.startswith(live_server.url + "/")  # BASE_URL, whatever Host the request carried

    person.goto(link)
    expect(person.get_by_role("heading", name="Criar nova senha")).to_be_visible()
    person.get_by_label("Nova senha", exact=True).fill("Jabuticaba#Doce42")
    person.get_by_label("Repita a nova senha").fill("Jabuticaba#Doce42")
    person.get_by_role("button", name="Salvar nova senha").click()
    expect(person.get_by_role("status").or_(person.get_by_role("alert")).first).to_contain_text("Senha redefinida.")

    expect_sent_to_sign_in(thief)
    expect_sent_to_sign_in(page)
