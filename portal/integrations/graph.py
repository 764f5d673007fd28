"""Microsoft Graph, read with the customer's consent: the `LicenseUsage` Protocol, its real adapter and a simulator.

What the portal reads of a customer's tenant (Organization.microsoft_tenant_id):

- `GET /v1.0/subscribedSkus` (Organization.Read.All): per SKU, `skuId`, `skuPartNumber`, licences bought
  (`prepaidUnits.enabled`) and assigned (`consumedUnits`);
- `GET /v1.0/reports/getOffice365ActiveUserDetail(period='D30')` (Reports.Read.All): a CSV, one line per user, with
  "User Principal Name", the "... Last Activity Date" columns and "Assigned Products" (product names joined by "+").
  Graph answers 302 to a pre-authenticated download address, fetched without the bearer token. When the tenant's
  report setting `displayConcealedNames` is on, user names are hashes (no "@"): the portal shows counts only.

Tokens: OAuth 2.0 client credentials of the reseller's multi-tenant app (msal ConfidentialClientApplication) at
`{GRAPH_AUTHORITY_URL}/{tenant}/oauth2/v2.0/token`, scope `https://graph.microsoft.com/.default`. The app only gets a
token for a tenant whose global admin granted admin consent (`admin_consent_url`); before that the token endpoint
answers AADSTS65001 (consent_required) or AADSTS700016 (app not in the directory), and a permission not granted
makes Graph answer 403. Both become `UsageStatus.CONSENT_MISSING` / `reports_available=False`, never an exception.

Adapters (chosen by `GRAPH_BACKEND`): `simulator` (the default, no account anywhere) and `graph`.
"""

import csv
import functools
import io
import json
import ssl
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Protocol
from urllib.parse import quote, urlencode, urljoin, urlsplit

import msal
import requests

from portal.integrations.http import NoRedirects

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
DEFAULT_AUTHORITY_URL = "https://login.microsoftonline.com"
DEFAULT_GRAPH_URL = "https://graph.microsoft.com"
REPORT_PATH = "/v1.0/reports/getOffice365ActiveUserDetail(period='D30')"
INACTIVE_DAYS = 30  # a licensed user with no activity in this many days is "inativo"
# AADSTS codes of the token endpoint that mean "the customer has not consented (yet)".
CONSENT_CODES = (65001, 700016, 7000229)

# Microsoft's product names ("Product names and service plan identifiers for licensing"), as the usage reports'
# "Assigned Products" spell them, for the SKUs the portal sells: how a user's products become SKU part numbers.
REPORT_PRODUCT_NAMES = {
    "MICROSOFT 365 BUSINESS BASIC": "O365_BUSINESS_ESSENTIALS",
    "MICROSOFT 365 BUSINESS STANDARD": "O365_BUSINESS_PREMIUM",
    "MICROSOFT 365 BUSINESS PREMIUM": "SPB",
    "MICROSOFT 365 E3": "SPE_E3",
    "MICROSOFT 365 E5": "SPE_E5",
    "OFFICE 365 E1": "STANDARDPACK",
    "OFFICE 365 E3": "ENTERPRISEPACK",
    "MICROSOFT TEAMS ESSENTIALS": "TEAMS_ESSENTIALS_AAD",
    "MICROSOFT DEFENDER FOR BUSINESS": "MDE_SMB",
    "MICROSOFT DEFENDER FOR OFFICE 365 (PLAN 1)": "ATP_ENTERPRISE",
    "MICROSOFT ENTRA ID P1": "AAD_PREMIUM",
}


class UsageStatus(StrEnum):
    OK = "ok"  # the SKUs were read (inactive users too when `reports_available`)
    CONSENT_MISSING = "consent_missing"  # no token for the tenant, or Graph refused subscribedSkus (403)
    ERROR = "error"  # Graph or the network failed; `message` says how (try again later)


@dataclass(frozen=True)
class SkuUsage:
    sku_id: str  # Graph skuId (a GUID, lower case)
    part_number: str  # skuPartNumber, e.g. "O365_BUSINESS_PREMIUM"
    enabled: int  # licences bought: prepaidUnits.enabled
    consumed: int  # licences assigned to users: consumedUnits


@dataclass(frozen=True)
class InactiveUser:
    user: str  # the UPN, or Graph's hash of it when names are concealed
    last_activity: date | None  # the latest of the report's "... Last Activity Date" columns; None: never
    part_numbers: tuple[str, ...]  # the user's assigned SKUs (from "Assigned Products")


@dataclass(frozen=True)
class UsageReport:
    status: UsageStatus
    skus: tuple[SkuUsage, ...] = ()
    reports_available: bool = False  # Reports.Read.All granted: `inactive` is meaningful
    concealed: bool = False  # the report hides user names (displayConcealedNames): counts only
    inactive: tuple[InactiveUser, ...] = ()
    message: str = ""  # for staff and logs: what Graph or the token endpoint said


class LicenseUsage(Protocol):
    """Reads one customer tenant; never raises for what Microsoft or the network answered."""

    name: str  # "simulator" | "graph"

    def read(self, tenant_id: str) -> UsageReport: ...


def admin_consent_url(config, tenant_id: str | None) -> str:
    """The link a customer's global admin follows to grant the reseller's app its permissions in the tenant
    (Microsoft identity platform admin consent endpoint); "organizations" when the tenant is not known yet."""
    authority = (config.get("GRAPH_AUTHORITY_URL") or DEFAULT_AUTHORITY_URL).rstrip("/")
    query = {"client_id": config.get("GRAPH_CLIENT_ID") or ""}
    redirect = config.get("GRAPH_CONSENT_REDIRECT_URL") or ""
    if redirect:
        query["redirect_uri"] = redirect
    return f"{authority}/{quote(tenant_id or 'organizations', safe='')}/adminconsent?{urlencode(query)}"


# ---------------------------------------------------------------- reading the report

def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip()[:10]) if text and text.strip() else None
    except ValueError:
        return None


def parse_active_user_report(body: bytes) -> tuple[tuple[InactiveUser, ...], bool]:
    """(licensed users inactive for INACTIVE_DAYS or more, whether names are concealed) from the report's CSV."""
    text = body.decode("utf-8-sig", errors="replace")
    inactive: list[InactiveUser] = []
    concealed = False
    for row in csv.DictReader(io.StringIO(text)):
        row = {(k or "").strip(): (v or "") for k, v in row.items()}
        user = row.get("User Principal Name", "").strip()
        products = [p.strip() for p in row.get("Assigned Products", "").split("+") if p.strip()]
        if not user or not products or row.get("Is Deleted", "").strip().lower() == "true":
            continue
        if "@" not in user:
            concealed = True
        refreshed = _day(row.get("Report Refresh Date", ""))
        activity = [d for k, v in row.items() if k.endswith("Last Activity Date") and (d := _day(v))]
        last = max(activity) if activity else None
        if last is not None and refreshed is not None and (refreshed - last).days < INACTIVE_DAYS:
            continue
        if last is not None and refreshed is None:
            continue
        parts = tuple(REPORT_PRODUCT_NAMES.get(p.upper(), p.upper()) for p in products)
        inactive.append(InactiveUser(user=user, last_activity=last, part_numbers=parts))
    return tuple(inactive), concealed


def _sku(item: dict) -> SkuUsage | None:
    if not isinstance(item, dict) or not item.get("skuId"):
        return None
    prepaid = item.get("prepaidUnits") if isinstance(item.get("prepaidUnits"), dict) else {}
    try:
        return SkuUsage(sku_id=str(item["skuId"]).lower(), part_number=str(item.get("skuPartNumber") or ""),
                        enabled=int(prepaid.get("enabled") or 0), consumed=int(item.get("consumedUnits") or 0))
    except (TypeError, ValueError):
        return None


# ---------------------------------------------------------------- the real adapter

class _NetworkError(Exception):
    pass


class GraphClient:
    """Graph over HTTPS (urllib), tokens from msal; one ConfidentialClientApplication (and token cache) per tenant."""

    name = "graph"

    def __init__(self, *, client_id: str, client_secret: str, authority_url: str = DEFAULT_AUTHORITY_URL,
                 graph_url: str = DEFAULT_GRAPH_URL, ca_file: str = "", timeout: float = 30) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.authority_url = authority_url.rstrip("/")
        self.graph_url = graph_url.rstrip("/")
        self.ca_file = ca_file
        self.timeout = timeout
        self._apps: dict[str, msal.ConfidentialClientApplication] = {}
        self._lock = threading.Lock()
        context = ssl.create_default_context(cafile=ca_file or None)
        self._opener = urllib.request.build_opener(NoRedirects, urllib.request.HTTPSHandler(context=context))

    def _http_client(self) -> requests.Session:
        """msal's HTTP client. The CA file and timeout go on every request: a session-wide `verify` loses to
        REQUESTS_CA_BUNDLE in the environment (requests' merge order)."""
        session = requests.Session()
        extra = {"timeout": self.timeout, **({"verify": self.ca_file} if self.ca_file else {})}
        session.request = functools.partial(session.request, **extra)
        return session

    def _app(self, tenant_id: str) -> msal.ConfidentialClientApplication:
        with self._lock:
            app = self._apps.get(tenant_id)
            if app is None:
                app = msal.ConfidentialClientApplication(
                    self.client_id, client_credential=self.client_secret,
                    authority=f"{self.authority_url}/{quote(tenant_id, safe='')}",
                    # Our own authority setting is trusted: no instance discovery at login.microsoftonline.com.
                    validate_authority=self.authority_url == DEFAULT_AUTHORITY_URL, instance_discovery=False,
                    http_client=self._http_client())
                self._apps[tenant_id] = app
            return app

    def _token(self, tenant_id: str) -> tuple[str | None, UsageReport | None]:
        try:
            answer = self._app(tenant_id).acquire_token_for_client(scopes=[GRAPH_SCOPE])
        except (ValueError, OSError, RuntimeError) as exc:  # OIDC discovery refused (unknown tenant), network
            with self._lock:
                self._apps.pop(tenant_id, None)
            return None, UsageReport(UsageStatus.ERROR, message=f"token endpoint: {exc}"[:500])
        if "access_token" in answer:
            return answer["access_token"], None
        description = str(answer.get("error_description") or answer.get("error") or "")
        codes = answer.get("error_codes") or []
        if (any(code in CONSENT_CODES for code in codes) or answer.get("suberror") == "consent_required"
                or any(f"AADSTS{code}" in description for code in CONSENT_CODES)):
            return None, UsageReport(UsageStatus.CONSENT_MISSING, message=description[:500])
        return None, UsageReport(UsageStatus.ERROR, message=description[:500])

    def _get(self, url: str, token: str | None) -> tuple[int, bytes, str]:
        headers = {"Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if urlsplit(url).scheme != "https":
            raise _NetworkError(f"refused a non-https address: {url[:80]}")
        request = urllib.request.Request(url, headers=headers, method="GET")  # noqa: S310 - https only, checked above
        location = ""
        try:
            with self._opener.open(request, timeout=self.timeout) as answer:
                return answer.status, answer.read(), ""
        except urllib.error.HTTPError as exc:
            location = exc.headers.get("Location", "") if exc.headers else ""
            try:
                body = exc.read()
            except OSError:
                body = b""
            return exc.code, body, location
        except (urllib.error.URLError, OSError) as exc:
            raise _NetworkError(str(getattr(exc, "reason", exc))) from None

    def read(self, tenant_id: str) -> UsageReport:
        token, refused = self._token(tenant_id)
        if refused is not None:
            return refused
        try:
            status, body, _ = self._get(f"{self.graph_url}/v1.0/subscribedSkus", token)
            if status in (401, 403):
                return UsageReport(UsageStatus.CONSENT_MISSING, message=f"subscribedSkus: HTTP {status}")
            if status != 200:
                return UsageReport(UsageStatus.ERROR, message=f"subscribedSkus: HTTP {status}")
            try:
                items = json.loads(body).get("value") or []
            except (ValueError, AttributeError):
                return UsageReport(UsageStatus.ERROR, message="subscribedSkus: not JSON")
            skus = tuple(s for s in (_sku(i) for i in items) if s is not None)
            status, body, location = self._get(self.graph_url + REPORT_PATH, token)
            if status in (301, 302, 303, 307) and location:
                # A pre-authenticated download address: never send it our token.
                status, body, _ = self._get(urljoin(self.graph_url + "/", location), None)
        except _NetworkError as exc:
            return UsageReport(UsageStatus.ERROR, message=f"network: {exc}"[:500])
        if status != 200:  # 403: Reports.Read.All not granted; counts of SKUs only
            return UsageReport(UsageStatus.OK, skus=skus, message=f"report: HTTP {status}")
        inactive, concealed = parse_active_user_report(body)
        return UsageReport(UsageStatus.OK, skus=skus, reports_available=True, concealed=concealed, inactive=inactive)


# ---------------------------------------------------------------- the simulator

@dataclass
class SimulatedTenant:
    """What the simulator answers for one tenant (set by the demo data or a test)."""

    skus: list[SkuUsage] = field(default_factory=list)
    inactive: list[InactiveUser] = field(default_factory=list)
    consent: bool = True  # False: answers CONSENT_MISSING
    reports: bool = True  # False: Reports.Read.All not granted
    concealed: bool = False


def _tenant_to_json(tenant: SimulatedTenant) -> dict:
    return {"skus": [vars(s) for s in tenant.skus], "consent": tenant.consent, "reports": tenant.reports,
            "concealed": tenant.concealed,
            "inactive": [{"user": u.user, "last_activity": u.last_activity.isoformat() if u.last_activity else None,
                          "part_numbers": list(u.part_numbers)} for u in tenant.inactive]}


def _tenant_from_json(data: dict) -> SimulatedTenant:
    return SimulatedTenant(
        skus=[SkuUsage(**s) for s in data.get("skus", [])], consent=data.get("consent", True),
        reports=data.get("reports", True), concealed=data.get("concealed", False),
        inactive=[InactiveUser(user=u["user"], last_activity=_day(u.get("last_activity") or ""),
                               part_numbers=tuple(u.get("part_numbers", []))) for u in data.get("inactive", [])])


class GraphSimulator:
    """A SIMULATOR of the tenants' answers: each tenant as `set_tenant` left it (in a folder shared by every process
    when `directory` is given, in memory otherwise); a tenant never set has no SKUs."""

    name = "simulator"

    def __init__(self, directory: str = "") -> None:
        self.directory = Path(directory) if directory else None
        self._tenants: dict[str, SimulatedTenant] = {}
        self._lock = threading.Lock()

    def _path(self, tenant_id: str) -> Path:
        assert self.directory is not None
        return self.directory / f"{''.join(c for c in tenant_id if c.isalnum() or c == '-')}.json"

    def set_tenant(self, tenant_id: str, tenant: SimulatedTenant) -> None:
        with self._lock:
            if self.directory is None:
                self._tenants[tenant_id] = tenant
                return
            self.directory.mkdir(parents=True, exist_ok=True)
            self._path(tenant_id).write_text(json.dumps(_tenant_to_json(tenant)))

    def tenant(self, tenant_id: str) -> SimulatedTenant:
        with self._lock:
            if self.directory is None:
                return self._tenants.get(tenant_id) or SimulatedTenant()
            path = self._path(tenant_id)
            return _tenant_from_json(json.loads(path.read_text())) if path.exists() else SimulatedTenant()

    def read(self, tenant_id: str) -> UsageReport:
        tenant = self.tenant(tenant_id)
        if not tenant.consent:
            return UsageReport(UsageStatus.CONSENT_MISSING, message="simulator: consent not granted")
        if not tenant.reports:
            return UsageReport(UsageStatus.OK, skus=tuple(tenant.skus), message="simulator: report: HTTP 403")
        return UsageReport(UsageStatus.OK, skus=tuple(tenant.skus), reports_available=True,
                           concealed=tenant.concealed, inactive=tuple(tenant.inactive))


def from_config(config) -> LicenseUsage:
    """The reader `GRAPH_BACKEND` names: "simulator" (default) or "graph" (needs GRAPH_CLIENT_ID/SECRET)."""
    backend = config.get("GRAPH_BACKEND") or "simulator"
    if backend == "simulator":
        return GraphSimulator(config.get("GRAPH_SIMULATOR_DIR") or "")
    if backend == "graph":
        if not config.get("GRAPH_CLIENT_ID") or not config.get("GRAPH_CLIENT_SECRET"):
            raise RuntimeError("GRAPH_BACKEND=graph needs GRAPH_CLIENT_ID and GRAPH_CLIENT_SECRET")
        authority = config.get("GRAPH_AUTHORITY_URL") or DEFAULT_AUTHORITY_URL
        if urlsplit(authority).scheme != "https":
            raise RuntimeError("GRAPH_AUTHORITY_URL must be an https address (msal refuses others)")
        return GraphClient(client_id=config["GRAPH_CLIENT_ID"], client_secret=config["GRAPH_CLIENT_SECRET"],
                           authority_url=authority, graph_url=config.get("GRAPH_URL") or DEFAULT_GRAPH_URL,
                           ca_file=config.get("GRAPH_CA_FILE") or "", timeout=float(config.get("GRAPH_TIMEOUT", 30)))
    raise RuntimeError(f"GRAPH_BACKEND must be simulator or graph, not {backend!r}")

