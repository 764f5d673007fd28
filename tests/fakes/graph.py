"""A local HTTPS fake of Microsoft Entra ID (token endpoint, OpenID configuration) and Microsoft Graph
(`subscribedSkus`, the Office 365 active-user report), for the real adapter in portal/integrations/graph.py.

- `GET /{tenant}/v2.0/.well-known/openid-configuration`: what msal reads before asking for a token;
- `POST /{tenant}/oauth2/v2.0/token`: client credentials; checks the client id and secret, the tenant (known) and
  the scope; answers AADSTS65001 (consent_required) for a tenant whose consent is off, AADSTS7000215 for a wrong
  secret; issues an opaque token bound to the tenant;
- `GET /v1.0/subscribedSkus` and `GET /v1.0/reports/getOffice365ActiveUserDetail(period='D30')`: 401 without or with
  an unknown token; the report answers 302 to `/download/<id>.csv` (pre-authenticated: it refuses a bearer token,
  as a storage account would) or 403 when the tenant's reports permission is off. Concealed names are MD5-like
  hashes of the UPN, as Microsoft shows them.
"""

import hashlib
import ipaddress
import json
import secrets
import shutil
import ssl
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.fakes.externals import LoopbackServer

CLIENT_ID = "11111111-2222-4333-8444-555555555555"
CLIENT_SECRET = "fake-graph-secret"  # noqa: S105 - the fake's own
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
REPORT_HEADER = [
    "Report Refresh Date", "User Principal Name", "Display Name", "Is Deleted", "Deleted Date",
    "Has Exchange License", "Has OneDrive License", "Has SharePoint License", "Has Skype For Business License",
    "Has Yammer License", "Has Teams License", "Exchange Last Activity Date", "OneDrive Last Activity Date",
    "SharePoint Last Activity Date", "Skype For Business Last Activity Date", "Yammer Last Activity Date",
    "Teams Last Activity Date", "Exchange License Assign Date", "OneDrive License Assign Date",
    "SharePoint License Assign Date", "Skype For Business License Assign Date", "Yammer License Assign Date",
    "Teams License Assign Date", "Assigned Products",
]


class TestPki:
    """A throwaway CA and a server certificate for 127.0.0.1 signed by it (the adapter trusts the CA file)."""

    __test__ = False

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="portal-graph-pki-"))
        ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Fake Graph Test CA")])
        now = datetime.now(UTC)  # TLS validity is wall-clock time
        ca = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(ca_key.public_key())
              .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
              .not_valid_after(now + timedelta(days=1))
              .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
              .sign(ca_key, hashes.SHA256()))
        self.ca_file = self.directory / "ca.pem"
        self.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
                .issuer_name(name).public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                               critical=False)
                .sign(ca_key, hashes.SHA256()))
        self.cert_file = self.directory / "server.pem"
        self.key_file = self.directory / "server.key"
        self.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self.key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption()))

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


@dataclass
class FakeUser:
    upn: str
    products: list[str]  # report names, e.g. "MICROSOFT 365 BUSINESS STANDARD"
    last_activity: date | None  # None: no activity in the period


@dataclass
class FakeTenant:
    skus: list[dict] = field(default_factory=list)  # Graph subscribedSku objects
    users: list[FakeUser] = field(default_factory=list)
    consent: bool = True  # False: the token endpoint answers AADSTS65001
    graph_forbidden: bool = False  # True: subscribedSkus answers 403 (Organization.Read.All not granted)
    reports: bool = True  # False: the report answers 403 (Reports.Read.All not granted)
    concealed: bool = False  # displayConcealedNames on
    refreshed: date = field(default_factory=lambda: date(2026, 12, 6))


def sku(sku_id: str, part_number: str, enabled: int, consumed: int) -> dict:
    return {"capabilityStatus": "Enabled", "appliesTo": "User", "consumedUnits": consumed,
            "id": f"tenant_{sku_id}", "skuId": sku_id, "skuPartNumber": part_number,
            "prepaidUnits": {"enabled": enabled, "suspended": 0, "warning": 0, "lockedOut": 0},
            "servicePlans": []}


class GraphFake:
    """See the module docstring. `tenants` by tenant id; `requests` logs (method, path, had a bearer token)."""

    def __init__(self, pki: TestPki) -> None:
        self.pki = pki
        self.tenants: dict[str, FakeTenant] = {}
        self.tokens: dict[str, str] = {}  # token → tenant
        self.downloads: dict[str, bytes] = {}
        self.requests: list[tuple[str, str, bool]] = []
        self.token_requests = 0
        self._server: LoopbackServer | None = None
        self.url = ""

    def start(self) -> "GraphFake":
        self._server = LoopbackServer(self.wsgi_app, ssl_context=self.pki.server_context()).start()
        self.url = self._server.url
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    # ------------------------------------------------------------ protocol

    def _json(self, start_response, status: str, body: dict, headers=()):
        raw = json.dumps(body).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(raw))),
                                *headers])
        return [raw]

    def _token_error(self, start_response, status: str, error: str, code: int, description: str):
        return self._json(start_response, status, {
            "error": error, "error_description": f"AADSTS{code}: {description}", "error_codes": [code],
            "timestamp": "2026-12-06 12:00:00Z", "trace_id": "fake", "correlation_id": "fake"})

    def wsgi_app(self, environ, start_response):
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        authorization = environ.get("HTTP_AUTHORIZATION", "")
        self.requests.append((method, path, bool(authorization)))
        parts = [p for p in path.split("/") if p]
        if method == "GET" and len(parts) == 4 and parts[1:] == ["v2.0", ".well-known", "openid-configuration"]:
            tenant = parts[0]
            if tenant not in self.tenants:
                return self._json(start_response, "400 Bad Request", {"error": "invalid_tenant"})
            base = f"{self.url}/{tenant}"
            return self._json(start_response, "200 OK", {
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "issuer": f"{base}/v2.0", "token_endpoint_auth_methods_supported": ["client_secret_post"],
                "jwks_uri": f"{base}/discovery/v2.0/keys", "response_types_supported": ["code"]})
        if method == "POST" and len(parts) == 4 and parts[1:] == ["oauth2", "v2.0", "token"]:
            return self._token(environ, start_response, parts[0])
        if method == "GET" and len(parts) == 2 and parts[0] == "download":
            if authorization:  # a pre-authenticated address: a bearer token here is refused
                return self._json(start_response, "400 Bad Request", {"error": "authorization not expected"})
            body = self.downloads.get(parts[1])
            if body is None:
                return self._json(start_response, "404 Not Found", {"error": "gone"})
            start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                      ("Content-Length", str(len(body)))])
            return [body]
        if method == "GET" and path.startswith("/v1.0/"):
            token = authorization.removeprefix("Bearer ") if authorization.startswith("Bearer ") else ""
            tenant_id = self.tokens.get(token)
            if tenant_id is None:
                return self._json(start_response, "401 Unauthorized", {"error": {
                    "code": "InvalidAuthenticationToken", "message": "Access token is empty or invalid."}})
            tenant = self.tenants[tenant_id]
            if path == "/v1.0/subscribedSkus":
                if tenant.graph_forbidden:
                    return self._forbidden(start_response)
                return self._json(start_response, "200 OK", {
                    "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#subscribedSkus",
                    "value": tenant.skus})
            if path == "/v1.0/reports/getOffice365ActiveUserDetail(period='D30')":
                if not tenant.reports:
                    return self._forbidden(start_response)
                download = secrets.token_hex(8)
                self.downloads[download] = self._report(tenant)
                start_response("302 Found", [("Location", f"{self.url}/download/{download}"),
                                             ("Content-Length", "0")])
                return [b""]
        return self._json(start_response, "404 Not Found", {"error": {"code": "NotFound", "message": path}})

    def _forbidden(self, start_response):
        return self._json(start_response, "403 Forbidden", {"error": {
            "code": "Authorization_RequestDenied", "message": "Insufficient privileges to complete the operation."}})

    def _token(self, environ, start_response, tenant_id: str):
        self.token_requests += 1
        length = int(environ.get("CONTENT_LENGTH") or 0)
        form = {k: v[0] for k, v in parse_qs(environ["wsgi.input"].read(length).decode()).items()}
        tenant = self.tenants.get(tenant_id)
        if tenant is None:
            return self._token_error(start_response, "400 Bad Request", "invalid_request", 90002,
                                     f"Tenant '{tenant_id}' not found.")
        if form.get("grant_type") != "client_credentials" or form.get("scope") != GRAPH_SCOPE:
            return self._token_error(start_response, "400 Bad Request", "invalid_scope", 1002012,
                                     "The provided value for scope is not valid.")
        if form.get("client_id") != CLIENT_ID:
            return self._token_error(start_response, "400 Bad Request", "unauthorized_client", 700016,
                                     f"Application with identifier '{form.get('client_id')}' was not found.")
        if form.get("client_secret") != CLIENT_SECRET:
            return self._token_error(start_response, "401 Unauthorized", "invalid_client", 7000215,
                                     "Invalid client secret provided.")
        if not tenant.consent:
            return self._token_error(start_response, "400 Bad Request", "invalid_grant", 65001,
                                     "The user or administrator has not consented to use the application.")
        token = secrets.token_urlsafe(24)
        self.tokens[token] = tenant_id
        return self._json(start_response, "200 OK", {"token_type": "Bearer", "expires_in": 3599,
                                                     "ext_expires_in": 3599, "access_token": token})

    def _report(self, tenant: FakeTenant) -> bytes:
        out = [",".join(REPORT_HEADER)]
        for user in tenant.users:
            upn = hashlib.md5(user.upn.encode()).hexdigest().upper() if tenant.concealed else user.upn  # noqa: S324
            last = user.last_activity.isoformat() if user.last_activity else ""
            row = {name: "" for name in REPORT_HEADER}
            row.update({"Report Refresh Date": tenant.refreshed.isoformat(), "User Principal Name": upn,
                        "Display Name": upn, "Is Deleted": "False", "Has Exchange License": "True",
                        "Exchange Last Activity Date": last, "Teams Last Activity Date": last,
                        "Assigned Products": "+".join(user.products)})
            out.append(",".join(f'"{row[name]}"' if "," in row[name] else row[name] for name in REPORT_HEADER))
        return ("\ufeff" + "\r\n".join(out) + "\r\n").encode("utf-8")
