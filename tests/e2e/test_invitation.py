"""In the browser: a Master invites a Suporte user, who creates a password from the e-mailed link."""

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.e2e.pagecheck import PageChecks

pytestmark = pytest.mark.e2e

INVITEE_PASSWORD = "Nuvem-Azul-8472!"  # noqa: S105 - a throwaway password for a throwaway user


def invitation_path(message) -> str:
    """The /convite/<token> path of the link in an invitation e-mail (its plain-text part)."""
    text = message.get_body(preferencelist=("plain",)).get_content()
    match = re.search(r"https?://\S+/convite/[\w.\-~]+", text)
    assert match, f"no /convite/ link in the e-mail:\n{text}"
    return urlsplit(match.group(0)).path


def test_master_invites_a_user_who_accepts_and_signs_in_with_the_invited_role(
    page, another_browser, log_in, mail_to, unique_email, live_server, check_page
):
    checks = PageChecks(check_page)
    email = unique_email("convidado")

    # The Master invites someone as Suporte.
    log_in(page, "master@demo.example.com")
    page.get_by_test_id("nav").get_by_role("link", name="Usuários").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Usuários")
    page.get_by_role("link", name="Convidar usuário").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Convidar usuário")
    checks(page)
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Nome", exact=True).fill("Pessoa Convidada")
    roles = page.get_by_role("group", name="Papéis")
    roles.get_by_label("Suporte", exact=True).check()
    page.get_by_role("button", name="Enviar convite").click()

    expect(page).to_have_url(f"{live_server.url}/usuarios")
    # The wording of the messages may change; who and where they name may not.
    expect(page.get_by_role("status")).to_contain_text(email)
    row = page.get_by_test_id("users-table").get_by_role("row").filter(has_text=email)
    expect(row).to_contain_text("convite pendente")
    expect(row).to_contain_text("Suporte")
    checks(page)

    # The invitee opens the link from the e-mail in their own browser.
    message = mail_to(email)
    assert "Demo Tecnologia" in message.get_body(preferencelist=("plain",)).get_content()
    invitee = another_browser()
    invitee.goto(invitation_path(message))
    expect(invitee.get_by_role("heading", level=1)).to_have_text("Convite para Demo Tecnologia")
    expect(invitee.get_by_text(f"Acesso para {email}.")).to_be_visible()
    expect(invitee.get_by_label("Nome completo")).to_have_value("Pessoa Convidada")
    checks(invitee)
    invitee.get_by_label("Nome completo").fill("Paula Convidada")
    invitee.get_by_label("Nova senha", exact=True).fill(INVITEE_PASSWORD)
    invitee.get_by_label("Repita a nova senha").fill(INVITEE_PASSWORD)
    invitee.get_by_role("button", name="Criar acesso").click()

    # Signed in, at home in Demo Tecnologia, with Suporte's navigation only.
    expect(invitee).to_have_url(f"{live_server.url}/")
    expect(invitee.get_by_role("status")).to_contain_text("Demo Tecnologia")
    expect(invitee.get_by_role("heading", level=1)).to_have_text("Demo Tecnologia")
    expect(invitee.get_by_test_id("my-roles")).to_contain_text("Suporte")
    expect(invitee.get_by_test_id("my-roles")).not_to_contain_text("Master")
    nav = invitee.get_by_test_id("nav")
    expect(nav.get_by_role("link", name="Início")).to_be_visible()
    expect(nav.get_by_role("link", name="Usuários")).to_have_count(0)
    expect(nav.get_by_role("link", name="Histórico")).to_have_count(0)
    expect(invitee.get_by_role("link", name="Paula Convidada")).to_be_visible()
    checks(invitee)

    # The link is spent: opening it again does not offer the form.
    response = invitee.goto(invitation_path(message))
    assert response is not None and response.status == 410
    expect(invitee.get_by_role("button", name="Criar acesso")).to_have_count(0)

    # The Master's list now shows the person as an active member with the chosen name.
    page.get_by_test_id("nav").get_by_role("link", name="Usuários").click()
    row = page.get_by_test_id("users-table").get_by_role("row").filter(has_text=email)
    expect(row).to_contain_text("Paula Convidada")
    expect(row).to_contain_text("ativo")
    expect(row).not_to_contain_text("convite pendente")
    expect(row.get_by_role("button", name="Reenviar convite")).to_have_count(0)
    checks(page)
    checks.assert_clean()
