"""Browser: the demo's Master links Demo Tecnologia to its Microsoft Entra ID tenant (a Global Administrator signs in at
the local OpenID provider), requires Microsoft sign-in, and adm@demo.example.com signs in with "Entrar com a
Microsoft" — no password, no TOTP; the Master then unlinks. The live server talks to the local provider."""

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import delete

from portal.entra.models import EntraLink
from portal.extensions import db
from tests.e2e.pagecheck import PageChecks
from tests.entra.conftest import CLIENT_ID, CLIENT_SECRET
from tests.fakes.oidc_provider import Identity, OidcProvider

pytestmark = pytest.mark.e2e


@pytest.fixture
def provider(live_server, monkeypatch):
    fake = OidcProvider(client_id=CLIENT_ID, client_secret=CLIENT_SECRET).start()
    for name, value in {"ENTRA_CLIENT_ID": CLIENT_ID, "ENTRA_CLIENT_SECRET": CLIENT_SECRET,
                        "ENTRA_AUTHORITY": fake.url}.items():
        monkeypatch.setitem(live_server.app.config, name, value)
    yield fake
    fake.stop()
    with live_server.app.app_context():  # the demo stays as it was, whatever happened
        db.session.execute(delete(EntraLink))
        db.session.commit()


def test_the_master_links_the_tenant_and_a_demo_user_signs_in_with_microsoft(page, log_in, provider, check_page):
    checks = PageChecks(check_page)
    tenant = provider.add_tenant("demotecnologia.onmicrosoft.com")

    log_in(page, "master@demo.example.com")
    page.goto("/conta")
    page.get_by_role("link", name="Entrar com a Microsoft (Entra ID)").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Entrar com a Microsoft")
    checks(page)
    page.get_by_label("ID do tenant ou domínio").fill("demotecnologia.onmicrosoft.com")
    provider.sign_in_as(Identity(tenant, "admin@demotecnologia.onmicrosoft.com", admin=True))
    page.get_by_role("button", name="Vincular com um administrador global").click()
    expect(page.get_by_text(f"Organização vinculada ao tenant Microsoft {tenant}.")).to_be_visible()
    expect(page.get_by_test_id("entra-link")).to_contain_text("admin@demotecnologia.onmicrosoft.com")
    assert provider.token_requests[-1]["code_verifier"]
    page.get_by_label("Exigir a entrada com a Microsoft de todos, menos de quem é Master").check()
    page.get_by_role("button", name="Salvar").click()
    expect(page.get_by_text("Regras de entrada com a Microsoft salvas.")).to_be_visible()
    checks(page)
    page.get_by_role("button", name="Sair").click()

    # The Adm's password is refused now; the Microsoft button signs them in without our second factor.
    page.get_by_label("E-mail").fill("adm@demo.example.com")
    page.get_by_label("Senha", exact=True).fill("Portal#Demo2026")
    page.get_by_role("button", name="Entrar", exact=True).click()
    expect(page.get_by_text("Sua organização exige a entrada com a Microsoft")).to_be_visible()
    provider.sign_in_as(Identity(tenant, "adm@demo.example.com", name="Adm Demo"))
    page.get_by_role("link", name="Entrar com a Microsoft").click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_role("button", name="Sair")).to_be_attached()
    checks(page)
    assert provider.authorize_requests[-1]["code_challenge_method"] == "S256"
    page.get_by_role("button", name="Sair").click()

    # The Master unlinks (with confirmation).
    log_in(page, "master@demo.example.com")
    page.goto("/integracoes/microsoft")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Desvincular").click()
    expect(page.get_by_text("Vínculo com o Microsoft Entra ID removido.")).to_be_visible()
    expect(page.get_by_role("button", name="Vincular com um administrador global")).to_be_visible()
    checks.assert_clean()
