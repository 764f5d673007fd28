"""The API's OpenAPI 3.1 document, generated from the code, and its reference page (Redoc, vendored).

The portal is a plain Flask app, and APIFlask generates a document only for an `APIFlask` app: the document is made
by a throwaway `APIFlask` holding nothing but the API's blueprint (the very view functions and schemas the portal
serves), once per process. It is then finished here: every error answer is a problem detail
(application/problem+json), and every operation lists the errors it can give (401, 403, 429 for every one, 404
with an object in its path, 422 with input).
"""

import copy
from typing import Any

from apiflask import APIFlask
from flask import Blueprint, current_app, jsonify, render_template
from flask_babel import force_locale

from portal.api import problems, rest, schemas
from portal.shared.permissions import public

bp = Blueprint("api_docs", __name__, url_prefix="/api/v1")

PROBLEM = "application/problem+json"
DESCRIPTION = """A API do portal para os sistemas da sua empresa (ERP, ITSM, financeiro), com os mesmos papéis e as
mesmas regras das páginas.

- **Autenticação**: `Authorization: Bearer <token>`, com um token criado por um Master em Minha conta → Integrações →
  Tokens de API. O token tem os papéis escolhidos na criação, nunca mais que os de quem o criou.
- **Dinheiro**: `{"cents": 12345, "formatted": "R$ 123,45"}`, sempre em centavos inteiros.
- **Datas**: ISO 8601 (instantes em UTC).
- **Paginação**: `?cursor=&limit=`; a resposta traz `next_cursor` (null na última página).
- **Erros**: RFC 9457 (`application/problem+json`), com `type` estável e `title` no idioma do Accept-Language.
- **Idempotency-Key** em todo POST: a mesma chave com o mesmo conteúdo devolve a mesma resposta por 24 horas.
- **Limite** por token, com os cabeçalhos RateLimit-Limit, RateLimit-Remaining e RateLimit-Reset.
- **ETag / If-Match**: confirmar um orçamento exige o ETag atual da licença.
"""

PROBLEM_SCHEMA = {
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "format": "uri", "example": "https://portal/errors/validation"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
    },
}
ERROR_DESCRIPTIONS = {"401": "Token ausente, inválido, expirado ou revogado", "403": "Sem permissão",
                      "404": "Não encontrado", "422": "Dados inválidos ou operação recusada",
                      "429": "Limite de requisições excedido"}


def _problem(description: str, status: int) -> dict[str, Any]:
    example = {"type": f"https://portal/errors/{problems.BY_STATUS.get(status, 'bad-request')}",
               "title": str(problems.KINDS[problems.BY_STATUS.get(status, "bad-request")][1]),
               "status": status}
    return {"description": description,
            "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}, "example": example}}}


def _finish(document: dict[str, Any]) -> dict[str, Any]:
    document = copy.deepcopy(document)
    components = document.setdefault("components", {})
    components.setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    for name in ("HTTPError", "ValidationError"):
        components["schemas"].pop(name, None)
    for path, operations in document.get("paths", {}).items():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for parameter in operation.get("parameters", []):  # optional, not null: OpenAPI 3.0's "nullable" goes
                parameter.get("schema", {}).pop("nullable", None)
                if parameter.get("schema", {}).get("default", 0) is None:
                    parameter["schema"].pop("default")
            extra = rest.MULTIPART_BODIES.get(operation.get("operationId"))
            if extra is not None:
                operation["requestBody"]["content"]["multipart/form-data"] = copy.deepcopy(extra)
            responses = operation["responses"]
            wanted = {"401", "403", "429"}
            if "{" in path:
                wanted.add("404")
            if operation.get("parameters") or operation.get("requestBody"):
                wanted.add("422")
            for code in wanted:
                responses.setdefault(code, {"description": ERROR_DESCRIPTIONS[code]})
            for code, answer in responses.items():
                if int(code) >= 400:
                    responses[code] = _problem(answer.get("description") or ERROR_DESCRIPTIONS.get(code, ""),
                                               int(code))
    return document


def build(config: dict[str, Any]) -> dict[str, Any]:
    """The document, as a dict (made by a throwaway APIFlask app holding only the API's blueprint)."""
    maker = APIFlask(__name__, title="Portal Cloud — API", version="1.0.0", spec_path=None, docs_path=None,
                     docs_oauth2_redirect_path=None)
    maker.config.update(OPENAPI_VERSION="3.1.0", DESCRIPTION=DESCRIPTION, AUTO_OPERATION_SUMMARY=False,
                        SERVERS=[{"url": config["BASE_URL"].rstrip("/"), "description": "Portal"}],
                        VALIDATION_ERROR_SCHEMA=schemas.Problem, HTTP_ERROR_SCHEMA=schemas.Problem,
                        SUCCESS_DESCRIPTION="Sucesso", AUTH_ERROR_DESCRIPTION=ERROR_DESCRIPTIONS["401"],
                        VALIDATION_ERROR_DESCRIPTION=ERROR_DESCRIPTIONS["422"], NOT_FOUND_DESCRIPTION="Não encontrado",
                        TAGS=[{"name": "API", "description": "Recursos da organização do token"}])
    maker.url_map.converters.update(current_app.url_map.converters)
    maker.register_blueprint(rest.bp)
    with maker.app_context():
        made = maker._get_spec("json", force_update=True)
    with force_locale("pt_BR"):  # the examples' titles
        return _finish(made)


def document() -> dict[str, Any]:
    found = current_app.extensions.get("api_openapi")
    if found is None:
        found = current_app.extensions["api_openapi"] = build(current_app.config)
    return found


@bp.get("/openapi.json")
@public
def spec():
    return jsonify(document())


@bp.get("/docs")
@public
def docs():
    # Redoc styles its elements at run time and searches in a web worker made from a blob: the one page that
    # allows inline styles and blob workers; scripts stay 'self' only (the vendored bundle, no inline script).
    policy = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
              "worker-src blob:; connect-src 'self'; font-src 'self' data:; object-src 'none'; base-uri 'self'; "
              "form-action 'self'; frame-ancestors 'none'")
    return render_template("api/docs.html"), 200, {"Content-Security-Policy": policy}
