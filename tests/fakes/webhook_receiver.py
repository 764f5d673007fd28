"""A customer's webhook receiver on 127.0.0.1: it checks each request's signature with the `standardwebhooks` library
(`Webhook(secret).verify`), keeps what it got, and answers with the status the test chose."""

import json
import threading
from dataclasses import dataclass, field

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from tests.fakes.externals import LoopbackFake


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    verified: bool  # the signature checked out with the receiver's secret at the time
    payload: dict | None = None  # what verify() returned
    error: str = ""


@dataclass
class WebhookReceiver(LoopbackFake):
    secret: str | None = None  # set once the portal showed it; None verifies nothing
    status: int = 200  # what every request is answered with
    answer: bytes = b'{"recebido": true}'
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def wsgi_app(self):
        def app(environ, start_response):
            size = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(size) if size else b""
            headers = {key[5:].replace("_", "-").lower(): value for key, value in environ.items()
                       if key.startswith("HTTP_")}
            headers["content-type"] = environ.get("CONTENT_TYPE", "")
            entry = Received(headers=headers, body=body, verified=False)
            if self.secret:
                try:
                    entry.payload = Webhook(self.secret).verify(body, headers)
                    entry.verified = True
                except WebhookVerificationError as exc:
                    entry.error = str(exc)
            with self._lock:
                self.received.append(entry)
            start_response(f"{self.status} Answer", [("Content-Type", "application/json")])
            return [self.answer]

        return app

    def verified(self) -> list[dict]:
        return [entry.payload for entry in self.received if entry.verified]

    def payloads(self) -> list[dict]:
        return [json.loads(entry.body) for entry in self.received]
