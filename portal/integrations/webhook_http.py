"""Posting one signed webhook to a customer's endpoint, with `requests`: a timeout, no redirect followed (a 3xx is
an answer like any other non-2xx), no proxy from the environment, and the address actually connected to checked
by `peer_allowed` before a byte is sent — a host name that resolved to a public address when it was checked and
to a private one when connecting (DNS rebinding) is refused there.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

EXCERPT_BYTES = 2048  # of the answer's body, read and kept; the rest is never read


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes  # at most EXCERPT_BYTES
    elapsed_ms: int


class SendError(Exception):
    """No HTTP answer. `kind`: address (the connected peer is not allowed), timeout, tls, dns or connection."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail[:300]


class _PeerRefused(Exception):
    def __init__(self, address: str) -> None:
        super().__init__(address)
        self.address = address


def _checked(base: type, peer_allowed: Callable[[str], bool]) -> type:
    class Checked(base):
        def _new_conn(self):
            sock = super()._new_conn()
            address = sock.getpeername()[0]
            if not peer_allowed(address):
                sock.close()
                raise _PeerRefused(address)
            return sock

    return Checked


def _adapter(peer_allowed: Callable[[str], bool]) -> HTTPAdapter:
    class Plain(HTTPConnectionPool):
        ConnectionCls = _checked(HTTPConnection, peer_allowed)

    class Secure(HTTPSConnectionPool):
        ConnectionCls = _checked(HTTPSConnection, peer_allowed)

    class Adapter(HTTPAdapter):
        def init_poolmanager(self, *args, **kwargs):
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {"http": Plain, "https": Secure}

    return Adapter(max_retries=0)


def post(url: str, body: bytes, headers: Mapping[str, str], *, timeout: float,
         peer_allowed: Callable[[str], bool], verify: bool | str = True) -> Answer:
    """POST `body` to `url`; the status and the first bytes of any HTTP answer, or SendError."""
    with requests.Session() as session:
        session.trust_env = False  # no proxy, netrc or CA bundle from the environment: the peer is the endpoint
        adapter = _adapter(peer_allowed)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        try:
            with session.post(url, data=body, headers=dict(headers), timeout=(timeout, timeout),
                              allow_redirects=False, stream=True, verify=verify) as response:
                excerpt = response.raw.read(EXCERPT_BYTES, decode_content=True) or b""
                return Answer(status=response.status_code, body=excerpt,
                              elapsed_ms=int(response.elapsed.total_seconds() * 1000))
        except _PeerRefused as exc:
            raise SendError("address", exc.address) from None
        except requests.exceptions.SSLError as exc:
            raise SendError("tls", str(exc)) from None
        except requests.exceptions.Timeout as exc:
            raise SendError("timeout", str(exc)) from None
        except requests.exceptions.ConnectionError as exc:
            kind = "dns" if "NameResolution" in repr(exc) or "getaddrinfo" in str(exc) else "connection"
            raise SendError(kind, str(exc)) from None
        except (requests.exceptions.RequestException, OSError) as exc:
            raise SendError("connection", str(exc)) from None
