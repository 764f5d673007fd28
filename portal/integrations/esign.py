"""E-signature: the `SignatureProvider` Protocol and the data it speaks (adapters below, chosen by ESIGN_BACKEND).

- `simulator` (default): `SignatureSimulator`, in process; documents are "signed" when staff clicks the
  simulator's button (or a test calls `sign`), and its webhook events are built and signed like the real ones.
- `autentique`: `AutentiqueClient`, Autentique's GraphQL API v2 (createDocument multipart upload, document
  status query) and its signed webhooks. Tested against a local HTTP fake speaking the same protocol.

Webhook authenticity: an HMAC-SHA256 of the raw body with the endpoint's secret, hex, in the header
`x-autentique-signature` (an optional "sha256=" prefix is accepted). That header name and encoding come from
Autentique's webhooks docs page as ../shared/notes/integrations.md §3 reports it, and the notes mark them
"verify before relying": check a first real delivery before going live (only `SIGNATURE_HEADER` and
`webhook_signature` would change).
"""

import hashlib
import hmac
import json
import re
import threading
import unicodedata
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from portal.integrations import http as http_kit
from portal.integrations.http import opener_without_redirects
from portal.shared import clock


@dataclass(frozen=True)
class Signer:
    name: str
    email: str


@dataclass(frozen=True)
class SignatureRequest:
    name: str  # the document's title, e.g. "Contrato — Empresa Ltda"
    pdf: bytes
    signers: tuple[Signer, ...]
    message: str = ""
    # The HTML the PDF was rendered from, when the portal made it: the simulator renders it again, page for
    # page, to append its evidence page (no PDF library is needed to join two documents). Providers ignore it.
    html: str = ""


@dataclass(frozen=True)
class SignerStatus:
    email: str
    signed_at: str | None = None  # ISO instant, None until signed
    rejected_at: str | None = None
    rejection_reason: str | None = None


@dataclass(frozen=True)
class DocumentStatus:
    document_id: str
    signers: tuple[SignerStatus, ...] = ()
    signed_pdf_url: str | None = None  # files.signed, once every signer signed

    @property
    def complete(self) -> bool:
        return bool(self.signers) and all(s.signed_at for s in self.signers)

    @property
    def rejected(self) -> bool:
        return any(s.rejected_at for s in self.signers)


@dataclass(frozen=True)
class SignatureEvent:
    """A verified webhook event: what happened to which document."""

    event_id: str
    event_type: str  # e.g. "document.finished", "signature.accepted", "signature.rejected"
    document_id: str
    raw: dict = field(default_factory=dict)


class SignatureRejected(Exception):  # noqa: N818 - a refusal, reported to the caller
    """A webhook that cannot be trusted (bad signature, unreadable body)."""


class SignatureError(Exception):
    """The provider refused or could not be reached; `retryable` says whether trying later can help."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class SignatureProvider(Protocol):
    name: str

    def create_document(self, request: SignatureRequest) -> str:
        """Upload the PDF and invite the signers; returns the provider's document id."""

    def status(self, document_id: str) -> DocumentStatus: ...

    def download_signed(self, document_id: str) -> bytes:
        """The signed PDF (only once complete)."""

    def parse_webhook(self, body: bytes, headers: dict[str, str]) -> SignatureEvent:
        """Verify and parse a webhook call; raise SignatureRejected when it cannot be trusted."""


# ================================================================ shared: the webhook envelope and its signature

# https://docs.autentique.com.br/api/integration-basics/webhooks as the notes read it: "verify before relying"
# (see the module docstring).
SIGNATURE_HEADER = "x-autentique-signature"
_SIGNATURE_PREFIX = "sha256="  # accepted, not required: some senders prefix the hex digest with the algorithm


def webhook_signature(body: bytes, secret: str) -> str:
    """The hex HMAC-SHA256 of the raw `body` under `secret` (what the header carries)."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _header(headers: Mapping[str, str] | Any, name: str) -> str | None:
    """`headers[name]`, case-insensitively (a plain dict, werkzeug's Headers or http.client's message)."""
    items = headers.items() if hasattr(headers, "items") else headers
    for key, value in items:
        if isinstance(key, str) and key.lower() == name.lower():
            return value
    return None


def _document_id_of(event: dict) -> str | None:
    """The document an event is about: a document event's object is the document; a signature event's object
    names its document (as an id, or as a nested {"id": …})."""
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(obj, dict):
        return None
    kind = str(obj.get("object") or str(event.get("type") or "").partition(".")[0])
    if kind == "document":
        candidate = obj.get("id")
    else:
        candidate = obj.get("document")
        if isinstance(candidate, dict):
            candidate = candidate.get("id")
        candidate = candidate or obj.get("document_id")
    return candidate if isinstance(candidate, str) and candidate else None


def verify_webhook(body: bytes, headers: Mapping[str, str] | Any, secret: str) -> SignatureEvent:
    """Check the signature of a webhook call and read its envelope; SignatureRejected when anything is off."""
    if not secret:
        raise SignatureRejected("no webhook secret is configured: every webhook is refused")
    given = (_header(headers, SIGNATURE_HEADER) or "").strip()
    if not given:
        raise SignatureRejected(f"missing {SIGNATURE_HEADER} header")
    if given.lower().startswith(_SIGNATURE_PREFIX):
        given = given[len(_SIGNATURE_PREFIX):]
    if not hmac.compare_digest(given.lower().encode(), webhook_signature(body, secret).encode()):
        raise SignatureRejected("the signature does not match the body")
    try:
        envelope = json.loads(body)
    except ValueError as exc:
        raise SignatureRejected(f"the body is not JSON: {exc}") from None
    event = envelope.get("event") if isinstance(envelope, dict) else None
    if not isinstance(event, dict):
        raise SignatureRejected("not an Autentique webhook envelope (no event)")
    event_id, event_type = event.get("id"), event.get("type")
    document_id = _document_id_of(event)
    if not (isinstance(event_id, str | int) and str(event_id)) or not isinstance(event_type, str) or not event_type:
        raise SignatureRejected("the event has no id or type")
    if document_id is None:
        raise SignatureRejected(f"the {event_type} event names no document")
    return SignatureEvent(event_id=str(event_id), event_type=event_type, document_id=document_id, raw=envelope)


def webhook_envelope(event_type: str, obj: dict, *, url: str = "", name: str = "portal") -> dict:
    """A webhook call as Autentique sends it (the notes' payload shape), for the simulator and tests."""
    return {
        "id": uuid.uuid4().hex,
        "object": "webhook",
        "name": name,
        "format": "json",
        "url": url,
        "event": {
            "id": uuid.uuid4().hex,
            "object": "event",
            "organization": None,
            "type": event_type,
            "data": {"object": obj},
            "created_at": _iso(clock.now()),
        },
    }


def signed_webhook(envelope: dict, secret: str) -> tuple[bytes, dict[str, str]]:
    """The raw body and headers of a webhook call signed with `secret`, ready to POST or to hand to parse_webhook."""
    body = json.dumps(envelope, ensure_ascii=False).encode()
    return body, {"Content-Type": "application/json", SIGNATURE_HEADER: webhook_signature(body, secret)}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


# ================================================================ the simulator

@dataclass
class _SimSigner:
    email: str
    name: str
    public_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    signed_at: str | None = None
    rejected_at: str | None = None
    rejection_reason: str | None = None

    def status(self) -> SignerStatus:
        return SignerStatus(self.email, self.signed_at, self.rejected_at, self.rejection_reason)

    def as_signature(self, document_id: str) -> dict:
        return {
            "object": "signature",
            "public_id": self.public_id,
            "name": self.name,
            "email": self.email,
            "document": document_id,
            "signed": {"created_at": self.signed_at} if self.signed_at else None,
            "rejected": ({"created_at": self.rejected_at, "reason": self.rejection_reason}
                         if self.rejected_at else None),
        }


@dataclass
class _SimDocument:
    id: str
    name: str
    pdf: bytes
    signers: list[_SimSigner]
    created_at: str
    html: str = ""

    @property
    def complete(self) -> bool:
        return all(s.signed_at for s in self.signers)

    def as_document(self) -> dict:
        return {
            "object": "document",
            "id": self.id,
            "name": self.name,
            "created_at": self.created_at,
            "signatures": [s.as_signature(self.id) for s in self.signers],
        }


class SignatureSimulator:
    """A SIMULATOR of an e-signature provider, for development and tests: nobody is e-mailed, nothing leaves
    the process.

    Documents live in this process's memory, or, with `state_dir` (what `make run` uses: several gunicorn
    workers and the job consumer must see the same documents), as files in that directory: `<id>.json` (the
    signers and their state) and `<id>.pdf`. An unknown document raises a non-retryable SignatureError; the
    portal keeps the document id on its side and can simply send the contract again. `sign` and `reject` stand
    for the signers and return the webhook call Autentique would have made, signed the same way
    (`x-autentique-signature`, HMAC-SHA256 of the body with `webhook_secret`), so the portal's webhook route
    is exercised unchanged.
    The "signed" PDF carries the evidence a real provider adds: the document's pages (rendered again from the
    request's HTML when given), then an evidence page marked "SIMULAÇÃO" with the signers, the times they
    signed and the SHA-256 of the uploaded PDF, which is also attached to the signed PDF as it was.
    """

    name = "simulator"
    URL_PREFIX = "simulator://documents/"

    def __init__(self, webhook_secret: str, state_dir: str | Path | None = None) -> None:
        if not webhook_secret:
            raise ValueError("the simulator needs a webhook secret to sign its webhook calls")
        self.webhook_secret = webhook_secret
        self.state_dir = Path(state_dir) if state_dir is not None else None
        self._documents: dict[str, _SimDocument] = {}
        self._signed: dict[str, bytes] = {}  # document id → its signed PDF, once made
        self._lock = threading.Lock()

    # ------------------------------------------------------------ state (memory, or files shared by processes)

    def _save(self, document: _SimDocument) -> None:
        self._documents[document.id] = document
        if self.state_dir is None:
            return
        self.state_dir.mkdir(parents=True, exist_ok=True)
        pdf = self.state_dir / f"{document.id}.pdf"
        if not pdf.exists():
            pdf.write_bytes(document.pdf)
            if document.html:
                (self.state_dir / f"{document.id}.html").write_text(document.html, encoding="utf-8")
        meta = {"name": document.name, "created_at": document.created_at,
                "signers": [vars(signer) for signer in document.signers]}
        temporary = self.state_dir / f"{document.id}.json.{uuid.uuid4().hex}"
        temporary.write_text(json.dumps(meta))
        temporary.replace(self.state_dir / f"{document.id}.json")  # atomic: readers see old or new, whole

    def _load(self, document_id: str) -> _SimDocument | None:
        if self.state_dir is None or not _DOCUMENT_ID.match(document_id or ""):
            return self._documents.get(document_id)
        meta_path = self.state_dir / f"{document_id}.json"
        if not meta_path.exists():
            return None
        meta = json.loads(meta_path.read_text())
        html_path = self.state_dir / f"{document_id}.html"
        return _SimDocument(id=document_id, name=meta["name"], pdf=(self.state_dir / f"{document_id}.pdf").read_bytes(),
                            signers=[_SimSigner(**signer) for signer in meta["signers"]],
                            created_at=meta["created_at"],
                            html=html_path.read_text(encoding="utf-8") if html_path.exists() else "")

    # ------------------------------------------------------------ SignatureProvider

    def create_document(self, request: SignatureRequest) -> str:
        _check_request(request)
        document = _SimDocument(
            id=f"sim-{uuid.uuid4().hex}",
            name=request.name,
            pdf=request.pdf,
            signers=[_SimSigner(s.email, s.name) for s in request.signers],
            created_at=_iso(clock.now()),
            html=request.html,
        )
        with self._lock:
            self._save(document)
        return document.id

    def status(self, document_id: str) -> DocumentStatus:
        with self._lock:
            document = self._document(document_id)
            return DocumentStatus(
                document_id=document.id,
                signers=tuple(s.status() for s in document.signers),
                signed_pdf_url=f"{self.URL_PREFIX}{document.id}/signed.pdf" if document.complete else None,
            )

    def download_signed(self, document_id: str) -> bytes:
        with self._lock:
            document = self._document(document_id)
            if not document.complete:
                raise SignatureError(f"document {document_id} is not signed by every signer yet", retryable=False)
            signed = self._signed.get(document_id)
            path = self.state_dir / f"{document_id}.signed.pdf" if self.state_dir is not None else None
            if signed is None and path is not None and path.exists():
                signed = path.read_bytes()
            if signed is None:  # made once, then the same file every time (as a provider's stored file)
                signed = simulated_signed_pdf(document)
                if path is not None:
                    temporary = path.with_name(f"{path.name}.{uuid.uuid4().hex}")
                    temporary.write_bytes(signed)
                    temporary.replace(path)
            self._signed[document_id] = signed
            return signed

    def parse_webhook(self, body: bytes, headers: dict[str, str]) -> SignatureEvent:
        return verify_webhook(body, headers, self.webhook_secret)

    # ------------------------------------------------------------ standing in for the signers

    def sign(self, document_id: str, email: str | None = None) -> tuple[bytes, dict[str, str]]:
        """Sign as `email` (every pending signer when None). Returns the webhook call (body, headers):
        `document.finished` once everybody signed, else `signature.accepted` for that signer."""
        with self._lock:
            document = self._document(document_id)
            signers = self._signers(document, email)
            now = _iso(clock.now())
            for signer in signers:
                if not signer.signed_at and not signer.rejected_at:
                    signer.signed_at = now
            self._save(document)
            if document.complete:
                envelope = webhook_envelope("document.finished", document.as_document())
            else:
                envelope = webhook_envelope("signature.accepted", signers[0].as_signature(document.id))
            return signed_webhook(envelope, self.webhook_secret)

    def reject(self, document_id: str, email: str | None = None,
               reason: str = "Recusado (simulação)") -> tuple[bytes, dict[str, str]]:
        """Refuse as `email` (the first signer when None); returns the `signature.rejected` webhook call."""
        with self._lock:
            document = self._document(document_id)
            signer = self._signers(document, email)[0]
            if not signer.signed_at:
                signer.rejected_at, signer.rejection_reason = _iso(clock.now()), reason
            self._save(document)
            envelope = webhook_envelope("signature.rejected", signer.as_signature(document.id))
            return signed_webhook(envelope, self.webhook_secret)

    def _document(self, document_id: str) -> _SimDocument:
        document = self._load(document_id)
        if document is None:
            raise SignatureError(
                f"the e-signature simulator knows no document {document_id!r} (without a state directory its "
                "documents live in process memory and are forgotten on restart): send the contract again",
                retryable=False)
        return document

    @staticmethod
    def _signers(document: _SimDocument, email: str | None) -> list[_SimSigner]:
        if email is None:
            return document.signers
        chosen = [s for s in document.signers if s.email.lower() == email.lower()]
        if not chosen:
            raise SignatureError(f"{email} is not a signer of document {document.id}", retryable=False)
        return chosen


SIMULATION_MARK = "SIMULAÇÃO"
_BUSINESS_TZ = "America/Sao_Paulo"


def _when(instant: str | None) -> str:
    """"2026-12-06 16:04:05" (UTC, as the provider reports it) → "06/12/2026 13:04:05 (Brasília) · 16:04:05 UTC"."""
    if not instant:
        return "—"
    from zoneinfo import ZoneInfo

    moment = datetime.strptime(instant, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    local = moment.astimezone(ZoneInfo(_BUSINESS_TZ))
    return f"{local:%d/%m/%Y %H:%M:%S} (horário de Brasília) · {moment:%Y-%m-%d %H:%M:%S} UTC"


def _evidence_html(document: _SimDocument) -> str:
    """The evidence page ("manifesto de assinaturas") in Portuguese, like the contract it closes."""
    from html import escape

    rows = "".join(
        f"<tr><td>{escape(s.name)}<br><span class='small'>{escape(s.email)}</span></td>"
        f"<td>{escape(_when(s.signed_at))}</td><td class='mono small'>{escape(s.public_id)}</td></tr>"
        for s in document.signers)
    digest = hashlib.sha256(document.pdf).hexdigest()
    return f"""<!doctype html><html lang="pt-BR"><head><meta charset="utf-8"><style>
@page {{ size: A4; margin: 18mm 16mm; }}
body {{ font-family: sans-serif; font-size: 10pt; color: #111; }}
.mark {{ border: 3px solid #b00; color: #b00; font-size: 26pt; font-weight: bold; text-align: center;
         padding: 4mm; margin-bottom: 6mm; letter-spacing: 2pt; }}
table {{ width: 100%; border-collapse: collapse; margin: 4mm 0; }}
td, th {{ border: 1px solid #999; padding: 2mm; text-align: left; vertical-align: top; }}
.mono {{ font-family: monospace; }} .small {{ font-size: 8pt; }}
</style></head><body>
<div class="mark">{SIMULATION_MARK}</div>
<h1 style="font-size: 14pt">Manifesto de assinaturas eletrônicas</h1>
<p>Assinado no simulador de assinatura eletrônica do portal: nenhuma assinatura real foi colhida e este
documento não tem validade jurídica. Em produção, o documento assinado é o que o serviço de assinatura
devolve.</p>
<p><b>Documento:</b> {escape(document.name)}<br>
<b>Identificador:</b> <span class="mono">{escape(document.id)}</span><br>
<b>Enviado para assinatura em:</b> {escape(_when(document.created_at))}</p>
<table><thead><tr><th>Signatário</th><th>Assinou em</th><th>Identificador da assinatura</th></tr></thead>
<tbody>{rows}</tbody></table>
<p><b>SHA-256 do documento original (PDF enviado para assinatura, anexado a este arquivo):</b></p>
<p class="mono" style="font-size: 9pt">{digest}</p>
</body></html>"""


def simulated_signed_pdf(document: _SimDocument) -> bytes:
    """The document's pages (rendered again from its HTML; without HTML, only the evidence), the evidence page,
    and the original PDF attached. Rendered as the portal's PDFs are: nothing is ever fetched."""
    import io

    from weasyprint import HTML, Attachment
    from weasyprint.urls import URLFetcher

    fetcher = URLFetcher(allowed_protocols={"data"}, fail_on_errors=True)
    evidence = HTML(string=_evidence_html(document), url_fetcher=fetcher).render()
    base, pages = evidence, list(evidence.pages)
    if document.html:
        base = HTML(string=document.html, url_fetcher=fetcher).render()
        pages = list(base.pages) + pages
    original = Attachment(file_obj=io.BytesIO(document.pdf), name="documento-original.pdf",
                          description="PDF enviado para assinatura (SHA-256 no manifesto)")
    return base.copy(pages).write_pdf(attachments=[original])


def _check_request(request: SignatureRequest) -> None:
    if not request.name.strip():
        raise SignatureError("the document needs a name", retryable=False)
    if not request.signers or any(not s.email.strip() for s in request.signers):
        raise SignatureError("the document needs at least one signer, each with an e-mail", retryable=False)
    if not request.pdf.startswith(b"%PDF"):
        raise SignatureError("the document is not a PDF", retryable=False)


# ================================================================ Autentique (GraphQL API v2)

DEFAULT_AUTENTIQUE_URL = "https://api.autentique.com.br/v2/graphql"

# autentique/autentique-sdk queries/documents/create (../shared/notes/integrations.md §3).
CREATE_DOCUMENT = """
mutation CreateDocumentMutation($document: DocumentInput!, $signers: [SignerInput!]!, $file: Upload!,
                                $sandbox: Boolean) {
  createDocument(sandbox: $sandbox, document: $document, signers: $signers, file: $file) {
    id name refusable sortable created_at
    signatures { public_id name email created_at action { name } link { short_link } user { id name email } }
  }
}
""".strip()

# autentique/autentique-sdk queries/documents/viewDocument, trimmed; the SDK writes the id into the query as a
# string literal (it never names the argument's type), and so do we, after checking its characters.
DOCUMENT_STATUS = """
query {
  document(id: %s) {
    id name
    files { original signed }
    signatures { public_id email action { name } signed { created_at } rejected { created_at reason } }
  }
}
""".strip()

_DOCUMENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_RETRYABLE_STATUSES = frozenset({408, 429})  # plus every 5xx


def _retryable(status: int) -> bool:
    return status >= 500 or status in _RETRYABLE_STATUSES


_OPENER = opener_without_redirects()


def _multipart(fields: list[tuple[str, str, bytes, str | None]]) -> tuple[bytes, str]:
    """multipart/form-data of (name, filename or "", content, content type or None) parts → (body, content type)."""
    while True:
        boundary = f"----portal-{uuid.uuid4().hex}"
        if all(boundary.encode() not in content for _, _, content, _ in fields):
            break
    out = bytearray()
    for name, filename, content, content_type in fields:
        out += f"--{boundary}\r\n".encode()
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"Content-Disposition: {disposition}\r\n".encode()
        if content_type:
            out += f"Content-Type: {content_type}\r\n".encode()
        out += b"\r\n" + content + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def _pdf_filename(name: str) -> str:
    """An ASCII file name for the upload's Content-Disposition: "Contrato — Açaí Ltda" → "Contrato-Acai-Ltda.pdf"."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", ascii_name).strip("-.")[:80]
    return f"{slug or 'documento'}.pdf"


class AutentiqueClient:
    """Autentique's GraphQL API v2 over `urllib.request` (../shared/notes/integrations.md §3).

    `sandbox=True` creates test documents (no legal value, no charge). Errors: GraphQL `errors` and HTTP
    refusals become SignatureError, retryable for 408/429/5xx and network trouble. A create that timed out
    may still have created the document on Autentique's side, so retrying it can leave a duplicate there (the
    portal keeps only the id it got back).
    """

    name = "autentique"

    def __init__(self, url: str, token: str, webhook_secret: str, sandbox: bool = True, timeout: float = 30) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"AUTENTIQUE_URL must be an http(s) URL, not {url!r}")
        self.url = url
        self._origin = (parts.scheme, parts.netloc)
        self.token = token
        self.webhook_secret = webhook_secret
        self.sandbox = sandbox
        self.timeout = timeout

    # ------------------------------------------------------------ SignatureProvider

    def create_document(self, request: SignatureRequest) -> str:
        _check_request(request)
        document: dict[str, Any] = {"name": request.name}
        if request.message:
            document["message"] = request.message
        operations = {
            "query": CREATE_DOCUMENT,
            "variables": {
                "document": document,
                "signers": [{"email": s.email, "action": "SIGN"} for s in request.signers],
                "file": None,  # filled by the "file" part, as the map says (GraphQL multipart request spec)
                "sandbox": self.sandbox,
            },
        }
        body, content_type = _multipart([
            ("operations", "", json.dumps(operations).encode(), None),
            ("map", "", json.dumps({"file": ["variables.file"]}).encode(), None),
            ("file", _pdf_filename(request.name), request.pdf, "application/pdf"),
        ])
        data = self._graphql(body, content_type)
        created = data.get("createDocument") if isinstance(data, dict) else None
        document_id = created.get("id") if isinstance(created, dict) else None
        if not isinstance(document_id, str) or not document_id:
            raise SignatureError(f"Autentique created no document id: {str(data)[:300]}", retryable=False)
        return document_id

    def status(self, document_id: str) -> DocumentStatus:
        if not _DOCUMENT_ID.match(document_id or ""):
            raise SignatureError(f"not an Autentique document id: {document_id!r}", retryable=False)
        query = DOCUMENT_STATUS % json.dumps(document_id)
        data = self._graphql(json.dumps({"query": query}).encode(), "application/json")
        document = data.get("document") if isinstance(data, dict) else None
        if not isinstance(document, dict):
            raise SignatureError(f"Autentique has no document {document_id}", retryable=False)
        signers = []
        for signature in document.get("signatures") or []:
            if not isinstance(signature, dict):
                continue
            # The document's owner may be listed as a signature without an action (a sender, nobody asked it
            # to sign): it must not hold completion back. Signatures that do not say (no "action" key) count.
            if "action" in signature and not signature["action"]:
                continue
            signed = signature.get("signed") if isinstance(signature.get("signed"), dict) else {}
            rejected = signature.get("rejected") if isinstance(signature.get("rejected"), dict) else {}
            signers.append(SignerStatus(
                email=str(signature.get("email") or ""),
                signed_at=_text(signed.get("created_at")),
                rejected_at=_text(rejected.get("created_at")),
                rejection_reason=_text(rejected.get("reason")),
            ))
        files = document.get("files") if isinstance(document.get("files"), dict) else {}
        return DocumentStatus(document_id=str(document.get("id") or document_id), signers=tuple(signers),
                              signed_pdf_url=_text(files.get("signed")))

    def download_signed(self, document_id: str) -> bytes:
        current = self.status(document_id)
        if not current.complete or not current.signed_pdf_url:
            raise SignatureError(f"document {document_id} is not signed by every signer yet", retryable=False)
        url = current.signed_pdf_url
        parts = urlsplit(url)
        same_origin = (parts.scheme, parts.netloc) == self._origin
        if not same_origin and parts.scheme != "https":
            raise SignatureError(f"refusing to download the signed PDF from {url!r}: not https", retryable=False)
        # The bearer token goes only to the API's own origin, never to a file host.
        headers = {"Accept": "application/pdf", **({"Authorization": f"Bearer {self.token}"} if same_origin else {})}
        status, raw = self._send(urllib.request.Request(url, headers=headers, method="GET"))  # noqa: S310 - https or the API's origin, checked above
        if status != 200:
            raise SignatureError(f"the signed PDF could not be downloaded: HTTP {status} {_snippet(raw)}",
                                 retryable=_retryable(status))
        if not raw.startswith(b"%PDF"):
            raise SignatureError(f"the signed file is not a PDF: {_snippet(raw)}", retryable=False)
        return raw

    def parse_webhook(self, body: bytes, headers: dict[str, str]) -> SignatureEvent:
        return verify_webhook(body, headers, self.webhook_secret)

    # ------------------------------------------------------------ HTTP

    def _graphql(self, body: bytes, content_type: str) -> Any:
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json",
                   "Content-Type": content_type}
        # The URL is AUTENTIQUE_URL, an http(s) URL checked in __init__.
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")  # noqa: S310
        status, raw = self._send(request)
        try:
            answer = json.loads(raw.decode("utf-8-sig")) if raw.strip() else None
        except ValueError:
            answer = None
        errors = answer.get("errors") if isinstance(answer, dict) else None
        if errors:
            messages = "; ".join(str(e.get("message") if isinstance(e, dict) else e) for e in errors)[:300]
            raise SignatureError(f"Autentique refused the request (HTTP {status}): {messages}",
                                 retryable=_retryable(status))
        if not 200 <= status < 300:
            raise SignatureError(f"Autentique answered HTTP {status}: {_snippet(raw)}", retryable=_retryable(status))
        if not isinstance(answer, dict) or "data" not in answer:
            raise SignatureError(f"unexpected answer from Autentique: {_snippet(raw)}", retryable=False)
        return answer["data"]

    def _send(self, request: urllib.request.Request) -> tuple[int, bytes]:
        """(status, body) of any HTTP answer; SignatureError(retryable) when none came back."""
        return http_kit.send(_OPENER, request, self.timeout, self._network_error)

    def _network_error(self, reason: object) -> SignatureError:
        detail = f"no answer within {self.timeout:g} s" if isinstance(reason, TimeoutError) else (
            str(reason) or type(reason).__name__)
        return SignatureError(f"network error talking to Autentique ({self._origin[1]}): {detail}", retryable=True)


def _text(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def _snippet(raw: bytes) -> str:
    return " ".join(raw.decode("utf-8", errors="replace").split())[:300] or "empty body"


# ================================================================ configuration

def from_config(config: Mapping[str, Any]) -> SignatureProvider:
    """The provider `ESIGN_BACKEND` names: "simulator" (default) or "autentique".

    Settings: AUTENTIQUE_URL (default the public API), AUTENTIQUE_TOKEN, AUTENTIQUE_WEBHOOK_SECRET (the secret of
    the webhook endpoint registered in Autentique's dashboard), AUTENTIQUE_SANDBOX (default true),
    AUTENTIQUE_TIMEOUT (seconds, default 30). The simulator signs its webhook calls with
    AUTENTIQUE_WEBHOOK_SECRET when set, else with a secret derived from SECRET_KEY: never a published
    constant, since the webhook route is public, and the same in every worker process.
    """
    backend = config.get("ESIGN_BACKEND") or "simulator"
    if backend == "simulator":
        secret = config.get("AUTENTIQUE_WEBHOOK_SECRET") or ""
        if not secret:
            key = str(config.get("SECRET_KEY") or "")
            if not key:
                raise RuntimeError("ESIGN_BACKEND=simulator needs SECRET_KEY or AUTENTIQUE_WEBHOOK_SECRET")
            secret = hmac.new(key.encode(), b"esign-simulator-webhook", hashlib.sha256).hexdigest()
        return SignatureSimulator(webhook_secret=secret, state_dir=config.get("ESIGN_SIMULATOR_DIR") or None)
    if backend == "autentique":
        missing = [name for name in ("AUTENTIQUE_URL", "AUTENTIQUE_TOKEN", "AUTENTIQUE_WEBHOOK_SECRET")
                   if not config.get(name)]
        if missing:
            raise RuntimeError(f"ESIGN_BACKEND=autentique needs {', '.join(missing)}")
        return AutentiqueClient(
            config["AUTENTIQUE_URL"],
            config["AUTENTIQUE_TOKEN"],
            config["AUTENTIQUE_WEBHOOK_SECRET"],
            sandbox=bool(config.get("AUTENTIQUE_SANDBOX", True)),
            timeout=float(config.get("AUTENTIQUE_TIMEOUT") or 30),
        )
    raise RuntimeError(f"ESIGN_BACKEND must be simulator or autentique, not {backend!r}")
