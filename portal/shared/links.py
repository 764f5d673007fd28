"""Absolute links for e-mails and messages, always on the configured BASE_URL, never on the request's Host."""

from urllib.parse import urlsplit

from flask import current_app


def absolute_url(endpoint: str, **values) -> str:
    """`url_for(endpoint, **values)` as an absolute URL on BASE_URL (its scheme, host and path prefix).

    A request's Host header is the sender's to choose: a link built from it (url_for in external mode) would e-mail a
    live token to whatever host an anonymous visitor names. Works outside a request too (jobs)."""
    base = urlsplit(current_app.config["BASE_URL"])
    adapter = current_app.url_map.bind(
        base.netloc, script_name=base.path.rstrip("/") or "/", url_scheme=base.scheme or "https"
    )
    return adapter.build(endpoint, values, force_external=True)
