"""The Entra ID client (portal/integrations/entra.py) against the local provider: discovery by tenant id or domain,
the ID token's issuer, a provider that does not answer, a token endpoint that refuses the code."""

import socket
import time

import pytest
import requests

from portal.integrations.entra import EntraClient, EntraError, EntraSettings, email_of, is_global_administrator
from tests.entra.conftest import CLIENT_ID, CLIENT_SECRET
from tests.fakes.oidc_provider import GLOBAL_ADMINISTRATOR, Identity

REDIRECT = "http://portal.test/entrar/microsoft/retorno"


def _client(provider, secret=CLIENT_SECRET) -> EntraClient:
    return EntraClient(EntraSettings(client_id=CLIENT_ID, client_secret=secret, authority=provider.url, timeout=5))


def _code(provider, client, tenant, identity, nonce="n-1", verifier="v" * 64) -> str:
    url = client.authorization_url(tenant, redirect_uri=REDIRECT, state="s-1", nonce=nonce, code_verifier=verifier)
    provider.sign_in_as(identity)
    location = requests.get(url, allow_redirects=False, timeout=5).headers["Location"]
    return location.split("code=", 1)[1].split("&", 1)[0]


def test_discovery_resolves_a_domain_to_its_tenant_id(provider):
    tenant = provider.add_tenant("resolve.onmicrosoft.com")
    client = _client(provider)
    assert client.tenant_id_for("resolve.onmicrosoft.com") == tenant
    assert client.tenant_id_for(tenant) == tenant
    assert client.tenant_id_for("nao-existe.onmicrosoft.com") is None


def test_a_valid_token_gives_its_claims(provider):
    tenant = provider.add_tenant("valido.onmicrosoft.com")
    client = _client(provider)
    code = _code(provider, client, "organizations", Identity(tenant, "a@valido.example.com", admin=True))
    claims = client.redeem("organizations", code=code, code_verifier="v" * 64, redirect_uri=REDIRECT, nonce="n-1",
                           now=int(time.time()))
    assert claims["tid"] == tenant and email_of(claims) == "a@valido.example.com"
    assert is_global_administrator(claims) and GLOBAL_ADMINISTRATOR in claims["wids"]


@pytest.mark.parametrize(("identity_overrides", "reason"), [
    ({"iss": "https://login.example.com/outro/v2.0"}, "issuer"),
    ({"aud": "outro"}, "audience"),
    ({"nonce": "outro"}, "nonce"),
])
def test_claims_that_do_not_match_are_refused(provider, identity_overrides, reason):
    tenant = provider.add_tenant(f"{reason}.onmicrosoft.com")
    client = _client(provider)
    code = _code(provider, client, "organizations", Identity(tenant, "a@x.example.com", overrides=identity_overrides))
    with pytest.raises(EntraError) as refused:
        client.redeem("organizations", code=code, code_verifier="v" * 64, redirect_uri=REDIRECT, nonce="n-1",
                      now=int(time.time()))
    assert refused.value.reason == reason


@pytest.mark.parametrize("case", ["wrong verifier", "wrong secret", "code used twice"])
def test_the_token_endpoint_refusing_is_a_provider_error(provider, case):
    tenant = provider.add_tenant(f"token-{case.replace(' ', '-')}.onmicrosoft.com")
    client = _client(provider, secret="errado" if case == "wrong secret" else CLIENT_SECRET)
    code = _code(provider, client, "organizations", Identity(tenant, "a@x.example.com"))
    verifier = "w" * 64 if case == "wrong verifier" else "v" * 64
    if case == "code used twice":
        client.redeem("organizations", code=code, code_verifier=verifier, redirect_uri=REDIRECT, nonce="n-1",
                      now=int(time.time()))
    with pytest.raises(EntraError) as refused:
        client.redeem("organizations", code=code, code_verifier=verifier, redirect_uri=REDIRECT, nonce="n-1",
                      now=int(time.time()))
    assert refused.value.reason == "provider"


def test_a_provider_that_does_not_answer_is_a_network_error():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = EntraClient(EntraSettings(client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                                       authority=f"http://127.0.0.1:{port}", timeout=2))
    with pytest.raises(EntraError) as refused:
        client.metadata("organizations")
    assert refused.value.reason == "network"
