"""Errors of the REST API as RFC 9457 problem details (`application/problem+json`).

Every problem has a stable `type` URI (its last part is the `kind` below, never renamed), the HTTP `status`, a
`title` translated by the request's Accept-Language (Portuguese unless English is preferred), and when useful a
`detail` (the service's own message, already translated) and `errors` (messages by field).
"""

from typing import Any

from flask import Request, current_app, jsonify, request
from flask_babel import lazy_gettext as _l

API_PREFIX = "/api/"
TYPE_BASE = "https://portal/errors/"
CONTENT_TYPE = "application/problem+json"

# kind → (status, title)
KINDS: dict[str, tuple[int, Any]] = {
    "bad-request": (400, _l("Requisição malformada.")),
    "unauthorized": (401, _l("Token de API ausente, inválido, expirado ou revogado.")),
    "forbidden": (403, _l("O token não tem permissão para esta operação.")),
    "not-found": (404, _l("Recurso não encontrado.")),
    "method-not-allowed": (405, _l("Método não permitido neste endereço.")),
    "conflict": (409, _l("A operação conflita com o estado atual do recurso.")),
    "idempotency-in-progress": (409, _l("Uma requisição com esta Idempotency-Key ainda está em andamento.")),
    "precondition-failed": (412, _l("O recurso mudou: o ETag enviado em If-Match não é mais o atual.")),
    "payload-too-large": (413, _l("O conteúdo enviado passa do tamanho máximo aceito.")),
    "unsupported-media-type": (415, _l("Envie o conteúdo como application/json.")),
    "validation": (422, _l("Os dados enviados não são válidos.")),
    "refused": (422, _l("A operação foi recusada.")),
    "idempotency-mismatch": (422, _l("Esta Idempotency-Key já foi usada com outro conteúdo.")),
    "precondition-required": (428, _l("Envie o cabeçalho If-Match com o ETag atual do recurso.")),
    "rate-limited": (429, _l("Limite de requisições excedido. Aguarde e tente de novo.")),
    "server-error": (500, _l("Erro interno. Tente de novo mais tarde.")),
    "unavailable": (503, _l("Recurso indisponível no momento. Tente de novo mais tarde.")),
}
BY_STATUS = {400: "bad-request", 401: "unauthorized", 403: "forbidden", 404: "not-found", 405: "method-not-allowed",
             409: "conflict", 412: "precondition-failed", 413: "payload-too-large", 415: "unsupported-media-type",
             422: "validation", 428: "precondition-required", 429: "rate-limited", 500: "server-error"}


class Problem(Exception):
    """Raised anywhere under /api: answered as the problem of `kind`."""

    def __init__(self, kind: str, detail: str | None = None, *, errors: dict | None = None,
                 headers: dict | None = None) -> None:
        super().__init__(kind)
        self.kind = kind
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}


def is_api_request(req: Request | None = None) -> bool:
    return (req or request).path.startswith(API_PREFIX)


def api_locale(req: Request) -> str:
    """pt_BR unless the Accept-Language header prefers English."""
    best = req.accept_languages.best_match(["pt-BR", "pt", "en"], default="pt-BR")
    return "en" if best == "en" else "pt_BR"


def body(kind: str, detail: str | None = None, errors: dict | None = None) -> dict[str, Any]:
    status, title = KINDS[kind]
    found: dict[str, Any] = {"type": TYPE_BASE + kind, "title": str(title), "status": status}
    if detail:
        found["detail"] = str(detail)
    if errors:
        found["errors"] = {str(field or "_"): [str(message) for message in messages]
                           for field, messages in errors.items()}
    found["instance"] = request.path
    return found


def response(kind: str, detail: str | None = None, *, errors: dict | None = None, headers: dict | None = None):
    answer = jsonify(body(kind, detail, errors))
    answer.status_code = KINDS[kind][0]
    answer.content_type = CONTENT_TYPE
    for name, value in (headers or {}).items():
        answer.headers[name] = value
    if kind == "unauthorized":
        answer.headers.setdefault("WWW-Authenticate", 'Bearer realm="api"')
    return answer


def for_status(status: int, detail: str | None = None, headers: dict | None = None):
    kind = BY_STATUS.get(status) or ("server-error" if status >= 500 else "bad-request")
    if kind == "server-error":
        current_app.logger.exception("API error")
    return response(kind, detail, headers=headers)


def from_exception(error: Problem):
    return response(error.kind, error.detail, errors=error.errors, headers=error.headers)
