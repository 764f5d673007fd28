"""Entrar com a Microsoft, end to end through the pages against the local OpenID provider: the Master links the
tenant (proved by a Global Administrator's sign-in), members and staff sign in with Microsoft, each refusal is a
clear message on the sign-in page, just-in-time creation, and the "require Microsoft" policy."""

import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from joserfc.jwk import RSAKey
from sqlalchemy import select

from portal.accounts.models import LoginSession, Membership, User
from portal.entra.models import EntraLink, EntraSignInState
from portal.extensions import db
from portal.shared import clock
from portal.shared.audit import AuditEvent, AuditTag
from tests import factories
from tests.conftest import sign_in
from tests.entra.conftest import CLIENT_ID, sign_in_with_microsoft, to_microsoft_and_back
from tests.fakes.oidc_provider import Identity
from tests.html import alerts, field_errors, follow, text

ADMIN_EMAIL = "admin@demo.onmicrosoft.com"


def _link(world, tenant_id: str, **policy) -> EntraLink:
    link = EntraLink(organization_id=world.demo.id, tenant_id=tenant_id, admin_email=ADMIN_EMAIL,
                     verified_at=clock.now(), **policy)
    db.session.add(link)
    db.session.commit()
    return link


@pytest.fixture
def tenant(entra):
    return entra.add_tenant(f"demo{time.monotonic_ns()}.onmicrosoft.com")


def _events(tag) -> list[AuditEvent]:
    return list(db.session.execute(select(AuditEvent).where(AuditEvent.tag == str(tag))).scalars())


def _refused(response) -> list[str]:
    assert response.status_code == 302 and response.headers["Location"] == "/entrar", response.headers.get("Location")
    return response


# ---------------------------------------------------------------- the sign-in page

def test_the_sign_in_page_offers_microsoft_only_when_configured(client, app_ctx, monkeypatch, provider):
    monkeypatch.setitem(app_ctx.config, "ENTRA_CLIENT_ID", "")
    assert "Entrar com a Microsoft" not in text(client.get("/entrar"))
    monkeypatch.setitem(app_ctx.config, "ENTRA_CLIENT_ID", CLIENT_ID)
    assert "Entrar com a Microsoft" in text(client.get("/entrar"))


def test_without_settings_the_button_path_says_so(client, app_ctx, monkeypatch):
    monkeypatch.setitem(app_ctx.config, "ENTRA_CLIENT_ID", "")
    assert follow(client, client.get("/entrar/microsoft")) == [
        "A entrada com a Microsoft não está configurada neste portal."]


def test_the_authorization_request_uses_code_pkce_s256_state_and_nonce(client, entra):
    response = client.get("/entrar/microsoft")
    url = urlsplit(response.headers["Location"])
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert url.path == "/organizations/oauth2/v2.0/authorize"
    assert query["response_type"] == "code" and query["client_id"] == CLIENT_ID
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert query["redirect_uri"] == "http://portal.test/entrar/microsoft/retorno"
    assert "openid" in query["scope"].split() and query["nonce"] and query["state"]
    row = db.session.execute(select(EntraSignInState)).scalars().all()[-1]
    assert row.nonce == query["nonce"] and row.state_hash != query["state"] and row.used_at is None


# ---------------------------------------------------------------- signing in

def test_a_member_signs_in_with_microsoft_without_our_second_factor(client, world, entra, tenant):
    _link(world, tenant)
    world.demo.require_2fa = True  # Microsoft did the MFA: our TOTP step is skipped
    db.session.commit()
    response = sign_in_with_microsoft(client, entra, Identity(tenant, world.adm.email.upper()))
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert client.get("/").status_code == 200
    event = _events(AuditTag.LOGIN_SUCCEEDED)[-1]
    assert event.actor_id == world.adm.id and event.after == {"method": "microsoft"}
    assert event.organization_id == world.demo.id
    assert db.session.scalar(select(LoginSession).where(LoginSession.user_id == world.adm.id)) is not None
    # the token exchange carried the PKCE verifier and the client secret
    assert entra.token_requests[-1]["code_verifier"] and entra.token_requests[-1]["redirect_uri"].endswith("/retorno")
    assert client.post("/sair").status_code == 302
    assert client.get("/").status_code == 302  # signed out as any session
    sign_in(client, world.master)
    assert f"{world.adm.name} entrou no portal com a conta Microsoft." in text(client.get("/historico"))


def test_a_member_is_matched_by_preferred_username_and_goes_to_next(client, world, entra, tenant):
    _link(world, tenant)
    identity = Identity(tenant, world.cobranca.email, email_claim="preferred_username")
    response = sign_in_with_microsoft(client, entra, identity, next_url="/faturas")
    assert response.headers["Location"] == "/faturas"


def test_wrong_tenant_is_refused(client, world, entra, tenant):
    _link(world, tenant)
    stranger = entra.add_tenant("outro.onmicrosoft.com")
    response = _refused(sign_in_with_microsoft(client, entra, Identity(stranger, world.adm.email)))
    assert follow(client, response) == [
        "Sua conta Microsoft é de um tenant que não está vinculado a nenhuma organização do portal. Peça ao Master "
        "da sua organização para vinculá-lo em Minha conta → Entrar com a Microsoft, ou entre com e-mail e senha."]
    assert client.get("/").status_code == 302
    assert _events(AuditTag.LOGIN_FAILED)[-1].after["reason"] == "wrong_tenant"


def test_wrong_audience_is_refused(client, world, entra, tenant):
    _link(world, tenant)
    identity = Identity(tenant, world.adm.email, overrides={"aud": "outro-aplicativo"})
    assert follow(client, _refused(sign_in_with_microsoft(client, entra, identity))) == [
        "O token da Microsoft foi emitido para outro aplicativo. Entrada recusada."]


def test_an_expired_token_is_refused(client, world, entra, tenant):
    _link(world, tenant)
    now = int(clock.now().timestamp())
    identity = Identity(tenant, world.adm.email, overrides={"iat": now - 7200, "nbf": now - 7200, "exp": now - 3600})
    assert follow(client, _refused(sign_in_with_microsoft(client, entra, identity))) == [
        "O token da Microsoft expirou. Entre de novo."]


def test_a_replayed_nonce_is_refused(client, world, entra, tenant):
    _link(world, tenant)
    sign_in_with_microsoft(client, entra, Identity(tenant, world.adm.email))
    old_nonce = entra.authorize_requests[-1]["nonce"]
    client.post("/sair")
    identity = Identity(tenant, world.adm.email, overrides={"nonce": old_nonce})  # a token of the earlier sign-in
    assert follow(client, _refused(sign_in_with_microsoft(client, entra, identity))) == [
        "Você saiu do portal.",
        "O token da Microsoft é de outra entrada (repetido). Entrada recusada."]


def test_a_state_mismatch_is_refused(client, world, entra, tenant):
    _link(world, tenant)
    start = client.get("/entrar/microsoft")
    entra.sign_in_as(Identity(tenant, world.adm.email))
    back = urlsplit(requests.get(start.headers["Location"], allow_redirects=False, timeout=10).headers["Location"])
    forged = re.sub(r"state=[^&]+", "state=outro-state", back.query)
    assert follow(client, _refused(client.get(f"{back.path}?{forged}"))) == [
        "O retorno da Microsoft não corresponde à entrada começada neste navegador. Comece de novo."]


def test_a_callback_replayed_in_another_browser_is_refused(app_ctx, client, world, entra, tenant):
    _link(world, tenant)
    start = client.get("/entrar/microsoft")
    entra.sign_in_as(Identity(tenant, world.adm.email))
    back = urlsplit(requests.get(start.headers["Location"], allow_redirects=False, timeout=10).headers["Location"])
    assert client.get(f"{back.path}?{back.query}").headers["Location"] == "/"
    other = app_ctx.test_client()
    with other.session_transaction() as session:  # even carrying the same state in its session
        session["entra_state"] = parse_qs(back.query)["state"][0]
    assert follow(other, _refused(other.get(f"{back.path}?{back.query}"))) == [
        "Este retorno da Microsoft já foi usado ou expirou. Comece de novo."]


def test_an_unknown_email_is_refused(client, world, entra, tenant):
    _link(world, tenant)
    identity = Identity(tenant, "ninguem@demo.example.com")
    assert follow(client, _refused(sign_in_with_microsoft(client, entra, identity))) == [
        "O e-mail ninguem@demo.example.com não é de um usuário ativo desta organização no portal. "
        "Peça um convite ao Master da organização."]


def test_a_member_of_another_organization_is_refused(client, world, entra, tenant):
    _link(world, tenant)
    identity = Identity(tenant, world.other_master.email)
    assert "não é de um usuário ativo" in follow(client, _refused(sign_in_with_microsoft(client, entra, identity)))[0]


def test_a_bad_signature_is_refused(client, world, entra, tenant):
    _link(world, tenant)
    rogue = RSAKey.generate_key(2048, parameters={"kid": "fake-1"})
    identity = Identity(tenant, world.adm.email, sign_with=rogue)
    assert follow(client, _refused(sign_in_with_microsoft(client, entra, identity))) == [
        "A assinatura do token da Microsoft não confere. Entrada recusada."]


def test_a_master_never_signs_in_with_microsoft(client, world, entra, tenant):
    _link(world, tenant)
    response = _refused(sign_in_with_microsoft(client, entra, Identity(tenant, world.master.email)))
    assert follow(client, response) == [
        "Quem é Master entra sempre com e-mail, senha e verificação em duas etapas, para que a organização nunca "
        "fique trancada por um problema no tenant."]


def test_microsoft_refusing_is_shown(client, world, entra, tenant):
    _link(world, tenant)
    start = client.get("/entrar/microsoft")
    entra.sign_in_as(None)  # the person cancelled at Microsoft
    back = urlsplit(requests.get(start.headers["Location"], allow_redirects=False, timeout=10).headers["Location"])
    assert follow(client, client.get(f"{back.path}?{back.query}")) == [
        "A Microsoft não confirmou a entrada. Tente de novo."]


# ---------------------------------------------------------------- just-in-time creation

def test_just_in_time_creation_makes_a_member_with_the_default_role(client, world, entra, tenant):
    _link(world, tenant, jit_enabled=True, jit_role="cobranca")
    identity = Identity(tenant, "Nova.Pessoa@demo.example.com", name="Nova Pessoa")
    assert sign_in_with_microsoft(client, entra, identity).headers["Location"] == "/"
    user = db.session.execute(select(User).where(User.email == "nova.pessoa@demo.example.com")).scalar_one()
    membership = db.session.execute(select(Membership).where(Membership.user_id == user.id)).scalar_one()
    assert user.name == "Nova Pessoa" and user.password_hash is None
    assert membership.organization_id == world.demo.id and {r.value for r in membership.roles} == {"cobranca"}
    assert _events(AuditTag.ENTRA_MEMBER_CREATED)[-1].organization_id == world.demo.id


def test_without_just_in_time_nobody_is_created(client, world, entra, tenant):
    _link(world, tenant, jit_enabled=False)
    _refused(sign_in_with_microsoft(client, entra, Identity(tenant, "nova@demo.example.com")))
    assert db.session.execute(select(User).where(User.email == "nova@demo.example.com")).scalar() is None


# ---------------------------------------------------------------- policy

def test_required_microsoft_refuses_the_password_of_members_but_not_of_masters(client, world, entra, tenant):
    _link(world, tenant, require_microsoft=True)
    response = client.post("/entrar", data={"email": world.adm.email, "password": factories.PASSWORD})
    assert response.status_code == 422 and alerts(response) == [
        "Sua organização exige a entrada com a Microsoft: use o botão “Entrar com a Microsoft”."]
    response = client.post("/entrar", data={"email": world.master.email, "password": factories.PASSWORD})
    assert response.status_code == 302  # the Master keeps password (+ TOTP when enrolled)
    client.post("/sair")
    assert sign_in_with_microsoft(client, entra, Identity(tenant, world.adm.email)).headers["Location"] == "/"


def test_without_the_requirement_the_password_still_works(client, world, entra, tenant):
    _link(world, tenant)
    response = client.post("/entrar", data={"email": world.adm.email, "password": factories.PASSWORD})
    assert response.status_code == 302


# ---------------------------------------------------------------- staff

def test_staff_sign_in_with_the_resellers_tenant(client, world, entra, monkeypatch, app_ctx):
    staff_tenant = entra.add_tenant("revenda.onmicrosoft.com")
    monkeypatch.setitem(app_ctx.config, "ENTRA_STAFF_TENANT_ID", staff_tenant)
    response = sign_in_with_microsoft(client, entra, Identity(staff_tenant, world.staff_financeiro.email))
    assert response.headers["Location"] == "/backoffice/"
    assert client.get("/backoffice/").status_code == 200
    client.post("/sair")
    refused = _refused(sign_in_with_microsoft(client, entra, Identity(staff_tenant, world.adm.email)))
    assert follow(client, refused) == [
        "Você saiu do portal.", f"O e-mail {world.adm.email} não é de ninguém da nossa equipe no portal."]


# ---------------------------------------------------------------- the Master's page

def test_the_master_links_the_tenant_by_domain_proved_by_a_global_administrator(client, world, entra):
    tenant = entra.add_tenant("contoso-demo.onmicrosoft.com")
    sign_in(client, world.master)
    page = client.get("/integracoes/microsoft")
    assert page.status_code == 200 and "Vincular com um administrador global" in text(page)
    # the form's answer goes to Microsoft: the page's CSP lets a form go there (and only there)
    assert f"form-action 'self' {entra.url};" in page.headers["Content-Security-Policy"]
    assert "form-action 'self';" in client.get("/conta").headers["Content-Security-Policy"]
    start = client.post("/integracoes/microsoft/vincular", data={"tenant": " Contoso-Demo.onmicrosoft.com "})
    assert urlsplit(start.headers["Location"]).path == f"/{tenant}/oauth2/v2.0/authorize"
    back = to_microsoft_and_back(client, entra, Identity(tenant, ADMIN_EMAIL, admin=True), start)
    assert follow(client, back) == [f"Organização vinculada ao tenant Microsoft {tenant}."]
    link = db.session.execute(select(EntraLink).where(EntraLink.organization_id == world.demo.id)).scalar_one()
    assert link.tenant_id == tenant and link.admin_email == ADMIN_EMAIL and link.verified_by_id == world.master.id
    event = _events(AuditTag.ENTRA_LINKED)[-1]
    assert event.organization_id == world.demo.id and event.after["tenant_id"] == tenant
    assert tenant in text(client.get("/integracoes/microsoft"))


def test_linking_needs_a_global_administrator_of_that_tenant(client, world, entra):
    tenant = entra.add_tenant("fabrikam-demo.onmicrosoft.com")
    other = entra.add_tenant("outra-demo.onmicrosoft.com")
    sign_in(client, world.master)
    start = client.post("/integracoes/microsoft/vincular", data={"tenant": tenant})
    back = to_microsoft_and_back(client, entra, Identity(tenant, "user@fabrikam.example.com"), start)
    assert back.headers["Location"] == "/integracoes/microsoft"
    assert alerts(client.get(back.headers["Location"])) == [
        "A conta Microsoft usada não é administrador global do tenant. Entre com um administrador global para "
        "comprovar que o tenant é da organização."]
    start = client.post("/integracoes/microsoft/vincular", data={"tenant": tenant})
    wrong = Identity(tenant, ADMIN_EMAIL, admin=True, overrides={"tid": other})  # a token naming another tenant
    back = to_microsoft_and_back(client, entra, wrong, start)
    assert "é de outro tenant" in alerts(client.get(back.headers["Location"]))[0]
    assert db.session.execute(select(EntraLink)).scalar() is None


@pytest.mark.parametrize(("typed", "message"), [
    ("não é tenant", "Informe o ID do tenant (um GUID como 00000000-0000-0000-0000-000000000000) ou um domínio do "
                     "tenant, como empresa.onmicrosoft.com."),
    ("desconhecido.onmicrosoft.com", "A Microsoft não conhece esse tenant. Confira o ID ou o domínio."),
])
def test_a_bad_tenant_comes_back_on_the_field(client, world, entra, typed, message):
    sign_in(client, world.master)
    response = client.post("/integracoes/microsoft/vincular", data={"tenant": typed})
    assert response.status_code == 422 and field_errors(response) == [message]
    assert f'value="{typed}"' in response.get_data(as_text=True)


def test_a_tenant_linked_to_another_organization_is_refused(client, world, entra, tenant):
    db.session.add(EntraLink(organization_id=world.other.id, tenant_id=tenant, verified_at=clock.now()))
    db.session.commit()
    sign_in(client, world.master)
    response = client.post("/integracoes/microsoft/vincular", data={"tenant": tenant})
    assert field_errors(response) == ["Esse tenant já está vinculado a outra organização do portal."]


def test_the_master_sets_the_policy_and_unlinks(client, world, entra, tenant):
    _link(world, tenant)
    sign_in(client, world.master)
    response = client.post("/integracoes/microsoft/politica",
                           data={"require_microsoft": "y", "jit_enabled": "y", "jit_role": "adm"})
    assert follow(client, response) == ["Regras de entrada com a Microsoft salvas."]
    link = db.session.execute(select(EntraLink)).scalar_one()
    assert (link.require_microsoft, link.jit_enabled, link.jit_role) == (True, True, "adm")
    assert _events(AuditTag.ENTRA_POLICY_CHANGED)[-1].after == {
        "jit_enabled": True, "jit_role": "adm", "require_microsoft": True}
    refused = client.post("/integracoes/microsoft/politica", data={"jit_enabled": "y", "jit_role": "master"})
    assert refused.status_code == 422 and len(field_errors(refused)) == 1  # Master is never a default role
    db.session.refresh(link)
    assert link.jit_role == "adm"
    assert "Desvincular" in text(client.get("/integracoes/microsoft"))
    assert follow(client, client.post("/integracoes/microsoft/desvincular")) == [
        "Vínculo com o Microsoft Entra ID removido. Todos voltam a entrar com e-mail e senha."]
    assert db.session.execute(select(EntraLink)).scalar() is None
    assert _events(AuditTag.ENTRA_UNLINKED)[-1].before == {"tenant_id": tenant}


def test_the_profile_links_the_master_to_the_page(client, world):
    sign_in(client, world.master)
    assert "/integracoes/microsoft" in client.get("/conta").get_data(as_text=True)
    client.post("/sair")
    sign_in(client, world.adm)
    assert "/integracoes/microsoft" not in client.get("/conta").get_data(as_text=True)
