"""Microsoft Entra ID (OpenID Connect): discovery, the authorization URL (code + PKCE S256), the code exchange and the
ID token's validation, done by Authlib's OAuth 2 client and joserfc (Authlib's JOSE library): no hand-written JWT
checks. The tests run it against a local provider (tests/fakes/oidc_provider.py) speaking the same endpoints."""

import re
from dataclasses import dataclass
from typing import Any

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet

# Entra ID's directory role template id of "Global Administrator" (the `wids` claim lists a user's roles by it).
GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"
MULTI_TENANT = "organizations"  # work or school accounts of any tenant
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
DOMAIN = re.compile(r"^(?=.{3,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
LEEWAY_SECONDS = 60  # clock skew accepted on exp / nbf / iat


class EntraError(Exception):
    """The provider or its answer was refused; `reason` is one of: network, provider, signature, issuer, audience,
    expired, nonce, invalid."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True)
class EntraSettings:
    client_id: str
    client_secret: str
    authority: str  # https://login.microsoftonline.com (no trailing slash)
    timeout: float = 15.0

    @classmethod
    def from_config(cls, config) -> "EntraSettings":
        return cls(client_id=config.get("ENTRA_CLIENT_ID", ""), client_secret=config.get("ENTRA_CLIENT_SECRET", ""),
                   authority=config.get("ENTRA_AUTHORITY", "").rstrip("/"),
                   timeout=float(config.get("ENTRA_TIMEOUT", 15)))

    @property
    def configured(self) -> bool:
        return bool(self.client_id and self.client_secret and self.authority)


class EntraClient:
    def __init__(self, settings: EntraSettings) -> None:
        self.settings = settings

    # ------------------------------------------------------------ discovery

    def _get_json(self, url: str) -> tuple[int, Any]:
        try:
            answer = requests.get(url, timeout=self.settings.timeout, allow_redirects=False)
        except requests.RequestException as exc:
            raise EntraError("network", str(exc)) from None
        try:
            return answer.status_code, answer.json()
        except ValueError:
            return answer.status_code, None

    def metadata(self, tenant: str) -> dict:
        """The OpenID configuration of `tenant` (a tenant id, a domain, or "organizations")."""
        status, body = self._get_json(f"{self.settings.authority}/{tenant}/v2.0/.well-known/openid-configuration")
        if status != 200 or not isinstance(body, dict) or not all(
                isinstance(body.get(k), str) for k in ("issuer", "authorization_endpoint", "token_endpoint",
                                                       "jwks_uri")):
            raise EntraError("provider", f"discovery of {tenant} answered {status}")
        return body

    def tenant_id_for(self, tenant: str) -> str | None:
        """The tenant id (GUID) of a tenant id or domain, from its issuer; None when Microsoft knows no such tenant."""
        status, body = self._get_json(f"{self.settings.authority}/{tenant}/v2.0/.well-known/openid-configuration")
        if status in (400, 404):
            return None
        if status != 200 or not isinstance(body, dict) or not isinstance(body.get("issuer"), str):
            raise EntraError("provider", f"discovery of {tenant} answered {status}")
        found = body["issuer"].rstrip("/").split("/")
        candidate = found[-2] if len(found) >= 2 else ""
        return candidate if GUID.match(candidate) else None

    # ------------------------------------------------------------ the flow

    def _session(self, redirect_uri: str) -> OAuth2Session:
        return OAuth2Session(client_id=self.settings.client_id, client_secret=self.settings.client_secret,
                             scope="openid profile email", redirect_uri=redirect_uri,
                             code_challenge_method="S256", default_timeout=self.settings.timeout)

    def authorization_url(self, tenant: str, *, redirect_uri: str, state: str, nonce: str, code_verifier: str,
                          prompt: str | None = None) -> str:
        endpoint = self.metadata(tenant)["authorization_endpoint"]
        extra = {"nonce": nonce, "response_mode": "query"}
        if prompt:
            extra["prompt"] = prompt
        with self._session(redirect_uri) as session:
            url, _state = session.create_authorization_url(endpoint, state=state, code_verifier=code_verifier,
                                                           **extra)
        return url

    def redeem(self, tenant: str, *, code: str, code_verifier: str, redirect_uri: str, nonce: str,
               now: int) -> dict:
        """Exchange the code (with its PKCE verifier) for tokens and return the validated ID token's claims:
        signature by the tenant's JWKS, `iss` of the token's own tenant, `aud` = our client id, `exp`, `nonce`."""
        metadata = self.metadata(tenant)
        with self._session(redirect_uri) as session:
            try:
                token = session.fetch_token(metadata["token_endpoint"], code=code, code_verifier=code_verifier,
                                            grant_type="authorization_code")
            except (AuthlibBaseError, ValueError) as exc:
                raise EntraError("provider", f"token endpoint: {exc}") from None
            except requests.RequestException as exc:
                raise EntraError("network", str(exc)) from None
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise EntraError("provider", "no id_token in the token answer")
        status, jwks = self._get_json(metadata["jwks_uri"])
        if status != 200 or not isinstance(jwks, dict):
            raise EntraError("provider", f"JWKS answered {status}")
        try:
            keys = KeySet.import_key_set(jwks)
            decoded = jwt.decode(id_token, keys, algorithms=["RS256"])
        except BadSignatureError as exc:
            raise EntraError("signature", str(exc)) from None
        except (JoseError, ValueError, KeyError) as exc:
            raise EntraError("invalid", str(exc)) from None
        claims = decoded.claims
        tid = claims.get("tid")
        if not isinstance(tid, str) or not GUID.match(tid):
            raise EntraError("invalid", "no tid")
        # Multi-tenant discovery names the issuer with a {tenantid} placeholder: each token's issuer is its tenant's.
        issuer = metadata["issuer"].replace("{tenantid}", tid)
        registry = jwt.JWTClaimsRegistry(
            now=now, leeway=LEEWAY_SECONDS,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": self.settings.client_id},
            exp={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        try:
            registry.validate(claims)
        except ExpiredTokenError as exc:
            raise EntraError("expired", str(exc)) from None
        except (InvalidClaimError, MissingClaimError) as exc:
            claim = getattr(exc, "claim", "")
            reason = {"iss": "issuer", "aud": "audience", "nonce": "nonce", "exp": "expired"}.get(claim, "invalid")
            raise EntraError(reason, str(exc)) from None
        except JoseError as exc:
            raise EntraError("invalid", str(exc)) from None
        return dict(claims)


def is_global_administrator(claims: dict) -> bool:
    roles = claims.get("wids")
    return isinstance(roles, list) and GLOBAL_ADMINISTRATOR in roles


def email_of(claims: dict) -> str:
    """The address the user is matched by: `email`, else `preferred_username` (the UPN), lower-cased."""
    for name in ("email", "preferred_username"):
        value = claims.get(name)
        if isinstance(value, str) and "@" in value:
            return value.strip().lower()[:254]
    return ""
