"""Settings, read once from the environment; every name here can be overridden by an env variable."""

import base64
import hashlib
import os
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

PACKAGE_DIR = Path(__file__).resolve().parent  # portal/: templates, static files, migrations, translations


def _instance_dir() -> Path:
    """Where the development secrets, the SQLite files and the simulators' files live: PORTAL_INSTANCE_DIR;
    else `instance/` in the checkout when running from one (next to pyproject.toml), else `instance/` in the
    current directory (an installed wheel: its site-packages is no place for data)."""
    if os.environ.get("PORTAL_INSTANCE_DIR"):
        return Path(os.environ["PORTAL_INSTANCE_DIR"])
    checkout = PACKAGE_DIR.parent
    if (checkout / "pyproject.toml").is_file():
        return checkout / "instance"
    return Path.cwd() / "instance"


INSTANCE_DIR = _instance_dir()


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _hours_by_priority(name: str, default: str) -> dict[str, int]:
    """"urgent=1,high=4,normal=8,low=24" → {"urgent": 1, …}: a target in hours for each ticket priority."""
    targets = {}
    for item in os.environ.get(name, default).split(","):
        priority, _, hours = item.partition("=")
        if not hours.strip().isdigit() or int(hours) < 1:
            raise RuntimeError(f"{name}: expected priority=hours pairs like {default!r}, got {item!r}")
        targets[priority.strip().lower()] = int(hours)
    missing = {"urgent", "high", "normal", "low"} - set(targets)
    if missing:
        raise RuntimeError(f"{name}: missing a target for {', '.join(sorted(missing))}")
    return targets


def _words(name: str, default: str) -> frozenset[str]:
    return frozenset(w.strip().lower().lstrip(".") for w in os.environ.get(name, default).split(",") if w.strip())


def _secret_key(env: str) -> str:
    """Production must set SECRET_KEY; development keeps a random one in instance/ so sessions survive restarts."""
    key = os.environ.get("SECRET_KEY")
    if key:
        return key
    if env == "production":
        raise RuntimeError("SECRET_KEY must be set when PORTAL_ENV=production")
    if env == "test":
        return "test-secret-key-not-for-production"
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    path = INSTANCE_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def _instance_secret(name: str, env: str, filename: str, make, test_value: str) -> str:
    """An env variable; required in production; a fixed value in tests; elsewhere made once in instance/."""
    value = os.environ.get(name, "").strip()
    if value:
        return value
    if env == "production":
        raise RuntimeError(f"{name} must be set when PORTAL_ENV=production")
    if env == "test":
        return test_value
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    path = INSTANCE_DIR / filename
    if not path.exists():
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


def _base_url(env: str) -> str:
    """The portal's public address, the only origin of links in e-mails; production must say it."""
    url = os.environ.get("BASE_URL", "").strip()
    if not url:
        if env == "production":
            raise RuntimeError("BASE_URL must be set when PORTAL_ENV=production (e.g. https://portal.example.com)")
        return f"http://127.0.0.1:{os.environ.get('PORT', '5000')}"
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise RuntimeError(f"BASE_URL must be an absolute http(s) address, not {url!r}")
    return url


def _trusted_hosts(env: str, base_url: str) -> list[str] | None:
    """Host names a request may carry (comma-separated; ".example.com" admits its subdomains). Production
    defaults to BASE_URL's host; elsewhere every host is accepted unless the setting is given."""
    hosts = [h.strip().lower() for h in os.environ.get("TRUSTED_HOSTS", "").split(",") if h.strip()]
    if hosts:
        return hosts
    return [urlsplit(base_url).hostname] if env == "production" else None


def load(env: str | None = None) -> dict:
    """The whole configuration as a dict for `app.config.from_mapping`."""
    env = env or os.environ.get("PORTAL_ENV", "development")
    if env not in {"development", "production", "test"}:
        raise RuntimeError(f"PORTAL_ENV must be development, production or test, not {env!r}")
    default_db = f"sqlite:///{INSTANCE_DIR / 'portal.db'}"
    default_jobs = f"sqlite:///{INSTANCE_DIR / 'jobs.db'}"
    base_url = _base_url(env)
    login_limit = os.environ.get("LOGIN_RATE_LIMIT", "10 per minute;50 per hour")
    return {
        "PORTAL_ENV": env,
        "SECRET_KEY": _secret_key(env),
        # Database: SQLite in instance/ by default, PostgreSQL with postgresql+psycopg://…
        "SQLALCHEMY_DATABASE_URI": os.environ.get("DATABASE_URL", default_db),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        # Background jobs: sqlite:///path (default), redis://host:port/db, or memory:// (runs inline).
        "JOBS_URL": os.environ.get("JOBS_URL", default_jobs),
        # Absolute address of every link in e-mails (never the request's Host); required in production.
        "BASE_URL": base_url,
        # Flask refuses (400) a request whose Host is not one of these; None accepts any (development, tests).
        "TRUSTED_HOSTS": _trusted_hosts(env, base_url),
        # Mail: file (instance/mail/*.eml), smtp, or memory (tests).
        "MAIL_BACKEND": os.environ.get("MAIL_BACKEND", "file"),
        "MAIL_OUTBOX_DIR": os.environ.get("MAIL_OUTBOX_DIR", str(INSTANCE_DIR / "mail")),
        "MAIL_FROM": os.environ.get("MAIL_FROM", "Portal Cloud <nao-responda@portal.example.com>"),
        "MAIL_STAFF_TO": os.environ.get("MAIL_STAFF_TO", "equipe@portal.example.com"),
        "SMTP_HOST": os.environ.get("SMTP_HOST", "127.0.0.1"),
        "SMTP_PORT": _int("SMTP_PORT", 587),
        "SMTP_USERNAME": os.environ.get("SMTP_USERNAME", ""),
        "SMTP_PASSWORD": os.environ.get("SMTP_PASSWORD", ""),
        "SMTP_STARTTLS": _bool("SMTP_STARTTLS", True),
        "SMTP_SSL": _bool("SMTP_SSL", False),
        "SMTP_TIMEOUT": _int("SMTP_TIMEOUT", 30),
        "SMTP_CA_FILE": os.environ.get("SMTP_CA_FILE", ""),  # PEM bundle of a private CA; system store if empty
        # Provisioning: "simulator" (a Partner Center simulator, the default) or "partner_center" (the real API).
        "PROVISIONING_BACKEND": os.environ.get("PROVISIONING_BACKEND", "simulator"),
        "PARTNER_CENTER_URL": os.environ.get("PARTNER_CENTER_URL", "https://api.partnercenter.microsoft.com"),
        "PARTNER_CENTER_TOKEN": os.environ.get("PARTNER_CENTER_TOKEN", ""),
        "PARTNER_CENTER_TIMEOUT": float(os.environ.get("PARTNER_CENTER_TIMEOUT", "30")),  # seconds per request
        "PROVISIONING_SIMULATOR_DELAY_SECONDS": float(os.environ.get("PROVISIONING_SIMULATOR_DELAY_SECONDS", "5")),
        "PROVISIONING_SIMULATOR_FAILURE_RATE": float(os.environ.get("PROVISIONING_SIMULATOR_FAILURE_RATE", "0")),
        "PROVISIONING_SIMULATOR_SEED": _int("PROVISIONING_SIMULATOR_SEED", 0),
        # Licence use ("Uso de licenças", portal/integrations/graph.py): "simulator" (default) or "graph" (Microsoft
        # Graph with the customer's admin consent: the reseller's multi-tenant app, client credentials via msal).
        "GRAPH_BACKEND": os.environ.get("GRAPH_BACKEND", "simulator"),
        "GRAPH_CLIENT_ID": os.environ.get("GRAPH_CLIENT_ID", ""),
        "GRAPH_CLIENT_SECRET": os.environ.get("GRAPH_CLIENT_SECRET", ""),
        "GRAPH_AUTHORITY_URL": os.environ.get("GRAPH_AUTHORITY_URL", "https://login.microsoftonline.com"),
        "GRAPH_URL": os.environ.get("GRAPH_URL", "https://graph.microsoft.com"),
        "GRAPH_CA_FILE": os.environ.get("GRAPH_CA_FILE", ""),  # PEM bundle of a private CA; system store if empty
        "GRAPH_TIMEOUT": float(os.environ.get("GRAPH_TIMEOUT", "30")),  # seconds per request
        # Where the admin-consent page sends the customer's admin back (registered on the app); empty: the app's own.
        "GRAPH_CONSENT_REDIRECT_URL": os.environ.get("GRAPH_CONSENT_REDIRECT_URL", ""),
        # Where the Graph simulator keeps each tenant's answers so every process sees them (memory in tests).
        "GRAPH_SIMULATOR_DIR": os.environ.get(
            "GRAPH_SIMULATOR_DIR", "" if env == "test" else str(INSTANCE_DIR / "graph-simulator")
        ),
        # A customer's "Atualizar agora" reads Graph at most once per this many minutes per organization.
        "LICENCE_USAGE_REFRESH_MINUTES": _int("LICENCE_USAGE_REFRESH_MINUTES", 10),
        # An Adm's purchase or increase held for a Master's approval expires after this many days undecided.
        "APPROVAL_EXPIRY_DAYS": _int("APPROVAL_EXPIRY_DAYS", 7),
        # Onboarding: e-signature ("simulator" or "autentique") and the Teams handover card ("simulator" or
        # "workflows": a Teams Workflows webhook URL, a secret), Windows Server versions Backup em Nuvem supports.
        "ESIGN_BACKEND": os.environ.get("ESIGN_BACKEND", "simulator"),
        "AUTENTIQUE_URL": os.environ.get("AUTENTIQUE_URL", "https://api.autentique.com.br/v2/graphql"),
        "AUTENTIQUE_TOKEN": os.environ.get("AUTENTIQUE_TOKEN", ""),
        "AUTENTIQUE_WEBHOOK_SECRET": os.environ.get("AUTENTIQUE_WEBHOOK_SECRET", ""),
        "AUTENTIQUE_SANDBOX": _bool("AUTENTIQUE_SANDBOX", True),
        # Where the e-signature simulator keeps its documents so every process sees them (memory in tests).
        "ESIGN_SIMULATOR_DIR": os.environ.get(
            "ESIGN_SIMULATOR_DIR", "" if env == "test" else str(INSTANCE_DIR / "esign-simulator")
        ),
        # "Entrar com a Microsoft" (Entra ID, OpenID Connect): a multi-tenant app registration; empty client id = off.
        "ENTRA_CLIENT_ID": os.environ.get("ENTRA_CLIENT_ID", ""),
        "ENTRA_CLIENT_SECRET": os.environ.get("ENTRA_CLIENT_SECRET", ""),
        "ENTRA_AUTHORITY": os.environ.get("ENTRA_AUTHORITY", "https://login.microsoftonline.com"),
        "ENTRA_STAFF_TENANT_ID": os.environ.get("ENTRA_STAFF_TENANT_ID", "").strip().lower(),  # the reseller's
        "ENTRA_TIMEOUT": float(os.environ.get("ENTRA_TIMEOUT", "15")),  # seconds per request to Microsoft
        "TEAMS_BACKEND": os.environ.get("TEAMS_BACKEND", "simulator"),
        "TEAMS_WEBHOOK_URL": os.environ.get("TEAMS_WEBHOOK_URL", ""),
        # Outgoing webhooks (issue 18): only https:// addresses resolving to public IPs, unless this allows loopback
        # (127.0.0.0/8, ::1) and plain http for tests and local trials; on by default only when PORTAL_ENV=test.
        "WEBHOOKS_ALLOW_LOOPBACK": _bool("WEBHOOKS_ALLOW_LOOPBACK", env == "test"),
        "WEBHOOKS_TIMEOUT": float(os.environ.get("WEBHOOKS_TIMEOUT", "10")),  # seconds to connect, and to read
        "BACKUP_WINDOWS_SERVER_VERSIONS": os.environ.get(
            "BACKUP_WINDOWS_SERVER_VERSIONS", "2016,2019,2022,2025"
        ),  # comma-separated; older versions cannot be backed up
        "PURCHASE_OFFER_DAYS": _int("PURCHASE_OFFER_DAYS", 30),  # default validity of a purchase offer
        "PARTNER_OFFICES": os.environ.get("PARTNER_OFFICES", ""),  # comma-separated offices offered on offers
        # US dollars per unit of each currency, for co-sell deal registration's US$ 25,000 threshold.
        "COSELL_USD_RATES": os.environ.get("COSELL_USD_RATES", "BRL=0.18,EUR=1.08"),
        # A rescission's orders wait this long before reaching the provider: the Master may withdraw it meanwhile.
        "RESCISSION_GRACE_MINUTES": _int("RESCISSION_GRACE_MINUTES", 60),
        # Billing (the reseller's side of every invoice, boleto and Pix).
        "RESELLER_LEGAL_NAME": os.environ.get("RESELLER_LEGAL_NAME", "Portal Cloud Serviços de Tecnologia Ltda"),
        "RESELLER_CNPJ": os.environ.get("RESELLER_CNPJ", "11444777000161"),
        "RESELLER_ADDRESS": os.environ.get("RESELLER_ADDRESS", "Avenida Brigadeiro Faria Lima, 3000 – São Paulo/SP"),
        "BILLING_DUE_DAYS": _int("BILLING_DUE_DAYS", 10),  # due date = billing day + this, next business day
        "BILLING_DELINQUENT_AFTER_DAYS": _int("BILLING_DELINQUENT_AFTER_DAYS", 30),  # "inadimplente" after
        "BILLING_FINE_BP": _int("BILLING_FINE_BP", 200),  # multa in basis points of the amount (law: ≤ 2%)
        "BILLING_INTEREST_MONTHLY_BP": _int("BILLING_INTEREST_MONTHLY_BP", 100),  # juros de mora, 1% a.m. pro rata die
        "BILLING_SECOND_COPY_DAYS": _int("BILLING_SECOND_COPY_DAYS", 3),  # a 2ª via is due this many days on
        # Review before issuing (issue 16): the run makes drafts finance approves; a draft still waiting this many
        # days before its due date is flagged to finance.
        "BILLING_REVIEW": _bool("BILLING_REVIEW", False),
        "BILLING_REVIEW_LEAD_DAYS": _int("BILLING_REVIEW_LEAD_DAYS", 3),
        "BOLETO_BANK": os.environ.get("BOLETO_BANK", "341"),  # 001 Banco do Brasil, 237 Bradesco, 341 Itaú
        "BOLETO_AGENCY": os.environ.get("BOLETO_AGENCY", "0057"),
        "BOLETO_ACCOUNT": os.environ.get("BOLETO_ACCOUNT", "12345"),  # 5 digits Itaú, 7 Bradesco
        "BOLETO_CARTEIRA": os.environ.get("BOLETO_CARTEIRA", "109"),  # 3 digits Itaú, 2 BB and Bradesco
        "BOLETO_CONVENIO": os.environ.get("BOLETO_CONVENIO", "1234567"),  # Banco do Brasil, 7 digits
        # CNAB 240 check digits (BB, Bradesco; Itaú's DAC is computed) and BB's variação da carteira.
        "BOLETO_AGENCY_DV": os.environ.get("BOLETO_AGENCY_DV", ""),
        "BOLETO_ACCOUNT_DV": os.environ.get("BOLETO_ACCOUNT_DV", ""),
        "BOLETO_VARIACAO": os.environ.get("BOLETO_VARIACAO", ""),
        # CNAB 240 (billing/bank.py): "simulator" (the bank's simulator answers a remessa on the "Banco" page,
        # a demonstration) or "none" (a real bank: its retorno files are uploaded or fetched from the folder below).
        "BANK_BACKEND": os.environ.get("BANK_BACKEND", "none" if env == "production" else "simulator"),
        # A folder shared with the bank's file transfer (VAN, SFTP client): the day's remessa is written to
        # <dir>/remessa/, retornos are read from <dir>/retorno/. Empty: off.
        "BANK_TRANSFER_DIR": os.environ.get("BANK_TRANSFER_DIR", ""),
        # Hour (São Paulo) from which the periodic job writes the day's remessa into the folder.
        "BANK_TRANSFER_REMESSA_HOUR": _int("BANK_TRANSFER_REMESSA_HOUR", 18),
        "PIX_KEY": os.environ.get("PIX_KEY", "11444777000161"),  # a CNPJ, e-mail, phone or random key
        "PIX_MERCHANT_NAME": os.environ.get("PIX_MERCHANT_NAME", "PORTAL CLOUD"),
        "PIX_MERCHANT_CITY": os.environ.get("PIX_MERCHANT_CITY", "SAO PAULO"),
        # Dynamic Pix (cobv): "static" (no PSP: the static BR Code above), "simulator", or "api_pix" (any PSP
        # implementing the Banco Central's API Pix: OAuth2 client credentials over mTLS with the PSP's certificate).
        "PIX_BACKEND": os.environ.get("PIX_BACKEND", "static"),
        "PIX_API_URL": os.environ.get("PIX_API_URL", ""),  # with the major version, e.g. https://pix.psp.example/v2
        "PIX_TOKEN_URL": os.environ.get("PIX_TOKEN_URL", ""),  # the PSP's OAuth2 token endpoint
        "PIX_CLIENT_ID": os.environ.get("PIX_CLIENT_ID", ""),
        "PIX_CLIENT_SECRET": os.environ.get("PIX_CLIENT_SECRET", ""),
        "PIX_CERT_FILE": os.environ.get("PIX_CERT_FILE", ""),  # PEM client certificate the PSP issued
        "PIX_KEY_FILE": os.environ.get("PIX_KEY_FILE", ""),  # its PEM private key
        "PIX_CA_FILE": os.environ.get("PIX_CA_FILE", ""),  # PEM bundle of the PSP's CA; system store if empty
        "PIX_TIMEOUT": float(os.environ.get("PIX_TIMEOUT", "30")),  # seconds per request
        # The secret path segment of the webhook URL registered at the PSP (/webhooks/pix/<secret>, the PSP
        # appends /pix); empty: every webhook call is refused (404) and only polling records Pix.
        "PIX_WEBHOOK_SECRET": os.environ.get("PIX_WEBHOOK_SECRET", ""),
        # Behind a proxy doing the webhook's mTLS: the header it sets with the SHA-256 fingerprint of the client
        # certificate it verified, and the PSP's fingerprints (comma-separated). Both or neither.
        "PIX_WEBHOOK_CERT_HEADER": os.environ.get("PIX_WEBHOOK_CERT_HEADER", ""),
        "PIX_WEBHOOK_CERT_SHA256": os.environ.get("PIX_WEBHOOK_CERT_SHA256", ""),
        # Where the Pix simulator keeps its cobvs so the web process and the job consumer share them (memory in tests).
        "PIX_SIMULATOR_DIR": os.environ.get(
            "PIX_SIMULATOR_DIR", "" if env == "test" else str(INSTANCE_DIR / "pix-simulator")
        ),
        "PIX_TXID_SECRET": os.environ.get("PIX_TXID_SECRET", ""),  # HMAC key of the cobv txids; SECRET_KEY if empty
        # Notas fiscais: "simulator" (documents marked SEM VALOR FISCAL) or "upload" (staff upload XML + PDF).
        "FISCAL_BACKEND": os.environ.get("FISCAL_BACKEND", "simulator"),
        # NFS-e Paulistana (FISCAL_BACKEND=nfse_sao_paulo, portal/integrations/nfse_sao_paulo.py; README section).
        "PAULISTANA_URL": os.environ.get("PAULISTANA_URL", "https://nfews.prefeitura.sp.gov.br/lotenfe.asmx"),
        "PAULISTANA_LAYOUT": _int("PAULISTANA_LAYOUT", 1),  # 1 or 2 (IBS/CBS): the city sets it per prestador
        "RESELLER_MUNICIPAL_REGISTRATION": os.environ.get("RESELLER_MUNICIPAL_REGISTRATION", ""),  # the CCM
        "PAULISTANA_SERVICE_CODE": os.environ.get("PAULISTANA_SERVICE_CODE", "2800"),  # accountant to confirm
        "PAULISTANA_ISS_RATE": os.environ.get("PAULISTANA_ISS_RATE", "0.029"),  # AliquotaServicos, a fraction
        "PAULISTANA_RPS_SERIES": os.environ.get("PAULISTANA_RPS_SERIES", "F"),
        "PAULISTANA_NBS": os.environ.get("PAULISTANA_NBS", "111032200"),  # layout 2 only
        "PAULISTANA_PRINT_URL": os.environ.get(
            "PAULISTANA_PRINT_URL", "https://nfe.prefeitura.sp.gov.br/contribuinte/notaprint.aspx"),
        "PAULISTANA_CANCEL_CCM_WIDTH": _int("PAULISTANA_CANCEL_CCM_WIDTH", 0),  # 0: 8 (layout 1) / 12 (layout 2)
        "PAULISTANA_CA_FILE": os.environ.get("PAULISTANA_CA_FILE", ""),  # the server's CA if not in the system store
        "PAULISTANA_TIMEOUT": _int("PAULISTANA_TIMEOUT", 60),
        # NFS-e Nacional (FISCAL_BACKEND=nfse_nacional; README "NFS-e Nacional"). producao_restrita first.
        "NFSE_ENVIRONMENT": os.environ.get("NFSE_ENVIRONMENT", "producao_restrita"),
        "NFSE_SEFIN_URL": os.environ.get("NFSE_SEFIN_URL", ""),  # the environment's Sefin when empty
        "NFSE_SERIES": os.environ.get("NFSE_SERIES", "1"),  # the DPS series: digits only, up to 5
        "RESELLER_CITY_CODE": os.environ.get("RESELLER_CITY_CODE", "3550308"),  # IBGE code of the reseller's city
        "NFSE_TAX_REGIME": os.environ.get("NFSE_TAX_REGIME", "opSimpNac"),  # opSimpNac (1) | mei (2) | me_epp (3)
        "NFSE_ISS_RATE_BP": _int("NFSE_ISS_RATE_BP", 0),  # pAliq in basis points; 0: not sent (E0617)
        "NFSE_ISS_WITHHELD": os.environ.get("NFSE_ISS_WITHHELD", "") in ("1", "true", "yes"),
        "NFSE_TOT_TRIB_FED_BP": _int("NFSE_TOT_TRIB_FED_BP", 1345),  # pTotTrib (Lei 12.741), basis points
        "NFSE_TOT_TRIB_EST_BP": _int("NFSE_TOT_TRIB_EST_BP", 0),
        "NFSE_TOT_TRIB_MUN_BP": _int("NFSE_TOT_TRIB_MUN_BP", 290),
        "NFSE_SIGNATURE_ALGORITHM": os.environ.get("NFSE_SIGNATURE_ALGORITHM", "sha256"),  # or sha1
        "NFSE_CA_FILE": os.environ.get("NFSE_CA_FILE", ""),  # ICP-Brasil roots (PEM); system store if empty
        "NFSE_TIMEOUT": float(os.environ.get("NFSE_TIMEOUT", "30")),
        # Document store (issue 19, points 2-3): where stored documents' bytes go — database | filesystem | s3
        # (README "Document store"). Reads follow each document's index row, so older documents stay readable.
        # Defaults: filesystem under instance/ for development (`make run`); database in production until set (an
        # upgraded deployment keeps today's place rather than a local folder one machine of several would have).
        "DOCUMENT_STORE": os.environ.get("DOCUMENT_STORE", "filesystem" if env == "development" else "database"),
        "DOCUMENT_STORE_DIR": os.environ.get("DOCUMENT_STORE_DIR", str(INSTANCE_DIR / "documents")),
        "DOCUMENT_STORE_S3_BUCKET": os.environ.get("DOCUMENT_STORE_S3_BUCKET", ""),
        "DOCUMENT_STORE_S3_PREFIX": os.environ.get("DOCUMENT_STORE_S3_PREFIX", "documents/"),
        "DOCUMENT_STORE_S3_ENDPOINT_URL": os.environ.get("DOCUMENT_STORE_S3_ENDPOINT_URL", ""),  # empty: AWS
        "DOCUMENT_STORE_S3_REGION": os.environ.get("DOCUMENT_STORE_S3_REGION", ""),
        # Empty: boto3's own chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, the instance role).
        "DOCUMENT_STORE_S3_ACCESS_KEY_ID": os.environ.get("DOCUMENT_STORE_S3_ACCESS_KEY_ID", ""),
        "DOCUMENT_STORE_S3_SECRET_ACCESS_KEY": os.environ.get("DOCUMENT_STORE_S3_SECRET_ACCESS_KEY", ""),
        "DOCUMENT_STORE_S3_SSE": os.environ.get("DOCUMENT_STORE_S3_SSE", "AES256"),  # AES256 | aws:kms | empty
        "DOCUMENT_STORE_S3_KMS_KEY_ID": os.environ.get("DOCUMENT_STORE_S3_KMS_KEY_ID", ""),
        "DOCUMENT_STORE_S3_TIMEOUT": float(os.environ.get("DOCUMENT_STORE_S3_TIMEOUT", "10")),  # seconds
        # Fiscal documents (invoice, boleto, DANFSe, NFS-e XML): Object Lock retention on buckets that have it.
        "DOCUMENT_RETENTION_YEARS": _int("DOCUMENT_RETENTION_YEARS", 5),
        "DOCUMENT_RETENTION_MODE": os.environ.get("DOCUMENT_RETENTION_MODE", "GOVERNANCE"),  # or COMPLIANCE
        # Downloads: "" streams through the worker; x-accel (filesystem, behind nginx) or presigned (s3).
        "DOCUMENT_DOWNLOAD_OFFLOAD": os.environ.get("DOCUMENT_DOWNLOAD_OFFLOAD", ""),
        "DOCUMENT_XACCEL_PREFIX": os.environ.get("DOCUMENT_XACCEL_PREFIX", "/_documentos/"),
        "DOCUMENT_PRESIGNED_SECONDS": _int("DOCUMENT_PRESIGNED_SECONDS", 60),
        # Audit chain key and checkpoints (issue 19, point 1; README "Audit chain key and checkpoints"): the chain's
        # HMAC-SHA256 secret (required in production; development: instance/audit_chain_key), its id (default: first
        # 8 hex of its SHA-256), retired secrets kept for verification ("secret" or "id:secret", comma-separated),
        # and the Ed25519 key signing checkpoints (PEM path, PEM, or base64 of the 32 raw bytes) with retired public
        # keys (base64, comma-separated) still trusted.
        # Secrets the portal keeps encrypted in the database (webhook signing secrets): Fernet keys, comma-separated,
        # the first encrypts (portal/shared/encryption.py); unset: one derived from SECRET_KEY.
        "DATA_ENCRYPTION_KEYS": os.environ.get("DATA_ENCRYPTION_KEYS", ""),
        "AUDIT_CHAIN_KEY": _instance_secret("AUDIT_CHAIN_KEY", env, "audit_chain_key", lambda: secrets.token_hex(32),
                                            "test-audit-chain-key-not-for-production"),
        "AUDIT_CHAIN_KEY_ID": os.environ.get("AUDIT_CHAIN_KEY_ID", ""),
        "AUDIT_CHAIN_OLD_KEYS": os.environ.get("AUDIT_CHAIN_OLD_KEYS", ""),
        "AUDIT_SIGNING_KEY": _instance_secret(
            "AUDIT_SIGNING_KEY", env, "audit_signing_key", lambda: base64.b64encode(secrets.token_bytes(32)).decode(),
            base64.b64encode(hashlib.sha256(b"test-audit-signing-key").digest()).decode()),
        "AUDIT_SIGNING_OLD_PUBLIC_KEYS": os.environ.get("AUDIT_SIGNING_OLD_PUBLIC_KEYS", ""),
        # Metrics, logs and health (issue 19 point 4; README "Metrics, logs and health"). Log lines: "json" (one
        # object per line, with the request id) or "text"; json by default in production.
        "LOG_FORMAT": os.environ.get("LOG_FORMAT", "json" if env == "production" else "text"),
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO"),
        # The bearer token a Prometheus scraper sends to GET /metrics; empty: /metrics is a 404.
        "METRICS_TOKEN": os.environ.get("METRICS_TOKEN", ""),
        # A job consumer's own /metrics (its job runs and the queue) on this address and port; 0: none.
        "METRICS_ADDR": os.environ.get("METRICS_ADDR", "127.0.0.1"),
        "METRICS_PORT": _int("METRICS_PORT", 0),
        # The reseller's A1 (PKCS#12); outside production a development A1 in instance/ when empty.
        "FISCAL_CERT_FILE": os.environ.get("FISCAL_CERT_FILE", ""),
        "FISCAL_CERT_PASSWORD": os.environ.get("FISCAL_CERT_PASSWORD", ""),
        # Payments: "manual" (finance reconciles boleto/Pix/deposit) or "stripe" (card and boleto via Stripe).
        "PAYMENTS_BACKEND": os.environ.get("PAYMENTS_BACKEND", "manual"),
        "STRIPE_API_KEY": os.environ.get("STRIPE_API_KEY", ""),
        "STRIPE_API_BASE": os.environ.get("STRIPE_API_BASE", "https://api.stripe.com"),
        "STRIPE_WEBHOOK_SECRET": os.environ.get("STRIPE_WEBHOOK_SECRET", ""),
        "STRIPE_PUBLISHABLE_KEY": os.environ.get("STRIPE_PUBLISHABLE_KEY", ""),
        # Support tickets: targets in hours (calendar time from opening) per priority, shown to staff in the queue.
        "TICKET_FIRST_RESPONSE_HOURS": _hours_by_priority("TICKET_FIRST_RESPONSE_HOURS",
                                                          "urgent=1,high=4,normal=8,low=24"),
        "TICKET_RESOLUTION_HOURS": _hours_by_priority("TICKET_RESOLUTION_HOURS", "urgent=8,high=24,normal=72,low=120"),
        # Attachments: bytes per file, and the accepted extensions (the content is checked against the extension).
        "TICKET_ATTACHMENT_MAX_BYTES": _int("TICKET_ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024),
        "TICKET_ATTACHMENT_TYPES": _words("TICKET_ATTACHMENT_TYPES", "pdf,png,jpg,jpeg,txt,log,csv,zip,docx,xlsx"),
        # The largest request body accepted at all (uploads have their own, smaller limits on their forms).
        "MAX_CONTENT_LENGTH": _int("MAX_CONTENT_LENGTH", 64 * 1024 * 1024),
        # Rendered page pieces kept per process while what they show is unchanged (portal/shared/fragments.py).
        "FRAGMENT_CACHE_BYTES": _int("FRAGMENT_CACHE_BYTES", 32 * 1024 * 1024),
        # What an organization's home read, kept per process until its data changes (portal/shared/data_versions.py).
        "READ_MODEL_CACHE_BYTES": _int("READ_MODEL_CACHE_BYTES", 16 * 1024 * 1024),
        # Sign-in, second factor and "Esqueci minha senha" attempts, counted in the database (every worker
        # together): per client IP, and per attempted account (defaults to the per-IP limit).
        "LOGIN_RATE_LIMIT": login_limit,
        "LOGIN_ACCOUNT_RATE_LIMIT": os.environ.get("LOGIN_ACCOUNT_RATE_LIMIT", login_limit),
        # Reset e-mails sent to one address in any hour; further requests are recorded and not sent.
        "PASSWORD_RESET_PER_ADDRESS_PER_HOUR": _int("PASSWORD_RESET_PER_ADDRESS_PER_HOUR", 3),
        # false turns every limit off (benches). Every limit is counted in the database (accounts/throttle.py).
        "RATELIMIT_ENABLED": _bool("RATELIMIT_ENABLED", True),
        # The REST API (/api/v1): requests per token (the first limit of the spec goes in the RateLimit-* headers).
        "API_RATE_LIMIT": os.environ.get("API_RATE_LIMIT", "120 per minute"),
        # Proxies in front of the portal that append to X-Forwarded-For / set X-Forwarded-Proto (the load
        # balancer: 1). 0 trusts neither header: the client IP is the connection's.
        "PROXY_FIX_X_FOR": _int("PROXY_FIX_X_FOR", 0),
        "PROXY_FIX_X_PROTO": _int("PROXY_FIX_X_PROTO", 0),
        # Sessions: absolute lifetime, plus an idle timeout checked on every request.
        "PERMANENT_SESSION_LIFETIME": timedelta(hours=_int("SESSION_HOURS", 12)),
        "SESSION_IDLE_MINUTES": _int("SESSION_IDLE_MINUTES", 60),
        "SESSION_COOKIE_NAME": "portal_session",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _bool("SESSION_COOKIE_SECURE", env == "production"),  # off only for loopback benches
        "REMEMBER_COOKIE_DURATION": timedelta(seconds=0),
        "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session
        # Accounts
        "PASSWORD_MIN_LENGTH": _int("PASSWORD_MIN_LENGTH", 10),
        # werkzeug's default (scrypt); tests use a cheap pbkdf2 so thousands of users hash fast.
        "PASSWORD_HASH_METHOD": os.environ.get("PASSWORD_HASH_METHOD", "scrypt"),
        "PASSWORD_RESET_MAX_AGE": _int("PASSWORD_RESET_MAX_AGE", 3600),  # seconds
        "INVITATION_MAX_AGE": _int("INVITATION_MAX_AGE", 7 * 24 * 3600),  # seconds
        "TOTP_ISSUER": os.environ.get("TOTP_ISSUER", "Portal Cloud"),
        # i18n
        "BABEL_DEFAULT_LOCALE": "pt_BR",
        "BABEL_DEFAULT_TIMEZONE": "America/Sao_Paulo",
        "LANGUAGES": {"pt_BR": "Português (Brasil)", "en": "English"},
        # Demo data is loaded by `flask demo`, or by `make run` when the database is empty.
        "DEMO_PASSWORD": "Portal#Demo2026",
    }
