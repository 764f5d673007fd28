"""A local OpenID provider (tests/fakes/oidc_provider.py) for the whole run, and the app pointed at it."""

from urllib.parse import urlsplit

import pytest
import requests

from tests.fakes.oidc_provider import OidcProvider

CLIENT_ID = "11111111-2222-3333-4444-555555555555"
CLIENT_SECRET = "segredo-do-aplicativo"


@pytest.fixture(scope="session")
def provider():
    fake = OidcProvider(client_id=CLIENT_ID, client_secret=CLIENT_SECRET).start()
    yield fake
    fake.stop()


@pytest.fixture
def entra(app_ctx, provider, monkeypatch):
    """The app talking to the local provider; every test starts with nobody chosen to sign in there."""
    for name, value in {"ENTRA_CLIENT_ID": CLIENT_ID, "ENTRA_CLIENT_SECRET": CLIENT_SECRET,
                        "ENTRA_AUTHORITY": provider.url, "ENTRA_STAFF_TENANT_ID": ""}.items():
        monkeypatch.setitem(app_ctx.config, name, value)
    provider.sign_in_as(None)
    return provider


def to_microsoft_and_back(client, provider, identity, response):
    """Follow `response` (the portal's redirect to Microsoft) through the provider, signing in as `identity`;
    returns the portal's answer to the callback."""
    assert response.status_code == 302, response.status_code
    assert response.headers["Location"].startswith(provider.url)
    provider.sign_in_as(identity)
    back = requests.get(response.headers["Location"], allow_redirects=False, timeout=10)
    assert back.status_code == 302, back.text
    location = urlsplit(back.headers["Location"])
    return client.get(f"{location.path}?{location.query}")


def sign_in_with_microsoft(client, provider, identity, next_url=None):
    start = client.get("/entrar/microsoft", query_string={"next": next_url} if next_url else None)
    return to_microsoft_and_back(client, provider, identity, start)
