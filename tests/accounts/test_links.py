"""E-mailed links are built on BASE_URL, whatever Host a request names; production needs BASE_URL and refuses
requests for hosts outside TRUSTED_HOSTS (issue 13 point 15)."""

import re
from pathlib import Path

import pytest

from portal import config
from portal.app import create_app
from portal.offers.models import OfferStatus
from portal.shared.links import absolute_url
from tests import factories
from tests.conftest import app_settings, sign_in

EVIL = {"Host": "evil.example"}


def signed_in_on_evil_host(client, user):
    """`user` signed in, the session cookie also sent to evil.example (a browser would never do that; an
    attacker holding a session is the worst case)."""
    sign_in(client, user)
    cookie = client.get_cookie("portal_session")
    client.set_cookie("portal_session", cookie.value, domain="evil.example")
    return client


def links(outbox) -> list[str]:
    return [url for message in outbox
            for url in re.findall(r"https?://\S+", message.get_body(("plain",)).get_content())]


def test_a_reset_asked_with_a_forged_host_mails_a_link_on_base_url(client, world, outbox, app_ctx):
    assert client.post("/senha/esqueci", data={"email": world.adm.email}, headers=EVIL).status_code == 200
    [link] = [url for url in links(outbox) if "/senha/redefinir/" in url]
    assert link.startswith("http://portal.test/senha/redefinir/")
    assert not any("evil.example" in url for url in links(outbox))


def test_an_invitation_sent_through_a_forged_host_carries_a_link_on_base_url(client, world, outbox):
    signed_in_on_evil_host(client, world.master)
    response = client.post("/usuarios/convidar", headers=EVIL,
                           data={"email": "nova@cliente.example.com", "name": "Nova", "roles": ["suporte"]})
    assert response.status_code == 302
    [link] = [url for url in links(outbox) if "/convite/" in url]
    assert link.startswith("http://portal.test/convite/")


def test_an_offer_sent_through_a_forged_host_carries_a_link_on_base_url(client, world, outbox):
    offer = factories.offer(world.staff_comercial, world.demo, status=OfferStatus.DRAFT)
    signed_in_on_evil_host(client, world.staff_comercial)
    response = client.post(f"/backoffice/ofertas/{offer.id}/enviar", data={"email_masters": "y"}, headers=EVIL)
    assert response.status_code == 302
    assert f"http://portal.test/oferta/{offer.token}" in links(outbox)
    assert not any("evil.example" in url for url in links(outbox))


def test_absolute_url_keeps_the_base_url_path_prefix_and_needs_no_request(app_ctx):
    app_ctx.config["BASE_URL"] = "https://clientes.example.com.br/portal/"
    try:
        assert absolute_url("accounts.reset_password", token="abc") == \
            "https://clientes.example.com.br/portal/senha/redefinir/abc"
    finally:
        app_ctx.config["BASE_URL"] = "http://portal.test"


def test_no_link_is_built_from_the_request_host():
    """The pattern that let a Host header into e-mails does not come back anywhere in the portal."""
    root = Path(__file__).resolve().parents[2]
    found = [f"{path.relative_to(root)}:{number}"
             for path in [*(root / "portal").rglob("*.py"), *(root / "portal" / "templates").rglob("*.*")]
             for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
             if re.search(r"(?<![a-z])_external\s*=\s*True|host_url|url_root|request\.host\b", line)]
    assert found == []


# ---------------------------------------------------------------- production settings

@pytest.fixture
def production_env(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "a-production-secret-for-the-test")
    monkeypatch.setenv("AUDIT_CHAIN_KEY", "a-production-audit-key-for-the-test")  # required in production (issue 19)
    monkeypatch.setenv("AUDIT_SIGNING_KEY", "B" * 43 + "=")
    monkeypatch.delenv("BASE_URL", raising=False)
    monkeypatch.delenv("TRUSTED_HOSTS", raising=False)
    return monkeypatch


def test_production_refuses_to_start_without_base_url(production_env):
    with pytest.raises(RuntimeError, match="BASE_URL must be set"):
        config.load("production")
    production_env.setenv("BASE_URL", "portal.example.com")  # no scheme: links would not be absolute
    with pytest.raises(RuntimeError, match="absolute http"):
        config.load("production")


def test_production_trusts_the_base_url_host_unless_told_otherwise(production_env):
    production_env.setenv("BASE_URL", "https://clientes.example.com.br")
    assert config.load("production")["TRUSTED_HOSTS"] == ["clientes.example.com.br"]
    production_env.setenv("TRUSTED_HOSTS", "clientes.example.com.br, 10.0.0.5")
    assert config.load("production")["TRUSTED_HOSTS"] == ["clientes.example.com.br", "10.0.0.5"]
    production_env.delenv("TRUSTED_HOSTS")
    assert config.load("development")["TRUSTED_HOSTS"] is None


def test_a_request_for_an_untrusted_host_gets_a_clear_400(engine_name, fresh_database, outbox):
    app = create_app(app_settings(fresh_database(engine_name), TRUSTED_HOSTS=["portal.test"]))
    client = app.test_client()
    refused = client.post("/senha/esqueci", data={"email": "adm@cliente.example.com"}, headers=EVIL)
    assert refused.status_code == 400
    body = refused.get_data(as_text=True)
    assert "Este endereço não é o do portal." in body and "evil.example" not in body
    assert client.get("/entrar", headers={"Host": "portal.test"}).status_code == 200
    assert app.extensions["mailer"].outbox == []


def test_an_untrusted_host_with_an_expired_session_cookie_is_still_a_clear_400(engine_name, make_app):
    """A refused Host is refused before anything of the session is looked at: an expired cookie still gets the
    clear 400, not a redirect to sign in."""
    app = make_app(engine_name, TRUSTED_HOSTS=["portal.test"])
    expired = {"_user_id": "1:token", "seen": 1, "started": 1}  # signed in long ago
    cookie = app.session_interface.get_signing_serializer(app).dumps(expired)
    client = app.test_client()
    client.set_cookie(app.config["SESSION_COOKIE_NAME"], cookie, domain="evil.example")
    refused = client.get("/faturas", headers=EVIL)
    assert refused.status_code == 400
    assert "Este endereço não é o do portal." in refused.get_data(as_text=True)
