"""localstripe, a fake Stripe API server, for the payment tests: on 127.0.0.1 only, its state in memory.

The stock `localstripe` command binds every interface and pickles its store to a fixed file in the system
temp dir (shared between runs); this module is the launcher that does neither:

    .venv/bin/python tests/fakes/localstripe.py PORT

`.ci/run` starts it that way and exports STRIPE_TEST_API_BASE; the `localstripe` fixture uses that server
when the variable is set, else starts its own on a free port (skipped when localstripe is not installed,
a failure under CI=true).
"""

import hashlib
import hmac
import importlib.util
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest

API_KEY = "sk_test_portal_tests"  # localstripe accepts any key starting with sk_ and longer than 5 characters


def serve(port: int) -> None:
    """Run localstripe in this process until killed (the launcher)."""
    from aiohttp import web
    from localstripe import resources, server

    resources.Store.dump_to_disk = lambda self: None
    resources.Store.try_load_from_disk = lambda self: None
    web.run_app(server.app, host="127.0.0.1", port=port, access_log=None, print=None)


class LocalStripe:
    """A localstripe server: the one CI started (STRIPE_TEST_API_BASE), or one started here."""

    def __init__(self) -> None:
        self.url: str | None = os.environ.get("STRIPE_TEST_API_BASE") or None
        self.process: subprocess.Popen | None = None

    def ensure(self) -> str:
        from tests.fakes.externals import free_port, missing

        if self.url:
            return self.url
        if importlib.util.find_spec("localstripe") is None:
            missing("localstripe not installed: install the test extra (requirements.lock)")
        port = free_port()
        self.process = subprocess.Popen([sys.executable, __file__, str(port)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                error = self.process.stderr.read().decode(errors="replace")[-500:]
                missing(f"localstripe did not start: {error}")
            try:
                self.request("GET", "/v1/customers", base=url)
            except OSError:
                time.sleep(0.05)
                continue
            self.url = url
            return url
        self.stop()
        missing("localstripe did not answer within 15 s")
        raise AssertionError("unreachable")

    def request(self, method: str, path: str, data: dict | None = None, base: str | None = None) -> dict:
        body = urllib.parse.urlencode(data or {}, doseq=True).encode() if data is not None else None
        request = urllib.request.Request(f"{base or self.url}{path}", data=body, method=method,  # noqa: S310
                                         headers={"Authorization": f"Bearer {API_KEY}"})
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - a loopback test server
            payload = response.read()
        return json.loads(payload) if payload.strip() else {}

    def reset(self) -> None:
        """Forget every object (webhook registrations stay: re-register them)."""
        self.request("DELETE", "/_config/data")

    def webhook(self, name: str, url: str, secret: str) -> None:
        """localstripe POSTs every event to `url`, signed with `secret` (as Stripe does), about 1 s later."""
        self.request("POST", f"/_config/webhooks/{name}", {"url": url, "secret": secret})

    def stop(self) -> None:
        from tests.fakes.externals import stop_process  # (here: this file also runs alone, as the server's script)

        stop_process(self.process)
        self.process = None


def signature_header(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """A `Stripe-Signature` header as Stripe (and localstripe) make it: t=<ts>,v1=HMAC-SHA256(secret, "t.body")."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def event_payload(event_type: str, data_object: dict, event_id: str | None = None,
                  created: int | None = None) -> bytes:
    """A Stripe event as JSON bytes (the shape localstripe sends)."""
    return json.dumps({
        "id": event_id or f"evt_{uuid.uuid4().hex[:24]}", "object": "event", "type": event_type,
        "api_version": "2017-08-15", "created": int(time.time()) if created is None else created,
        "livemode": False, "pending_webhooks": 1, "data": {"object": data_object},
    }, sort_keys=True).encode()


@pytest.fixture(scope="session")
def localstripe():
    """The running localstripe (`.url`, `.reset()`, `.webhook(...)`); import it into a test module to use it."""
    server = LocalStripe()
    try:
        server.ensure()
        yield server
    finally:
        server.stop()


if __name__ == "__main__":
    # Run as a script, this file's folder comes first on sys.path, and this file would shadow the package.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry or ".") != here]
    serve(int(sys.argv[1]))
