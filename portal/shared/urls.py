"""URLs for long lists: `url_pattern` builds a route once and fills in each row's id.

`url_for` matches the endpoint's rule and its converters on every call; a list of 50 rows with three links
each makes 150 such calls per page. The pattern is built by `url_for` itself (so it follows the route, the
blueprint and SCRIPT_NAME), with a marker value for the argument that is then replaced by each row's id.
"""

from collections.abc import Callable

from flask import url_for

_MARKER = 2_147_483_647  # the largest id a route's <int:…> accepts; never in a route's fixed text


def url_pattern(endpoint: str, argument: str, **values: object) -> Callable[[int], str]:
    """A function of an integer id that returns `url_for(endpoint, **{argument: id}, **values)` (the argument
    may be in the path or, for a route without it, in the query string)."""
    head, _marker, tail = url_for(endpoint, **{argument: _MARKER}, **values).rpartition(str(_MARKER))

    def build(value: int) -> str:
        return f"{head}{int(value)}{tail}"

    return build
