"""What the HTTP adapters share (standard library `urllib.request`, no client library)."""

import urllib.request


class NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is answered as it is (an HTTPError with the 3xx status): urllib would otherwise resend the
    Authorization header to wherever it points, and turn a POST into a GET."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def opener_without_redirects() -> urllib.request.OpenerDirector:
    """An opener whose answers to a redirect are HTTPErrors carrying the 3xx status."""
    return urllib.request.build_opener(NoRedirects)
