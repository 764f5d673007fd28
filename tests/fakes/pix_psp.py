"""A local HTTPS fake of a PSP speaking the Banco Central's API Pix (../shared/specs/pix-cobv.md), with mTLS.

    pki = ThrowawayPki()                       # a CA, a server certificate for 127.0.0.1, client certificates
    psp = PixPspFake(pki, client_id="c", client_secret="s").start()
    ... ApiPixProvider(psp.api_url, psp.token_url, "c", "s", cert_file=pki.client_cert, ...) ...
    psp.stop(); pki.remove()

The certificates are made with `cryptography` (no openssl CLI). What it enforces:
- TLS ≥ 1.2 with a client certificate signed by its CA (the handshake fails otherwise), on every route;
- `POST /oauth/token`: `grant_type=client_credentials`, client id/secret in HTTP Basic; tokens live
  `token_lifetime` seconds; `revoke_tokens()` forgets them; every token request is counted;
- `Authorization: Bearer` on every API route (401 problem otherwise) and the route's scope (403);
- every request body is validated against the schema of its operation in the OpenAPI document
  (tests/fakes/openapi.py: pyyaml, `$ref`s resolved, `nullable`, jsonschema's validator); an invalid one is a
  400 problem (`application/problem+json`, the operation's error type, `violacoes[]`);
- every answer is validated against the operation's response schema for its status: a mismatch is kept in
  `response_violations` (the fake's own tests assert it stays empty);
- `PUT /cobv/{txid}` (201; an existing cobv must be ATIVA, else 400), `PATCH` (ATIVA only; status alone),
  `GET /cobv/{txid}` (404 CobVNaoEncontrada), `POST /loc`, `GET /pix?inicio=&fim=` with paginação,
  `PUT`/`GET`/`DELETE /webhook/{chave}`;
- `pay(txid)` records a Pix (the cobv becomes CONCLUIDA) and POSTs `{"pix":[…]}` to the registered URL + `/pix`
  (unless `deliver_webhooks` is False: a lost webhook, for polling); `refund(e2eid, cents)` adds a devolução
  DEVOLVIDO to that Pix and POSTs it again. Webhook bodies are validated against the callback's schema.
Test controls: `auto_location` (False: a PUT without `loc` creates no location), `stall_next(seconds)`,
`deliver_webhooks`, `webhook_headers` (sent with each webhook call, e.g. what a proxy would add).
"""

import base64
import ipaddress
import json
import re
import shutil
import ssl
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from flask import Flask, Response, request

from portal.shared import clock
from tests.fakes.externals import LoopbackServer, mtls_server_context
from tests.fakes.openapi import OpenApi

ERROR_BASE = "https://pix.bcb.gov.br/api/v2/error/"
TXID = re.compile(r"^[A-Za-z0-9]{26,35}$")
RECEBEDOR = {"cnpj": "56989000019533", "nome": "Empresa de Logística SA", "logradouro": "Rua 15 Numero 1200",
             "cidade": "São Paulo", "uf": "SP", "cep": "70800100"}
ALL_SCOPES = frozenset({"cobv.write", "cobv.read", "payloadlocation.write", "pix.read", "webhook.write",
                        "webhook.read"})


# ---------------------------------------------------------------- certificates (cryptography)

def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


class ThrowawayPki:
    """A throwaway CA with a server certificate for 127.0.0.1 and a client certificate, plus a client
    certificate from another CA (`rogue_cert`/`rogue_key`), made with `cryptography` in a temporary directory
    (PEM files, as `ssl` and the portal's PIX_CERT_FILE/PIX_KEY_FILE read them). Valid for one day."""

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="portal-pix-pki-"))
        ca, ca_key = self._ca("ca", "Fake PSP CA")
        self.ca_cert = self._write("ca", ca, ca_key)[0]
        self.server_cert, self.server_key = self._leaf("server", "127.0.0.1", ExtendedKeyUsageOID.SERVER_AUTH, ca,
                                                       ca_key, san=True)
        self.client_cert, self.client_key = self._leaf("client", "portal-client", ExtendedKeyUsageOID.CLIENT_AUTH,
                                                       ca, ca_key)
        rogue_ca, rogue_ca_key = self._ca("rogue-ca", "Someone Else CA")
        self.rogue_cert, self.rogue_key = self._leaf("rogue", "portal-client", ExtendedKeyUsageOID.CLIENT_AUTH,
                                                     rogue_ca, rogue_ca_key)

    @staticmethod
    def _builder(subject: x509.Name, issuer: x509.Name, public_key) -> x509.CertificateBuilder:
        now = datetime.now(UTC)  # certificate validity is wall-clock time for the TLS stack, not the portal's clock
        return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
                .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
                .not_valid_after(now + timedelta(days=1)))

    def _ca(self, name: str, cn: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        key = _key()
        cert = (self._builder(_name(cn), _name(cn), key.public_key())
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                             data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                             crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .sign(key, hashes.SHA256()))
        self._write(name, cert, key)
        return cert, key

    def _leaf(self, name: str, cn: str, usage, ca: x509.Certificate, ca_key, san: bool = False) -> tuple[Path, Path]:
        key = _key()
        builder = (self._builder(_name(cn), ca.subject, key.public_key())
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                                key_encipherment=False, data_encipherment=False, key_agreement=True,
                                                key_cert_sign=False, crl_sign=False, encipher_only=False,
                                                decipher_only=False), critical=True)
                   .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                                  critical=False))
        if san:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        return self._write(name, builder.sign(ca_key, hashes.SHA256()), key)

    def _write(self, name: str, cert: x509.Certificate, key) -> tuple[Path, Path]:
        cert_path, key_path = self.directory / f"{name}.pem", self.directory / f"{name}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        return cert_path, key_path

    @staticmethod
    def fingerprint(cert_path: Path) -> str:
        """SHA-256 of the certificate (DER), hex: what a proxy reports of the client certificate it checked."""
        return x509.load_pem_x509_certificate(Path(cert_path).read_bytes()).fingerprint(hashes.SHA256()).hex()

    def server_context(self) -> ssl.SSLContext:
        """TLS ≥ 1.2, this server's certificate, and a client certificate signed by the CA required."""
        return mtls_server_context(self.server_cert, self.server_key, self.ca_cert)

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


# ---------------------------------------------------------------- request bodies (the OpenAPI schemas)

def cobv_violations(body: Any, *, revision: bool = False) -> list[dict]:
    """The `violacoes` of a CobVSolicitada (PUT) or, with `revision`, a CobVRevisada (PATCH), checked against
    the OpenAPI document's schemas (tests/fakes/openapi.py); [] when valid. Plus the rule [O] states in prose
    only: a PATCH that sets `status` carries nothing else."""
    found = OpenApi.load().request_violations("/cobv/{txid}", "patch" if revision else "put", body, "cobv")
    if revision and isinstance(body, dict) and "status" in body and len(body) > 1:
        found.append({"razao": "a alteração de status não pode vir com outros campos", "propriedade": "cobv.status"})
    return found


def _merge(target: dict, patch: dict) -> None:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# ---------------------------------------------------------------- the fake

class PixPspFake:
    """See the module docstring. `api_url` (…/api/v2) and `token_url` are set by `start()`."""

    def __init__(self, pki: ThrowawayPki, client_id: str, client_secret: str, *,
                 scopes: frozenset[str] = ALL_SCOPES, token_lifetime: float = 3600, auto_location: bool = True) -> None:
        self.pki = pki
        self.client_id = client_id
        self.client_secret = client_secret
        self.scopes = scopes
        self.token_lifetime = token_lifetime
        self.auto_location = auto_location
        self.tokens: dict[str, float] = {}  # token → monotonic expiry
        self.token_requests = 0
        self.cobvs: dict[str, dict] = {}
        self.received: list[dict] = []
        self.webhooks: dict[str, str] = {}  # chave → webhookUrl
        self.webhook_created: dict[str, str] = {}
        self.webhook_deliveries: list[tuple[str, dict, int]] = []  # (url, body, status)
        self.requests: list[tuple[str, str]] = []
        self.response_violations: list[tuple[str, str, int, list]] = []
        self.deliver_webhooks = True
        self.webhook_headers: dict[str, str] = {}
        self._next_loc = 100
        self._stall = 0.0
        self._lock = threading.Lock()
        self._http: LoopbackServer | None = None
        self.url = self.api_url = self.token_url = ""
        self.app = self._build()

    # ------------------------------------------------------------ lifecycle

    def start(self) -> "PixPspFake":
        self._http = LoopbackServer(self.app, ssl_context=self.pki.server_context()).start()
        self.url = self._http.url
        self.api_url, self.token_url = f"{self.url}/api/v2", f"{self.url}/oauth/token"
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.stop()
            self._http = None

    # ------------------------------------------------------------ controls

    def revoke_tokens(self) -> None:
        with self._lock:
            self.tokens.clear()

    def stall_next(self, seconds: float) -> None:
        """The next API call answers only after `seconds`."""
        self._stall = seconds

    def pay(self, txid: str, amount_cents: int | None = None) -> dict:
        """A payer pays the cobv: CONCLUIDA, a Pix recorded, and the webhook POSTed (if one is registered)."""
        with self._lock:
            cobv = self.cobvs[txid]
            valor = (cobv["valor"]["original"] if amount_cents is None
                     else f"{amount_cents // 100}.{amount_cents % 100:02d}")
            now = clock.now()
            pix = {"endToEndId": "E12345678" + now.strftime("%Y%m%d%H%M") + uuid.uuid4().hex[:11],
                   "txid": txid, "valor": valor, "chave": cobv["chave"], "horario": _iso(now),
                   "componentesValor": {"original": {"valor": cobv["valor"]["original"]}},
                   "infoPagador": "pago no fake"}
            cobv["status"] = "CONCLUIDA"
            cobv.setdefault("pix", []).append(pix)
            self.received.append(pix)
        self.send_webhook(cobv["chave"], [pix])
        return pix

    def refund(self, end_to_end_id: str, amount_cents: int, refund_id: str = "D1") -> dict:
        """The recebedor refunds part or all of a Pix (`PUT /pix/{e2eid}/devolucao/{id}`, settled at once):
        a devolução DEVOLVIDO on the Pix, and the webhook POSTed with the Pix (as [O]'s callback says)."""
        with self._lock:
            pix = next(p for p in self.received if p["endToEndId"] == end_to_end_id)
            now = clock.now()
            devolucao = {"id": refund_id, "rtrId": "D12345678" + now.strftime("%Y%m%d%H%M") + uuid.uuid4().hex[:11],
                         "valor": f"{amount_cents // 100}.{amount_cents % 100:02d}", "natureza": "ORIGINAL",
                         "horario": {"solicitacao": _iso(now), "liquidacao": _iso(now)}, "status": "DEVOLVIDO"}
            pix.setdefault("devolucoes", []).append(devolucao)
        self.send_webhook(pix["chave"], [pix])
        return devolucao

    def send_webhook(self, chave: str, pix: list[dict]) -> int | None:
        """POST `{"pix": pix}` to the URL registered for `chave` + "/pix"; the answer's status (None if none)."""
        url = self.webhooks.get(chave)
        if not url or not self.deliver_webhooks:
            return None
        body = {"pix": pix}
        violations = OpenApi.load().callback_violations("/webhook/{chave}", "put", body)
        if violations:
            raise AssertionError(f"the fake would send a webhook body outside the schema: {violations}")
        post = urllib.request.Request(url.rstrip("/") + "/pix", data=json.dumps(body).encode(), method="POST",  # noqa: S310 - the test's receiver
                                      headers={"Content-Type": "application/json", **self.webhook_headers})
        try:
            with urllib.request.urlopen(post, timeout=10) as answer:  # noqa: S310 - the test's receiver
                status = answer.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        self.webhook_deliveries.append((url.rstrip("/") + "/pix", body, status))
        return status

    # ------------------------------------------------------------ the app

    def _build(self) -> Flask:
        app = Flask("pix_psp_fake")
        operations = {  # Flask rule → the OpenAPI path
            "/api/v2/cobv/<txid>": "/cobv/{txid}", "/api/v2/loc": "/loc", "/api/v2/pix": "/pix",
            "/api/v2/webhook/<chave>": "/webhook/{chave}",
        }

        @app.after_request
        def check_answer(response: Response) -> Response:
            rule = request.url_rule.rule if request.url_rule else ""
            if rule in operations:
                raw = response.get_data()
                answer = json.loads(raw) if raw else None
                found = OpenApi.load().response_violations(operations[rule], request.method, response.status_code,
                                                           answer)
                if found:
                    self.response_violations.append((request.method, rule, response.status_code, found))
            return response

        def problem(status: int, name: str, title: str, detail: str, violations: list | None = None) -> Response:
            body = {"type": ERROR_BASE + name, "title": title, "status": status, "detail": detail,
                    "correlationId": uuid.uuid4().hex}
            if violations:
                body["violacoes"] = violations
            return Response(json.dumps(body, ensure_ascii=False), status, mimetype="application/problem+json")

        def authorized(scope: str) -> Response | None:
            self.requests.append((request.method, request.full_path))
            if self._stall:
                stall, self._stall = self._stall, 0.0
                time.sleep(stall)
            header = request.headers.get("Authorization", "")
            token = header[7:] if header.startswith("Bearer ") else ""
            with self._lock:
                expiry = self.tokens.get(token)
            if expiry is None or time.monotonic() >= expiry:
                return problem(401, "AcessoNegado", "Acesso Negado", "Token ausente, inválido ou expirado.")
            if scope not in self.scopes:
                return problem(403, "AcessoNegado", "Acesso Negado", f"O token não tem o escopo {scope}.")
            return None

        def payload() -> Any:
            try:
                return json.loads(request.get_data() or b"null")
            except ValueError:
                return None

        def cobv_answer(cobv: dict) -> Response:
            answer = {k: v for k, v in cobv.items() if k != "pix" or v}
            return Response(json.dumps(answer, ensure_ascii=False), mimetype="application/json")

        @app.post("/oauth/token")
        def token():
            self.token_requests += 1
            basic = request.headers.get("Authorization", "")
            try:
                given = base64.b64decode(basic[6:]).decode() if basic.startswith("Basic ") else ""
            except ValueError:
                given = ""
            if given != f"{self.client_id}:{self.client_secret}":
                return {"error": "invalid_client", "error_description": "client id/secret inválidos"}, 401
            if request.form.get("grant_type") != "client_credentials":
                return {"error": "unsupported_grant_type"}, 400
            value = uuid.uuid4().hex
            with self._lock:
                self.tokens[value] = time.monotonic() + self.token_lifetime
            return {"access_token": value, "token_type": "Bearer", "expires_in": self.token_lifetime,
                    "scope": " ".join(sorted(self.scopes))}

        def location() -> dict:
            self._next_loc += 1
            return {"id": self._next_loc, "location": f"127.0.0.1/qr/v2/cobv/{uuid.uuid4().hex}", "tipoCob": "cobv",
                    "criacao": _iso(clock.now())}

        @app.put("/api/v2/cobv/<txid>")
        def put_cobv(txid: str):
            if refused := authorized("cobv.write"):
                return refused
            if not TXID.match(txid):
                return problem(400, "CobVOperacaoInvalida", "Cobrança inválida.", "O txid não respeita o schema.")
            body = payload()
            violations = cobv_violations(body)
            if violations:
                return problem(400, "CobVOperacaoInvalida", "Cobrança inválida.",
                               "A requisição não respeita o schema.", violations)
            with self._lock:
                existing = self.cobvs.get(txid)
                if existing is not None and existing["status"] != "ATIVA":
                    return problem(400, "CobVOperacaoInvalida", "Cobrança inválida.",
                                   f"A cobrança está {existing['status']} e não pode ser alterada.")
                loc = (existing or {}).get("loc") or (location() if self.auto_location else None)
                cobv = {**body, "txid": txid, "revisao": existing["revisao"] + 1 if existing else 0,
                        "status": "ATIVA", "recebedor": RECEBEDOR}
                cobv["calendario"] = {"criacao": _iso(clock.now()), "validadeAposVencimento": 30,
                                      **body["calendario"]}
                if loc:
                    cobv["loc"] = {**loc, "txid": txid}
                self.cobvs[txid] = cobv
            return Response(json.dumps(cobv, ensure_ascii=False), 201, mimetype="application/json")

        @app.patch("/api/v2/cobv/<txid>")
        def patch_cobv(txid: str):
            if refused := authorized("cobv.write"):
                return refused
            body = payload()
            violations = cobv_violations(body, revision=True)
            if violations:
                return problem(400, "CobVOperacaoInvalida", "Cobrança inválida.",
                               "A requisição não respeita o schema.", violations)
            with self._lock:
                cobv = self.cobvs.get(txid)
                if cobv is None:
                    return problem(404, "CobVNaoEncontrada", "Cobrança não encontrada.",
                                   f"Nenhuma cobrança encontrada para o txid {txid}.")
                if cobv["status"] != "ATIVA":
                    return problem(400, "CobVOperacaoInvalida", "Cobrança inválida.",
                                   f"A cobrança está {cobv['status']} e não pode ser alterada.")
                if "loc" in body:
                    body = {**body, "loc": {**location(), "id": body["loc"]["id"], "txid": txid}}
                _merge(cobv, body)
                cobv["revisao"] += 1
                return cobv_answer(cobv)

        @app.get("/api/v2/cobv/<txid>")
        def get_cobv(txid: str):
            if refused := authorized("cobv.read"):
                return refused
            with self._lock:
                cobv = self.cobvs.get(txid)
                if cobv is None:
                    return problem(404, "CobVNaoEncontrada", "Cobrança não encontrada.",
                                   f"Nenhuma cobrança encontrada para o txid {txid}.")
                return cobv_answer(cobv)

        @app.post("/api/v2/loc")
        def post_loc():
            if refused := authorized("payloadlocation.write"):
                return refused
            body = payload()
            violations = OpenApi.load().request_violations("/loc", "post", body, "loc")
            if violations:
                return problem(400, "PayloadLocationOperacaoInvalida", "Location inválida.",
                               "A requisição não respeita o schema.", violations)
            return Response(json.dumps(location()), 201, mimetype="application/json")

        @app.get("/api/v2/pix")
        def list_pix():
            if refused := authorized("pix.read"):
                return refused
            try:
                start, end = _instant(request.args["inicio"]), _instant(request.args["fim"])
                page = int(request.args.get("paginacao.paginaAtual", 0))
                size = int(request.args.get("paginacao.itensPorPagina", 100))
            except (KeyError, ValueError):
                return problem(400, "ConsultarPixOperacaoInvalida", "Consulta inválida.",
                               "inicio e fim (RFC 3339) são obrigatórios.")
            if not 1 <= size <= 1000 or page < 0:
                return problem(400, "ConsultarPixOperacaoInvalida", "Consulta inválida.", "paginação inválida.")
            with self._lock:
                found = [p for p in self.received if start <= _instant(p["horario"]) <= end]
            pages = max(1, -(-len(found) // size))
            return {"parametros": {"inicio": request.args["inicio"], "fim": request.args["fim"],
                                   "paginacao": {"paginaAtual": page, "itensPorPagina": size,
                                                 "quantidadeDePaginas": pages,
                                                 "quantidadeTotalDeItens": len(found)}},
                    "pix": found[page * size:(page + 1) * size]}

        @app.put("/api/v2/webhook/<chave>")
        def put_webhook(chave: str):
            if refused := authorized("webhook.write"):
                return refused
            body = payload()
            violations = OpenApi.load().request_violations("/webhook/{chave}", "put", body, "webhook")
            if violations or not re.match(r"^https?://", body["webhookUrl"]):
                return problem(400, "WebhookOperacaoInvalida", "Webhook inválido.",
                               "o campo webhookUrl não respeita o schema.", violations)
            with self._lock:
                self.webhooks[chave] = body["webhookUrl"]
                self.webhook_created[chave] = _iso(clock.now())
            return Response(status=200)

        @app.get("/api/v2/webhook/<chave>")
        def get_webhook(chave: str):
            if refused := authorized("webhook.read"):
                return refused
            with self._lock:
                url = self.webhooks.get(chave)
            if url is None:
                return problem(404, "WebhookNaoEncontrado", "Webhook não encontrado.",
                               f"Nenhum webhook para a chave {chave}.")
            # [O]'s WebhookCompleto requires `cnpj` (the recebedor's); its example webhookResponse1 has `chave`
            return {"webhookUrl": url, "chave": chave, "cnpj": RECEBEDOR["cnpj"],
                    "criacao": self.webhook_created[chave]}

        @app.delete("/api/v2/webhook/<chave>")
        def delete_webhook(chave: str):
            if refused := authorized("webhook.write"):
                return refused
            with self._lock:
                if self.webhooks.pop(chave, None) is None:
                    return problem(404, "WebhookNaoEncontrado", "Webhook não encontrado.",
                                   f"Nenhum webhook para a chave {chave}.")
            return Response(status=204)

        return app
