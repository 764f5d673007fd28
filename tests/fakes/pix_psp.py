"""A local HTTPS fake of a PSP speaking the Banco Central's API Pix (../shared/specs/pix-cobv.md), with mTLS.

    pki = ThrowawayPki()                       # a CA, a server certificate for 127.0.0.1, client certificates
    psp = PixPspFake(pki, client_id="c", client_secret="s").start()
    ... ApiPixProvider(psp.api_url, psp.token_url, "c", "s", cert_file=pki.client_cert, ...) ...
    psp.stop(); pki.remove()

The certificates are made with the `openssl` CLI: `cryptography` is not in requirements.lock.

What it enforces:
- TLS ≥ 1.2 with a client certificate signed by its CA (the handshake fails otherwise), on every route;
- `POST /oauth/token`: `grant_type=client_credentials`, client id/secret in HTTP Basic; tokens live
  `token_lifetime` seconds; `revoke_tokens()` forgets them; every token request is counted;
- `Authorization: Bearer` on every API route (401 problem otherwise) and the route's scope (403);
- request bodies checked against the OpenAPI schemas CobVSolicitada (PUT), CobVRevisada (PATCH) and the
  webhook body: `jsonschema` and `pyyaml` are not in requirements.lock either, so `cobv_violations` checks the
  schemas' fields by hand (required fields, patterns, lengths, the modalidade ranges, the devedor oneOf);
  a field the schemas do not name is refused too (stricter than [O], which does not forbid extra fields);
- `PUT /cobv/{txid}` (201; an existing cobv must be ATIVA, else 400), `PATCH` (ATIVA only; status alone),
  `GET /cobv/{txid}` (404 CobVNaoEncontrada), `POST /loc`, `GET /pix?inicio=&fim=` with paginação,
  `PUT /webhook/{chave}`;
- `pay(txid)` records a Pix (the cobv becomes CONCLUIDA) and POSTs `{"pix":[…]}` to the registered URL + `/pix`.
Test controls: `auto_location` (False: a PUT without `loc` creates no location), `stall_next(seconds)`.
"""

import base64
import json
import re
import shutil
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from flask import Flask, Response, request

from portal.shared import clock
from tests.fakes.externals import LoopbackServer, missing

ERROR_BASE = "https://pix.bcb.gov.br/api/v2/error/"
TXID = re.compile(r"^[A-Za-z0-9]{26,35}$")
MONEY = re.compile(r"^\d{1,10}\.\d{2}$")
ALL_SCOPES = frozenset({"cobv.write", "cobv.read", "payloadlocation.write", "pix.read", "webhook.write",
                        "webhook.read"})


# ---------------------------------------------------------------- certificates (openssl CLI)

class ThrowawayPki:
    """A throwaway CA with a server certificate for 127.0.0.1 and a client certificate, plus a client
    certificate from another CA (`rogue_cert`/`rogue_key`), all made with `openssl` in a temporary directory."""

    def __init__(self) -> None:
        self.openssl = shutil.which("openssl")
        if self.openssl is None:
            missing("openssl not available: install the openssl package")
        self.directory = Path(tempfile.mkdtemp(prefix="portal-pix-pki-"))
        self.ca_cert, self.ca_key = self._ca("ca", "Fake PSP CA")
        self.server_cert, self.server_key = self._leaf("server", "127.0.0.1", "serverAuth", self.ca_cert, self.ca_key,
                                                       san="IP:127.0.0.1")
        self.client_cert, self.client_key = self._leaf("client", "portal-client", "clientAuth", self.ca_cert,
                                                       self.ca_key)
        rogue_ca, rogue_ca_key = self._ca("rogue-ca", "Someone Else CA")
        self.rogue_cert, self.rogue_key = self._leaf("rogue", "portal-client", "clientAuth", rogue_ca, rogue_ca_key)

    def _run(self, *args: str) -> None:
        subprocess.run([self.openssl, *args], check=True, capture_output=True)

    def _ca(self, name: str, cn: str) -> tuple[Path, Path]:
        cert, key = self.directory / f"{name}.pem", self.directory / f"{name}.key"
        self._run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
                  "-subj", f"/CN={cn}", "-keyout", str(key), "-out", str(cert),
                  "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        return cert, key

    def _leaf(self, name: str, cn: str, usage: str, ca_cert: Path, ca_key: Path, san: str = "") -> tuple[Path, Path]:
        cert, key, csr = (self.directory / f"{name}.pem", self.directory / f"{name}.key",
                          self.directory / f"{name}.csr")
        extensions = self.directory / f"{name}.ext"
        lines = ["basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature,keyEncipherment",
                 f"extendedKeyUsage={usage}", "subjectKeyIdentifier=hash", "authorityKeyIdentifier=keyid,issuer"]
        if san:
            lines.append(f"subjectAltName={san}")
        extensions.write_text("\n".join(lines) + "\n")
        self._run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", f"/CN={cn}",
                  "-keyout", str(key), "-out", str(csr))
        self._run("x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey", str(ca_key), "-CAcreateserial",
                  "-days", "1", "-out", str(cert), "-extfile", str(extensions))
        return cert, key

    def server_context(self) -> ssl.SSLContext:
        """TLS ≥ 1.2, this server's certificate, and a client certificate signed by the CA required."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.server_cert, self.server_key)
        context.load_verify_locations(cafile=str(self.ca_cert))
        context.verify_mode = ssl.CERT_REQUIRED
        return context

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


# ---------------------------------------------------------------- request bodies (the OpenAPI schemas, by hand)

def _modalidade(value: Any, low: int, high: int) -> bool:
    """`modalidade` is an integer in the schema and a string in [O]'s examples: both accepted."""
    if isinstance(value, bool):
        return False
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    return isinstance(value, int) and low <= value <= high


def _check_modal(where: str, obj: Any, low: int, high: int, out: list) -> None:
    if not isinstance(obj, dict):
        out.append((where, "deve ser um objeto"))
        return
    if not _modalidade(obj.get("modalidade"), low, high):
        out.append((f"{where}.modalidade", f"deve estar entre {low} e {high}"))
    if not MONEY.match(str(obj.get("valorPerc") or "")):
        out.append((f"{where}.valorPerc", "não respeita o schema \\d{1,10}\\.\\d{2}"))
    extra = set(obj) - {"modalidade", "valorPerc"}
    if extra:
        out.append((where, f"campos desconhecidos: {sorted(extra)}"))


def _check_valor(valor: Any, out: list, *, original_required: bool) -> None:
    if not isinstance(valor, dict):
        out.append(("cobv.valor", "deve ser um objeto"))
        return
    if "original" in valor or original_required:
        original = str(valor.get("original") or "")
        if not MONEY.match(original) or original.strip("0.") == "":
            out.append(("cobv.valor.original", "não respeita o schema (\\d{1,10}\\.\\d{2}, maior que zero)"))
    for key, (low, high) in {"multa": (1, 2), "juros": (1, 8), "abatimento": (1, 2)}.items():
        if key in valor:
            _check_modal(f"cobv.valor.{key}", valor[key], low, high, out)
    if "desconto" in valor:
        desconto = valor["desconto"]
        if not isinstance(desconto, dict) or not _modalidade(desconto.get("modalidade"), 1, 6):
            out.append(("cobv.valor.desconto.modalidade", "deve estar entre 1 e 6"))
        elif _modalidade(desconto.get("modalidade"), 1, 2) != bool(desconto.get("descontoDataFixa")):
            out.append(("cobv.valor.desconto", "modalidades 1 e 2 exigem descontoDataFixa; 3 a 6, valorPerc"))
    extra = set(valor) - {"original", "multa", "juros", "abatimento", "desconto"}
    if extra:
        out.append(("cobv.valor", f"campos desconhecidos: {sorted(extra)}"))


def _check_devedor(devedor: Any, out: list, *, required: bool) -> None:
    if not isinstance(devedor, dict):
        out.append(("cobv.devedor", "deve ser um objeto"))
        return
    has_cpf, has_cnpj = "cpf" in devedor, "cnpj" in devedor
    if has_cpf and has_cnpj:
        out.append(("cobv.devedor", "cpf e cnpj não podem estar preenchidos ao mesmo tempo"))
    elif has_cpf and not re.fullmatch(r"\d{11}", str(devedor["cpf"])):
        out.append(("cobv.devedor.cpf", "não respeita o schema"))
    elif has_cnpj and not re.fullmatch(r"[0-9A-Z]{14}", str(devedor["cnpj"])):
        out.append(("cobv.devedor.cnpj", "não respeita o schema"))
    elif required and not (has_cpf or has_cnpj):
        out.append(("cobv.devedor", "cpf ou cnpj é obrigatório"))
    nome = devedor.get("nome")
    if (required or has_cpf or has_cnpj) and (not isinstance(nome, str) or not 0 < len(nome) <= 200):
        out.append(("cobv.devedor.nome", "obrigatório, até 200 caracteres"))
    limits = {"logradouro": 200, "cidade": 200, "uf": 2, "cep": 8, "email": 200}
    for key, limit in limits.items():
        if key in devedor and (not isinstance(devedor[key], str) or len(devedor[key]) > limit):
            out.append((f"cobv.devedor.{key}", f"até {limit} caracteres"))
    extra = set(devedor) - {"cpf", "cnpj", "nome", *limits}
    if extra:
        out.append(("cobv.devedor", f"campos desconhecidos: {sorted(extra)}"))


def cobv_violations(body: Any, *, revision: bool = False) -> list[dict]:
    """The `violacoes` of a CobVSolicitada (PUT) or, with `revision`, a CobVRevisada (PATCH); [] when valid."""
    out: list[tuple[str, str]] = []
    if not isinstance(body, dict):
        return [{"razao": "o corpo deve ser um objeto JSON", "propriedade": "cobv"}]
    if not revision:
        for key in ("calendario", "devedor", "valor", "chave"):
            if key not in body:
                out.append((f"cobv.{key}", "campo obrigatório"))
    calendario = body.get("calendario")
    if "calendario" in body:
        if not isinstance(calendario, dict):
            out.append(("cobv.calendario", "deve ser um objeto"))
        else:
            due = calendario.get("dataDeVencimento")
            try:
                date.fromisoformat(due) if isinstance(due, str) and len(due) == 10 else date.fromisoformat("")
            except ValueError:
                if due is not None or not revision:
                    out.append(("cobv.calendario.dataDeVencimento", "não respeita o schema YYYY-MM-DD"))
            validity = calendario.get("validadeAposVencimento", 0)
            if not isinstance(validity, int) or isinstance(validity, bool) or validity < 0:
                out.append(("cobv.calendario.validadeAposVencimento", "inteiro ≥ 0"))
            extra = set(calendario) - {"dataDeVencimento", "validadeAposVencimento"}
            if extra:
                out.append(("cobv.calendario", f"campos desconhecidos: {sorted(extra)}"))
    if "devedor" in body:
        _check_devedor(body["devedor"], out, required=not revision)
    if "valor" in body:
        _check_valor(body["valor"], out, original_required=not revision)
    if "loc" in body and not (isinstance(body["loc"], dict) and isinstance(body["loc"].get("id"), int)):
        out.append(("cobv.loc.id", "inteiro obrigatório"))
    if "chave" in body and not (isinstance(body["chave"], str) and 0 < len(body["chave"]) <= 77):
        out.append(("cobv.chave", "até 77 caracteres"))
    if "solicitacaoPagador" in body and not (isinstance(body["solicitacaoPagador"], str)
                                             and len(body["solicitacaoPagador"]) <= 140):
        out.append(("cobv.solicitacaoPagador", "até 140 caracteres"))
    if "infoAdicionais" in body and not isinstance(body["infoAdicionais"], list):
        out.append(("cobv.infoAdicionais", "deve ser uma lista"))
    allowed = {"calendario", "devedor", "loc", "valor", "chave", "solicitacaoPagador", "infoAdicionais"}
    if revision:
        allowed.add("status")
        if "status" in body:
            if body["status"] != "REMOVIDA_PELO_USUARIO_RECEBEDOR":
                out.append(("cobv.status", "só aceita REMOVIDA_PELO_USUARIO_RECEBEDOR"))
            if len(body) > 1:
                out.append(("cobv.status", "a alteração de status não pode vir com outros campos"))
    extra = set(body) - allowed
    if extra:
        out.append(("cobv", f"campos desconhecidos: {sorted(extra)}"))
    return [{"razao": reason, "propriedade": prop} for prop, reason in out]


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
        self.webhook_deliveries: list[tuple[str, dict, int]] = []  # (url, body, status)
        self.requests: list[tuple[str, str]] = []
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
            url = self.webhooks.get(cobv["chave"])
        if url:
            body = {"pix": [pix]}
            post = urllib.request.Request(url.rstrip("/") + "/pix", data=json.dumps(body).encode(), method="POST",  # noqa: S310 - the test's receiver
                                          headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(post, timeout=5) as answer:  # noqa: S310 - the test's receiver
                    status = answer.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            self.webhook_deliveries.append((url.rstrip("/") + "/pix", body, status))
        return pix

    # ------------------------------------------------------------ the app

    def _build(self) -> Flask:
        app = Flask("pix_psp_fake")

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
                        "status": "ATIVA", "recebedor": {"cnpj": "56989000019533", "nome": "Empresa de Logística SA"}}
                cobv["calendario"] = {"criacao": _iso(clock.now()), "validadeAposVencimento": 30,
                                      **body["calendario"]}
                if loc:
                    cobv["loc"] = loc
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
                    body = {**body, "loc": {**location(), "id": body["loc"]["id"]}}
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
            if body != {"tipoCob": "cobv"}:
                return problem(400, "PayloadLocationOperacaoInvalida", "Location inválida.", "tipoCob: cob ou cobv.")
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
            url = body.get("webhookUrl") if isinstance(body, dict) else None
            if not isinstance(url, str) or not re.match(r"^https?://", url) or set(body) != {"webhookUrl"}:
                return problem(400, "WebhookOperacaoInvalida", "Webhook inválido.",
                               "o campo webhookUrl não respeita o schema.")
            self.webhooks[chave] = url
            return Response(status=200)

        return app
