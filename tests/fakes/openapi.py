"""The Banco Central's API Pix OpenAPI document (../shared/specs/bcb-api-pix-openapi.yaml, v2.9.0) as JSON Schemas.

    api = OpenApi.load()
    api.request_violations("/cobv/{txid}", "put", body)          # [] when the body fits CobVSolicitada
    api.response_violations("/cobv/{txid}", "get", 200, answer)  # the fake's answers, checked in its tests
    api.callback_violations("/webhook/{chave}", "put", body)     # the webhook's {"pix": [...]}

The document is loaded with pyyaml; OpenAPI 3.0 schema objects are JSON Schema draft 4 plus a few keywords:
`nullable: true` becomes a "null" type alternative, the rest (`example`, `discriminator`, …) is ignored by the
validator. `$ref`s are resolved by jsonschema through a `referencing` registry holding the whole document, so a
schema is validated as `{"$ref": "<document>#/components/schemas/X"}`.

Corrections to [O], each where its own examples or prose contradict a schema (see `_corrected`):
- `PixConsultados` lists `cobs` in `required` although its property is `pix` (pix-cobv.md "Polling");
- patterns written as JavaScript literals (`/^\\d{11}$/`, PessoaFisica.cpf) lose their slashes, else no CPF matches;
- `modalidade` is an integer in the schemas and a string in every example (`"2"`): both are accepted
  (pix-cobv.md: "send integers, accept both");
- `PayloadLocationCob` requires `tipoCob`, but the request example cobBody1 sends `"loc": {"id": 789}`:
  in a request `loc.id` alone is enough;
- `DadosRecebedor` requires `logradouro`, `cidade`, `uf`, `cep` at the cobv's top level as well as inside
  `recebedor` (where they belong, cobResponse4): only the latter is kept;
- `CobVGerada` requires a top-level `location` that none of [O]'s cobv answers has (it is `loc.location`): dropped.
"""

import os
import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft4Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

SPEC = Path(os.environ.get("PIX_OPENAPI_SPEC", "/work/shared/specs/bcb-api-pix-openapi.yaml"))
URI = "urn:bcb:api-pix"


def _nullable(node: Any) -> Any:
    """OpenAPI 3.0 `nullable: true` → JSON Schema: null joins the allowed types (and the enum)."""
    if isinstance(node, list):
        return [_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _nullable(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable") is True:
        if "type" in out:
            types = out["type"] if isinstance(out["type"], list) else [out["type"]]
            out["type"] = [*types, "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
        if "type" not in out and "enum" not in out:  # e.g. a bare $ref or allOf: null OR the schema
            out = {"anyOf": [{"type": "null"}, out]}
    return out


def _corrected(node: Any, key: str = "") -> Any:
    """The module docstring's corrections, applied in place (returns `node`)."""
    if isinstance(node, list):
        for item in node:
            _corrected(item)
    elif isinstance(node, dict):
        pattern = node.get("pattern")
        if isinstance(pattern, str) and len(pattern) > 2 and pattern.startswith("/") and pattern.endswith("/"):
            node["pattern"] = pattern[1:-1]
        if key == "modalidade" and node.get("type") == "integer":
            node["type"] = ["integer", "string"]
            node["pattern"] = r"^\d+$"  # a string must be digits (applies to strings only)
        for child_key, value in node.items():
            _corrected(value, child_key)
        schemas = node.get("components", {}).get("schemas", {})
        if "PixConsultados" in schemas:
            consultados = schemas["PixConsultados"]
            consultados["required"] = ["pix" if n == "cobs" else n for n in consultados.get("required", [])]
        if "PayloadLocationCob" in schemas:
            schemas["PayloadLocationCob"]["required"] = ["id"]
        if "DadosRecebedor" in schemas:
            schemas["DadosRecebedor"].pop("required", None)
        if "CobVGerada" in schemas:
            schemas["CobVGerada"]["required"] = [n for n in schemas["CobVGerada"]["required"] if n != "location"]
    return node


def _escape(segment: str) -> str:
    return segment.replace("~", "~0").replace("/", "~1")


class OpenApi:
    def __init__(self, document: dict) -> None:
        self.document = document
        self.registry = Registry().with_resource(URI, Resource.from_contents(document, default_specification=DRAFT4))

    @classmethod
    @cache
    def load(cls, path: Path = SPEC) -> "OpenApi":
        return cls(_corrected(_nullable(yaml.safe_load(path.read_text(encoding="utf-8")))))

    # ------------------------------------------------------------ pointers into the document

    def _at(self, pointer: str) -> Any:
        node: Any = self.document
        for segment in pointer.strip("/").split("/"):
            node = node[segment.replace("~1", "/").replace("~0", "~")]
        return node

    def _follow(self, pointer: str) -> str:
        """`pointer`, or where its object's `$ref` leads."""
        node = self._at(pointer)
        while isinstance(node, dict) and "$ref" in node and node["$ref"].startswith("#/"):
            pointer = node["$ref"][1:]
            node = self._at(pointer)
        return pointer

    def _schema_pointer(self, holder: str, status: str | None = None) -> str | None:
        """The pointer of the JSON schema in a requestBody (status None) or a response, if it has one."""
        pointer = self._follow(holder if status is None else f"{holder}/responses/{status}")
        content = self._at(pointer).get("content") or {}
        for media in ("application/json", "application/problem+json"):
            if media in content and "schema" in content[media]:
                return f"{pointer}/content/{_escape(media)}/schema"
        return None

    def operation(self, path: str, method: str) -> str:
        pointer = f"/paths/{_escape(path)}/{method.lower()}"
        self._at(pointer)  # KeyError for an operation the document does not have
        return pointer

    # ------------------------------------------------------------ validation

    def violations(self, schema_pointer: str, instance: Any, prefix: str = "") -> list[dict]:
        """[{"razao", "propriedade"}] as the API Pix's Problema.violacoes, [] when `instance` fits."""
        validator = Draft4Validator({"$ref": f"{URI}#{schema_pointer}"}, registry=self.registry)
        found = []
        for error in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path))):
            path = [*error.absolute_path]
            if error.validator == "required" and (missing := re.match(r"'([^']+)' is a required", error.message)):
                path.append(missing.group(1))  # the property that is missing, as the API Pix's violacoes name it
            where = ".".join(str(part) for part in (prefix, *path) if part != "")
            found.append({"razao": error.message[:300], "propriedade": where or prefix or "body",
                          "valor": str(error.instance)[:100] if not isinstance(error.instance, (dict, list)) else ""})
        return found

    def request_violations(self, path: str, method: str, body: Any, prefix: str = "") -> list[dict]:
        pointer = self._schema_pointer(self.operation(path, method) + "/requestBody")
        if pointer is None:
            raise KeyError(f"{method.upper()} {path} has no JSON request body in the document")
        return self.violations(pointer, body, prefix)

    def response_violations(self, path: str, method: str, status: int, body: Any) -> list[dict]:
        operation = self.operation(path, method)
        if status == 401:  # authentication sits outside [O] (the Manual de Segurança): a Problema all the same
            return self.violations("/components/schemas/Problema", body)
        if str(status) not in self._at(operation + "/responses"):
            return [{"razao": f"status {status} is not an answer of {method.upper()} {path}", "propriedade": ""}]
        pointer = self._schema_pointer(operation, str(status))
        if pointer is None:
            return [] if body in (None, b"", "") else [{"razao": "the document says no body", "propriedade": ""}]
        return self.violations(pointer, body)

    def callback_violations(self, path: str, method: str, body: Any) -> list[dict]:
        callbacks = self._at(self.operation(path, method) + "/callbacks")
        for name, expressions in callbacks.items():
            for expression in expressions:
                base = f"{self.operation(path, method)}/callbacks/{_escape(name)}/{_escape(expression)}/post"
                pointer = self._schema_pointer(base + "/requestBody")
                if pointer is not None:
                    return self.violations(pointer, body)
        raise KeyError(f"{method.upper()} {path} has no callback with a JSON body")
