"""A local OpenID Connect provider speaking Microsoft Entra ID's v2.0 endpoints, for tests (WSGI on LoopbackServer).

- discovery: `/{tenant}/v2.0/.well-known/openid-configuration` (tenant: "organizations", a tenant id or a domain;
  an unknown one answers 400 as Microsoft does);
- JWKS: `/{tenant}/discovery/v2.0/keys` (RSA keys made in the test);
- authorize: `/{tenant}/oauth2/v2.0/authorize` — the test chooses who "signs in" (`provider.sign_in_as(...)`) and it
  redirects back to the redirect URI with a code (or `error=access_denied` when nobody is chosen);
- token: `/{tenant}/oauth2/v2.0/token` — checks the client secret (basic or post), the code (once), the PKCE verifier
  (S256) and the redirect URI, and answers an ID token for the chosen identity's tenant.

An identity may carry `overrides` (claims replaced in the ID token, e.g. aud, exp, nonce) and `sign_with` (another
key, for a bad signature).
"""

import base64
import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlencode

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from werkzeug.wrappers import Request, Response

from portal.shared import clock
from tests.fakes.externals import LoopbackFake

GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"


@dataclass
class Identity:
    tenant_id: str
    email: str
    name: str = "Pessoa da Microsoft"
    admin: bool = False
    email_claim: str = "email"  # or "preferred_username"
    overrides: dict = field(default_factory=dict)
    sign_with: RSAKey | None = None


class OidcProvider(LoopbackFake):
    def __init__(self, *, client_id: str, client_secret: str, tenants: dict[str, str] | None = None) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.tenants = dict(tenants or {})  # tenant id → domain
        self.key = RSAKey.generate_key(2048, parameters={"kid": "fake-1", "use": "sig", "alg": "RS256"})
        self.identity: Identity | None = None
        self.codes: dict[str, dict] = {}
        self.authorize_requests: list[dict] = []
        self.token_requests: list[dict] = []

    def sign_in_as(self, identity: Identity | None) -> None:
        self.identity = identity

    def add_tenant(self, domain: str) -> str:
        tenant_id = str(uuid.uuid4())
        self.tenants[tenant_id] = domain
        return tenant_id

    # ------------------------------------------------------------ WSGI

    def wsgi_app(self):
        def app(environ, start_response):
            request = Request(environ)
            response = self._route(request)
            return response(environ, start_response)

        return app

    def _tenant_id_of(self, tenant: str) -> str | None:
        tenant = tenant.lower()
        if tenant in self.tenants:
            return tenant
        return next((tid for tid, domain in self.tenants.items() if domain == tenant), None)

    def _route(self, request: Request) -> Response:
        parts = request.path.strip("/").split("/")
        if len(parts) < 2:
            return _json({"error": "not_found"}, 404)
        tenant, rest = parts[0], "/".join(parts[1:])
        if tenant not in ("organizations", "common") and self._tenant_id_of(tenant) is None:
            return _json({"error": "invalid_tenant", "error_description": "AADSTS90002: Tenant not found."}, 400)
        if rest == "v2.0/.well-known/openid-configuration":
            return _json(self._discovery(tenant))
        if rest == "discovery/v2.0/keys":
            return _json(KeySet([self.key]).as_dict(private=False))
        if rest == "oauth2/v2.0/authorize":
            return self._authorize(request, tenant)
        if rest == "oauth2/v2.0/token" and request.method == "POST":
            return self._token(request)
        return _json({"error": "not_found"}, 404)

    def _discovery(self, tenant: str) -> dict:
        tid = "{tenantid}" if tenant in ("organizations", "common") else self._tenant_id_of(tenant)
        return {
            "issuer": f"{self.url}/{tid}/v2.0",
            "authorization_endpoint": f"{self.url}/{tenant}/oauth2/v2.0/authorize",
            "token_endpoint": f"{self.url}/{tenant}/oauth2/v2.0/token",
            "jwks_uri": f"{self.url}/{tenant}/discovery/v2.0/keys",
            "response_types_supported": ["code"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
        }

    def _authorize(self, request: Request, tenant: str) -> Response:
        args = request.args
        self.authorize_requests.append(dict(args))
        redirect_uri = args.get("redirect_uri", "")
        if args.get("client_id") != self.client_id or not redirect_uri or args.get("response_type") != "code" \
                or args.get("code_challenge_method") != "S256" or not args.get("code_challenge"):
            return _json({"error": "invalid_request"}, 400)
        identity = self.identity
        if identity is None or (tenant != "organizations" and self._tenant_id_of(tenant) != identity.tenant_id):
            query = {"error": "access_denied", "state": args.get("state", "")}
        else:
            code = secrets.token_urlsafe(24)
            self.codes[code] = {"redirect_uri": redirect_uri, "challenge": args["code_challenge"],
                                "nonce": args.get("nonce"), "identity": identity}
            query = {"code": code, "state": args.get("state", "")}
        return Response(status=302, headers={"Location": f"{redirect_uri}?{urlencode(query)}"})

    def _client_authenticated(self, request: Request) -> bool:
        auth = request.authorization
        if auth is not None and auth.type == "basic":
            return auth.username == self.client_id and auth.password == self.client_secret
        return request.form.get("client_id") == self.client_id and \
            request.form.get("client_secret") == self.client_secret

    def _token(self, request: Request) -> Response:
        form = request.form
        self.token_requests.append(dict(form))
        if not self._client_authenticated(request):
            return _json({"error": "invalid_client"}, 401)
        if form.get("grant_type") != "authorization_code":
            return _json({"error": "unsupported_grant_type"}, 400)
        grant = self.codes.pop(form.get("code", ""), None)  # a code is good once
        if grant is None or grant["redirect_uri"] != form.get("redirect_uri"):
            return _json({"error": "invalid_grant"}, 400)
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if challenge != grant["challenge"]:
            return _json({"error": "invalid_grant", "error_description": "PKCE verification failed"}, 400)
        identity: Identity = grant["identity"]
        now = int(clock.now().timestamp())  # the portal's clock, frozen or not
        claims = {
            "iss": f"{self.url}/{identity.tenant_id}/v2.0", "aud": self.client_id, "tid": identity.tenant_id,
            "iat": now, "nbf": now, "exp": now + 3600, "nonce": grant["nonce"], "name": identity.name,
            "oid": str(uuid.uuid5(uuid.NAMESPACE_URL, identity.email)), "sub": secrets.token_urlsafe(16),
            identity.email_claim: identity.email, "ver": "2.0",
        }
        if identity.admin:
            claims["wids"] = [GLOBAL_ADMINISTRATOR]
        claims.update(identity.overrides)
        key = identity.sign_with or self.key
        id_token = jwt.encode({"alg": "RS256", "kid": "fake-1"}, claims, key)
        return _json({"token_type": "Bearer", "expires_in": 3600, "access_token": secrets.token_urlsafe(24),
                      "id_token": id_token, "scope": "openid profile email"})


def _json(body: dict, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")
