"""What the HTTP adapters share (standard library `urllib.request`, no client library)."""

import http.client
import urllib.error
import urllib.request
from collections.abc import Callable


class NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is answered as it is (an HTTPError with the 3xx status): urllib would otherwise resend the
    Authorization header to wherever it points, and turn a POST into a GET."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def opener_without_redirects() -> urllib.request.OpenerDirector:
    """An opener whose answers to a redirect are HTTPErrors carrying the 3xx status."""
    return urllib.request.build_opener(NoRedirects)


def send(opener: urllib.request.OpenerDirector, request: urllib.request.Request, timeout: float,
         network_error: Callable[[object], Exception]) -> tuple[int, bytes]:
    """(status, body) of any HTTP answer, errors included; `network_error(reason)` is raised when no answer came
    back (refused, unreachable, a timeout while connecting or reading, a dropped connection)."""
    try:
        with opener.open(request, timeout=timeout) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        try:
            raw = exc.read()
        except (OSError, http.client.HTTPException):
            raw = b""
        return exc.code, raw
    except urllib.error.URLError as exc:
        raise network_error(exc.reason) from None
    except (OSError, http.client.HTTPException) as exc:  # timeouts while reading, dropped connections
        raise network_error(exc) from None
