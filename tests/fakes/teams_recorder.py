"""A local stand-in for a Teams Workflows webhook ("When a Teams webhook request is received"): records what is
POSTed and answers like the flow's trigger, for testing `WorkflowsWebhookNotifier` over real HTTP.

    recorder = TeamsRecorder(statuses=[500, 202]).start()
    ...  WorkflowsWebhookNotifier(recorder.webhook_url)  ...
    recorder.stop()

Every POST is recorded (`requests`: path, query, headers, raw body) and its JSON checked like the notes' fake
(../shared/notes/integrations.md §4): `type == "message"`, `attachments[0].contentType` the Adaptive Card MIME
type, `content.type == "AdaptiveCard"`, `content.version` at most 1.5, a JSON content type and a body of at most
28 KB (the Teams message limit). A request that fails the checks answers 400 with the reasons; one that passes is
answered with the next status of `statuses` (202 once the list is used up); the cards of the accepted ones (2xx)
are kept in `cards`. The webhook URL carries a signature in its query, like the real ones (`sig=…`), and a POST
with another signature answers 401.
"""

import json
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from werkzeug.wrappers import Request, Response

from tests.fakes.externals import LoopbackFake, LoopbackServer

ADAPTIVE_CARD_MIME = "application/vnd.microsoft.card.adaptive"
MAX_BODY = 28 * 1024


@dataclass
class Recorded:
    path: str
    args: dict[str, str]
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


def _version(value: Any) -> tuple[int, ...] | None:
    try:
        return tuple(int(part) for part in str(value).split("."))
    except ValueError:
        return None


def envelope_problems(body: bytes, content_type: str) -> list[str]:
    """What is wrong with a POSTed Workflows payload (empty when it is a valid Adaptive Card message)."""
    problems = []
    if not content_type.lower().startswith("application/json"):
        problems.append(f"Content-Type must be application/json, not {content_type!r}")
    if len(body) > MAX_BODY:
        problems.append(f"body of {len(body)} bytes exceeds {MAX_BODY}")
    try:
        payload = json.loads(body)
    except ValueError as exc:
        return [*problems, f"not JSON: {exc}"]
    if not isinstance(payload, dict) or payload.get("type") != "message":
        return [*problems, 'type must be "message"']
    attachments = payload.get("attachments")
    if not isinstance(attachments, list) or not attachments or not isinstance(attachments[0], dict):
        return [*problems, "attachments must hold the card"]
    first = attachments[0]
    if first.get("contentType") != ADAPTIVE_CARD_MIME:
        problems.append(f"attachments[0].contentType must be {ADAPTIVE_CARD_MIME}")
    content = first.get("content")
    if not isinstance(content, dict) or content.get("type") != "AdaptiveCard":
        return [*problems, 'attachments[0].content.type must be "AdaptiveCard"']
    version = _version(content.get("version"))
    if version is None or version > (1, 5):
        problems.append(f"content.version must be at most 1.5, not {content.get('version')!r}")
    if not isinstance(content.get("body"), list) or not content["body"]:
        problems.append("content.body must list the card's elements")
    return problems


class TeamsRecorder(LoopbackFake):
    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.signature = uuid.uuid4().hex
        self.requests: list[Recorded] = []
        self.cards: list[dict] = []
        self.url = ""
        self._lock = threading.Lock()
        self._http: LoopbackServer | None = None

    @property
    def webhook_url(self) -> str:
        """Shaped like a Workflows trigger URL: a path per flow and the signature in the query."""
        return (f"{self.url}/workflows/3f1c0d2e/triggers/manual/paths/invoke"
                f"?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={self.signature}")

    def wsgi_app(self):
        return self._wsgi

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        response = self._answer(request)
        return response(environ, start_response)

    def _answer(self, request: Request) -> Response:
        body = request.get_data()
        with self._lock:
            self.requests.append(Recorded(request.path, dict(request.args), dict(request.headers), body))
        if request.method != "POST":
            return _error(405, "MethodNotAllowed", "only POST triggers the flow")
        if request.args.get("sig") != self.signature:
            return _error(401, "DirectApiAuthorizationRequired", "the signature of the trigger URL is not valid")
        problems = envelope_problems(body, request.headers.get("Content-Type", ""))
        if problems:
            return _error(400, "InvalidRequestContent", "; ".join(problems))
        with self._lock:
            status = self.statuses.pop(0) if self.statuses else 202
            if 200 <= status < 300:
                self.cards.append(json.loads(body)["attachments"][0]["content"])
        if 200 <= status < 300:
            return Response(status=status)
        return _error(status, "SimulatedFailure", f"the recorder was told to answer {status}")


def _error(status: int, code: str, message: str) -> Response:
    return Response(json.dumps({"error": {"code": code, "message": message}}), status,
                    content_type="application/json")
