"""Browser, issue 13 point 17: "Sair" ends the session, not just this browser's cookie (a copy taken before reads
nothing after), and "Sair de todos os dispositivos" in "Minha conta" ends every session of the user at once.

Written against the behaviour the issue asks for: on the code before that fix both fail (the copied cookie still
opens "Faturas"; the button does not exist).
"""

import re

import pytest
from playwright.sync_api import expect

from portal.accounts.roles import Role
from tests.e2e.customers import new_customer
from tests.e2e.pagecheck import PageChecks

pytestmark = pytest.mark.e2e


def test_a_session_cookie_copied_before_sair_opens_nothing_after_it(page, another_browser, log_in, live_server,
                                                                    check_page):
    checks = PageChecks(check_page)
    customer = new_customer(live_server.app, roles=(Role.MASTER, Role.COBRANCA), licenses={"M365-BASIC": 1})
    log_in(page, customer.emails[Role.COBRANCA])
    page.get_by_role("navigation", name="Navegação principal").get_by_role("link", name="Faturas").click()
    expect(page.get_by_role("heading", name="Faturas", level=1)).to_be_visible()
    copied = page.context.cookies()  # what someone with access to this computer could take

    page.get_by_role("button", name="Sair", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Você saiu do portal.")
    checks(page)

    thief = another_browser()
    thief.context.add_cookies(copied)
    thief.goto("/faturas")
    expect(thief).to_have_url(re.compile(r"/entrar"))
    expect(thief.get_by_role("heading", name="Entrar no portal")).to_be_visible()
    expect(thief.get_by_role("heading", name="Faturas")).to_have_count(0)
    checks.assert_clean()


def test_sair_de_todos_os_dispositivos_ends_every_session_of_the_user(page, another_browser, log_in, live_server,
                                                                      check_page):
    checks = PageChecks(check_page)
    customer = new_customer(live_server.app)
    laptop = another_browser()
    log_in(laptop, customer.master_email)
    log_in(page, customer.master_email)

    page.get_by_role("link", name=customer.master_name).click()
    checks(page)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Sair de todos os dispositivos").click()
    expect(page).to_have_url(re.compile(r"/entrar"))
    expect(page.get_by_role("status")).to_contain_text("Você saiu do portal em todos os dispositivos.")
    checks(page)

    laptop.get_by_role("navigation", name="Navegação principal").get_by_role("link", name="Licenças").click()
    expect(laptop).to_have_url(re.compile(r"/entrar"))
    expect(laptop.get_by_role("heading", name="Entrar no portal")).to_be_visible()
    checks.assert_clean()
