"""Browser, as a customer user: "Minha conta" → enable two-step verification (the key read off the page, the code
computed as an authenticator app would), the recovery codes shown once; the next sign-ins ask for a code, and a
recovery code works once. And a Master who requires it of everyone: a member who never enrolled is taken
through the enrolment on the next sign-in.

The users are a new organization's (tests/e2e/customers.py): the demo users keep signing in without a code.
"""

import re
import time

import pyotp
import pytest
from playwright.sync_api import Page, expect

from portal.accounts.roles import Role
from tests.e2e.conftest import DEMO_PASSWORD
from tests.e2e.customers import new_customer
from tests.e2e.pagecheck import PageChecks

pytestmark = pytest.mark.e2e


def sign_in_with_password(page: Page, email: str) -> None:
    page.goto("/entrar")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Senha", exact=True).fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Entrar", exact=True).click()


def log_out(page: Page) -> None:
    page.get_by_role("button", name="Sair", exact=True).click()
    expect(page.get_by_role("heading", name="Entrar no portal")).to_be_visible()


def test_customer_enrols_in_two_step_verification_and_the_next_sign_in_asks_for_the_code(
    page, log_in, live_server, check_page
):
    checks = PageChecks(check_page)
    customer = new_customer(live_server.app)
    log_in(page, customer.master_email)

    # "Minha conta" (the name in the header) → "Ativar".
    page.get_by_role("link", name=customer.master_name).click()
    expect(page).to_have_url(re.compile(r"/conta$"))
    section = page.get_by_role("region", name="Verificação em duas etapas")
    expect(section).to_contain_text("Proteja sua conta")
    checks(page)
    section.get_by_role("link", name="Ativar").click()
    expect(page.get_by_role("heading", name="Configurar verificação em duas etapas")).to_be_visible()
    expect(page.get_by_role("img", name="QR code para o aplicativo autenticador")).to_be_visible()
    secret = page.get_by_test_id("totp-secret").inner_text().strip()
    totp = pyotp.TOTP(secret)
    checks(page)

    # A wrong code is refused on the form; the key stays the same.
    wrong = "000000" if totp.now() != "000000" else "111111"
    page.get_by_label("Código de 6 dígitos do aplicativo").fill(wrong)
    page.get_by_role("button", name="Ativar").click()
    expect(page.locator(".invalid-feedback")).to_be_visible()
    expect(page.get_by_test_id("totp-secret")).to_have_text(secret)
    checks(page)

    page.get_by_label("Código de 6 dígitos do aplicativo").fill(totp.now())
    page.get_by_role("button", name="Ativar").click()
    expect(page.get_by_role("heading", name="Guarde seus códigos de recuperação")).to_be_visible()
    codes = [code.strip() for code in page.get_by_test_id("recovery-codes").locator("li").all_inner_texts()]
    assert len(codes) >= 8 and len(set(codes)) == len(codes), codes
    checks(page)
    page.get_by_role("link", name="Já guardei, continuar").click()
    section = page.get_by_role("region", name="Verificação em duas etapas")
    expect(section).to_contain_text("Ativa")
    expect(section).to_contain_text(f"Códigos de recuperação restantes: {len(codes)}")
    checks(page)

    # The next sign-in asks for the code; the code of the next 30-second step (the one just used would be a
    # replay) lets the user in.
    log_out(page)
    sign_in_with_password(page, customer.master_email)
    expect(page).to_have_url(re.compile(r"/entrar/verificacao$"))
    expect(page.get_by_test_id("nav")).to_have_count(0)
    checks(page)
    page.get_by_label("Código de verificação ou código de recuperação").fill(wrong)
    page.get_by_role("button", name="Verificar").click()
    expect(page.get_by_text("Código inválido.")).to_be_visible()
    page.get_by_label("Código de verificação ou código de recuperação").fill(totp.at(time.time() + 30))
    page.get_by_role("button", name="Verificar").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(customer.trade_name)

    # A recovery code works instead, once.
    log_out(page)
    sign_in_with_password(page, customer.master_email)
    page.get_by_label("Código de verificação ou código de recuperação").fill(codes[0])
    page.get_by_role("button", name="Verificar").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(customer.trade_name)
    page.get_by_role("link", name=customer.master_name).click()
    expect(page.get_by_role("region", name="Verificação em duas etapas")).to_contain_text(
        f"Códigos de recuperação restantes: {len(codes) - 1}")
    log_out(page)
    sign_in_with_password(page, customer.master_email)
    page.get_by_label("Código de verificação ou código de recuperação").fill(codes[0])
    page.get_by_role("button", name="Verificar").click()
    expect(page.get_by_text("Código inválido.")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/entrar/verificacao$"))
    checks.assert_clean()


def test_master_requires_two_step_verification_and_a_member_enrols_at_the_next_sign_in(
    page, another_browser, log_in, live_server, check_page
):
    checks = PageChecks(check_page)
    customer = new_customer(live_server.app, roles=(Role.MASTER, Role.SUPORTE))
    log_in(page, customer.master_email)
    page.get_by_test_id("nav").get_by_role("link", name="Usuários").click()
    security = page.get_by_role("region", name="Segurança da organização")
    security.get_by_label("Exigir verificação em duas etapas de todos os usuários").check()
    security.get_by_role("button", name="Salvar").click()
    expect(page.get_by_role("status").filter(has_text="Configuração de segurança salva.")).to_be_visible()
    expect(page.get_by_role("region", name="Segurança da organização").get_by_label(
        "Exigir verificação em duas etapas de todos os usuários")).to_be_checked()
    checks(page)

    # The Suporte member signs in: the password is not enough; the enrolment comes first, then the portal.
    member = another_browser()
    sign_in_with_password(member, customer.emails[Role.SUPORTE])
    expect(member).to_have_url(re.compile(r"/entrar/configurar-verificacao$"))
    expect(member.get_by_role("heading", name="Configurar verificação em duas etapas")).to_be_visible()
    expect(member.get_by_test_id("nav")).to_have_count(0)
    checks(member)
    member.goto("/chamados")  # nothing of the portal before the enrolment
    expect(member).to_have_url(re.compile(r"/entrar"))
    expect(member.get_by_test_id("nav")).to_have_count(0)

    sign_in_with_password(member, customer.emails[Role.SUPORTE])
    totp = pyotp.TOTP(member.get_by_test_id("totp-secret").inner_text().strip())
    member.get_by_label("Código de 6 dígitos do aplicativo").fill(totp.now())
    member.get_by_role("button", name="Ativar").click()
    expect(member.get_by_role("heading", name="Guarde seus códigos de recuperação")).to_be_visible()
    checks(member)
    member.get_by_role("link", name="Já guardei, continuar").click()
    expect(member.get_by_role("heading", level=1)).to_have_text(customer.trade_name)
    expect(member.get_by_test_id("my-roles")).to_contain_text("Suporte")
    checks(member)

    # From now on the member's sign-in asks for the code.
    log_out(member)
    sign_in_with_password(member, customer.emails[Role.SUPORTE])
    expect(member).to_have_url(re.compile(r"/entrar/verificacao$"))
    member.get_by_label("Código de verificação ou código de recuperação").fill(totp.at(time.time() + 30))
    member.get_by_role("button", name="Verificar").click()
    expect(member.get_by_role("heading", level=1)).to_have_text(customer.trade_name)
    checks.assert_clean()
