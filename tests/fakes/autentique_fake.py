"""A small local HTTP fake of Autentique's GraphQL API v2, for testing `AutentiqueClient` over real HTTP.

A Flask app served by werkzeug on 127.0.0.1 (a free port) in a daemon thread:

    fake = AutentiqueFake(token="t", webhook_secret="s", callback=url_or_callable).start()
    ...  AutentiqueClient(fake.graphql_url, "t", "s")  ...
    fake.stop()

What it speaks (../shared/notes/integrations.md §3):

- `POST /v2/graphql` with `Authorization: Bearer <token>` (401 with a JSON error otherwise); a multipart body
  (the GraphQL multipart request spec: `operations`, `map` = {"file": ["variables.file"]}, `file`) or JSON;
- `createDocument(sandbox, document, signers, file)`: `document.name` required, at least one signer with an
  e-mail and `action` SIGN or SIGN_AS_A_WITNESS, the file a PDF; stores it and answers the document;
- `document(id: "…")`: the document with `files { original signed }` (signed only once every signer signed)
  and `signatures { public_id email action signed rejected }`; an unknown id is a GraphQL error;
- `GET /files/<id>/original.pdf` and `/files/<id>/signed.pdf` (bearer token required): the PDFs; the "signed"
  one is the original with a trailing PDF comment.

Test controls (Python methods, and the same over HTTP at `POST /_test/sign/<id>` and `/_test/reject/<id>`):
`sign(doc_id, email=None)` marks signers signed and delivers the signed webhook call (`document.finished` once
complete, else `signature.accepted`); `reject(doc_id, email=None, reason=…)` delivers `signature.rejected`. The
call is signed independently of the portal's code (HMAC-SHA256 of the raw body, hex, in `x-autentique-signature`)
and delivered to `callback`: a URL (POSTed with urllib) or a callable(body, headers); it is also returned.
`owner_email` lists the account's owner among each document's signatures with `action: null` (never signing).
`fail_next(status, body=None)` makes the next GraphQL request answer that instead. Every request is recorded.
"""

import hashlib
import hmac
import json
import re
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, request

from tests.fakes.externals import LoopbackFake, LoopbackServer

Callback = str | Callable[[bytes, dict[str, str]], Any] | None
SIGNED_MARK = b"\n% Assinado digitalmente (fake Autentique)\n"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    operations: Any = None  # the GraphQL request ({"query", "variables"}), parsed
    map: Any = None
    file: bytes | None = None
    file_name: str | None = None
    file_type: str | None = None


@dataclass
class _Signature:
    email: str
    action: str
    public_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created_at: str = field(default_factory=_now)
    signed_at: str | None = None
    rejected_at: str | None = None
    reason: str | None = None


@dataclass
class _Document:
    id: str
    name: str
    message: str | None
    sandbox: bool
    pdf: bytes
    signatures: list[_Signature]
    owner: _Signature | None = None  # listed among the signatures without an action: it sends, it does not sign
    created_at: str = field(default_factory=_now)

    @property
    def complete(self) -> bool:
        return all(s.signed_at for s in self.signatures)


class AutentiqueFake(LoopbackFake):
    def __init__(self, token: str = "fake-autentique-token",  # noqa: S107 - a test double's token
                 webhook_secret: str = "fake-webhook-secret", callback: Callback = None,  # noqa: S107
                 owner_email: str | None = None) -> None:
        self.token = token
        self.owner_email = owner_email
        self.webhook_secret = webhook_secret
        self.callback = callback
        self.requests: list[RecordedRequest] = []
        self.deliveries: list[tuple[bytes, dict[str, str], Any]] = []  # (body, headers, the callback's answer)
        self.documents: dict[str, _Document] = {}
        self.url = ""
        self._failures: list[tuple[int, Any]] = []
        self._lock = threading.RLock()
        self._http: LoopbackServer | None = None
        self.app = self._build_app()

    @property
    def graphql_url(self) -> str:
        return f"{self.url}/v2/graphql"

    # ------------------------------------------------------------ test controls

    def fail_next(self, status: int, body: Any = None) -> None:
        """The next GraphQL request answers `status` with `body` (JSON; default a GraphQL error)."""
        with self._lock:
            self._failures.append((status, body))

    def sign(self, document_id: str, email: str | None = None) -> tuple[bytes, dict[str, str]]:
        with self._lock:
            document = self.documents[document_id]
            chosen = self._chosen(document, email)
            for signature in chosen:
                if not signature.signed_at and not signature.rejected_at:
                    signature.signed_at = _now()
            if document.complete:
                envelope = self._envelope("document.finished", self._document_object(document))
            else:
                envelope = self._envelope("signature.accepted", self._signature_object(document, chosen[0]))
        return self._deliver(envelope)

    def reject(self, document_id: str, email: str | None = None,
               reason: str = "Não concordo com as condições") -> tuple[bytes, dict[str, str]]:
        with self._lock:
            document = self.documents[document_id]
            signature = self._chosen(document, email)[0]
            signature.rejected_at, signature.reason = _now(), reason
            envelope = self._envelope("signature.rejected", self._signature_object(document, signature))
        return self._deliver(envelope)

    def signed_pdf(self, document_id: str) -> bytes:
        return self.documents[document_id].pdf + SIGNED_MARK

    # ------------------------------------------------------------ webhooks

    @staticmethod
    def _chosen(document: _Document, email: str | None) -> list[_Signature]:
        if email is None:
            return document.signatures
        chosen = [s for s in document.signatures if s.email.lower() == email.lower()]
        if not chosen:
            raise KeyError(f"{email} does not sign {document.id}")
        return chosen

    def _envelope(self, event_type: str, obj: dict) -> dict:
        return {
            "id": f"wh_{uuid.uuid4().hex}",
            "object": "webhook",
            "name": "portal",
            "format": "json",
            "url": self.callback if isinstance(self.callback, str) else "",
            "event": {"id": f"evt_{uuid.uuid4().hex}", "object": "event", "organization": 4242, "type": event_type,
                      "data": {"object": obj}, "created_at": _now()},
        }

    def _deliver(self, envelope: dict) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(envelope, ensure_ascii=False).encode()
        signature = hmac.new(self.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", "x-autentique-signature": signature}
        answer = None
        if isinstance(self.callback, str):
            # A test's own local URL (the portal under a live server).
            call = urllib.request.Request(self.callback, data=body, headers=headers, method="POST")  # noqa: S310
            try:
                with urllib.request.urlopen(call, timeout=10) as response:  # noqa: S310 - same reason
                    answer = response.status
            except urllib.error.HTTPError as exc:
                answer = exc.code
        elif callable(self.callback):
            answer = self.callback(body, headers)
        self.deliveries.append((body, headers, answer))
        return body, headers

    # ------------------------------------------------------------ GraphQL shapes

    def _signature_object(self, document: _Document, signature: _Signature) -> dict:
        return {
            "object": "signature",
            "public_id": signature.public_id,
            "email": signature.email,
            "document": document.id,
            "action": {"name": signature.action},
            "created_at": signature.created_at,
            "signed": {"created_at": signature.signed_at} if signature.signed_at else None,
            "rejected": ({"created_at": signature.rejected_at, "reason": signature.reason}
                         if signature.rejected_at else None),
        }

    def _document_object(self, document: _Document) -> dict:
        return {
            "object": "document",
            "id": document.id,
            "name": document.name,
            "refusable": True,
            "sortable": False,
            "created_at": document.created_at,
            "files": {
                "original": f"{self.url}/files/{document.id}/original.pdf",
                "signed": f"{self.url}/files/{document.id}/signed.pdf" if document.complete else None,
            },
            "signatures": [self._signature_object(document, s) for s in document.signatures]
            + ([{**self._signature_object(document, document.owner), "action": None}] if document.owner else []),
        }

    # ------------------------------------------------------------ the app

    def _build_app(self) -> Flask:
        app = Flask("autentique_fake")

        def authorized() -> bool:
            return request.headers.get("Authorization") == f"Bearer {self.token}"

        def unauthorized() -> Response:
            return Response(json.dumps({"message": "Unauthenticated."}), 401, content_type="application/json")

        def graphql_errors(*messages: str, status: int = 200) -> Response:
            body = {"errors": [{"message": m} for m in messages], "data": None}
            return Response(json.dumps(body), status, content_type="application/json")

        def data(payload: dict) -> Response:
            return Response(json.dumps({"data": payload}), 200, content_type="application/json")

        @app.post("/v2/graphql")
        def graphql() -> Response:
            recorded = RecordedRequest("POST", request.path, dict(request.headers))
            with self._lock:
                self.requests.append(recorded)
            if not authorized():
                return unauthorized()
            with self._lock:
                failure = self._failures.pop(0) if self._failures else None
            if failure is not None:
                status, body = failure
                body = body if body is not None else {"errors": [{"message": f"simulated failure {status}"}]}
                return Response(json.dumps(body), status, content_type="application/json")

            if request.mimetype == "multipart/form-data":
                try:
                    operations = json.loads(request.form["operations"])
                    file_map = json.loads(request.form["map"])
                except (KeyError, ValueError):
                    return graphql_errors("multipart: operations and map must be JSON parts", status=400)
                recorded.operations, recorded.map = operations, file_map
                upload = request.files.get("file")
                if file_map != {"file": ["variables.file"]} or upload is None:
                    return graphql_errors('multipart: map must be {"file": ["variables.file"]} with a file part',
                                          status=400)
                recorded.file = upload.read()
                recorded.file_name, recorded.file_type = upload.filename, upload.mimetype
            elif request.mimetype == "application/json":
                operations = request.get_json(silent=True)
                recorded.operations = operations
            else:
                return graphql_errors(f"unsupported content type {request.mimetype!r}", status=400)
            if not isinstance(operations, dict) or not isinstance(operations.get("query"), str):
                return graphql_errors("a GraphQL request needs a query", status=400)

            query, variables = operations["query"], operations.get("variables") or {}
            if "createDocument" in query:
                if request.mimetype != "multipart/form-data":
                    return graphql_errors("Variable \"$file\" of required type \"Upload!\" was not provided.")
                if variables.get("file") is not None:
                    return graphql_errors("variables.file must be null: the file comes in the mapped part")
                return create(variables, recorded.file or b"")
            found = re.search(r'document\s*\(\s*id\s*:\s*"([^"]*)"', query)
            if found:
                return view(found.group(1))
            return graphql_errors("the fake knows createDocument and document(id) only", status=400)

        def create(variables: dict, pdf: bytes) -> Response:
            document = variables.get("document") or {}
            signers = variables.get("signers") or []
            problems = []
            if not isinstance(document, dict) or not str(document.get("name") or "").strip():
                problems.append("document.name is required")
            if not signers or not all(isinstance(s, dict) and s.get("email") for s in signers):
                problems.append("every signer needs an email")
            elif any(s.get("action") not in ("SIGN", "SIGN_AS_A_WITNESS") for s in signers):
                problems.append("signer.action must be SIGN or SIGN_AS_A_WITNESS")
            if not pdf.startswith(b"%PDF"):
                problems.append("the file is not a PDF")
            if problems:
                return graphql_errors(*problems)
            created = _Document(
                id=uuid.uuid4().hex + uuid.uuid4().hex[:32],
                name=document["name"],
                message=document.get("message"),
                sandbox=bool(variables.get("sandbox")),
                pdf=pdf,
                signatures=[_Signature(s["email"], s["action"]) for s in signers],
                owner=_Signature(self.owner_email, "") if self.owner_email else None,
            )
            with self._lock:
                self.documents[created.id] = created
                answer = self._document_object(created)
            answer.pop("files")
            return data({"createDocument": answer})

        def view(document_id: str) -> Response:
            with self._lock:
                document = self.documents.get(document_id)
                if document is None:
                    return graphql_errors("Documento não encontrado.")
                return data({"document": self._document_object(document)})

        @app.get("/files/<document_id>/<kind>.pdf")
        def files(document_id: str, kind: str) -> Response:
            if not authorized():
                return unauthorized()
            with self._lock:
                document = self.documents.get(document_id)
                if document is None or kind not in ("original", "signed") or (
                        kind == "signed" and not document.complete):
                    return Response("not found", 404)
                pdf = document.pdf if kind == "original" else self.signed_pdf(document_id)
            return Response(pdf, 200, content_type="application/pdf")

        @app.post("/_test/sign/<document_id>")
        def test_sign(document_id: str) -> Response:
            if document_id not in self.documents:
                return Response("not found", 404)
            self.sign(document_id, request.args.get("email"))
            return Response(status=204)

        @app.post("/_test/reject/<document_id>")
        def test_reject(document_id: str) -> Response:
            if document_id not in self.documents:
                return Response("not found", 404)
            self.reject(document_id, request.args.get("email"), request.args.get("reason") or "Recusado")
            return Response(status=204)

        return app
