"""URLs built once: `url_pattern` builds a route once and fills in each row's id; `fixed_url` keeps the links that
are the same on every request (static files, the navigation's pages).

`url_for` matches the endpoint's rule and its converters on every call; a list of 50 rows with three links
each makes 150 such calls per page, and every page's layout makes a dozen. The pattern is built by `url_for`
itself (so it follows the route, the blueprint and SCRIPT_NAME), with a marker value for the argument that is
then replaced by each row's id.
"""

from collections.abc import Callable
from typing import Any

from flask import request, url_for

_MARKER = 2_147_483_647  # the largest id a route's <int:…> accepts; never in a route's fixed text


def url_pattern(endpoint: str, argument: str, **values: object) -> Callable[[int], str]:
    """A function of an integer id that returns `url_for(endpoint, **{argument: id}, **values)` (the argument
    may be in the path or, for a route without it, in the query string)."""
    head, _marker, tail = url_for(endpoint, **{argument: _MARKER}, **values).rpartition(str(_MARKER))

    def build(value: int) -> str:
        return f"{head}{int(value)}{tail}"

    return build


_FIXED_URLS_KEPT = 512


def fixed_url_builder() -> Callable[..., str]:
    """The templates' `fixed_url(endpoint, **values)`: what `url_for(endpoint, **values)` returns, built by url_for
    the first time and then kept (one builder per application) per script root (SCRIPT_NAME) and values. Only for
    absolute endpoints whose URL depends on nothing else (no blueprint-relative ".name", no `_external`): the
    layout's static files and links, a few dozen at most (the table starts again if ever it grows past that)."""
    built: dict[tuple[Any, ...], str] = {}

    def fixed_url(endpoint: str, **values: Any) -> str:
        key = (endpoint, request.script_root, *values.items())
        found = built.get(key)
        if found is None:
            if len(built) >= _FIXED_URLS_KEPT:
                built.clear()
            found = built[key] = url_for(endpoint, **values)
        return found

    return fixed_url
