"""Lists shown a page at a time.

From the database, with statements built once: `paged(statement)` adds the parameters `limit` and `offset`, and
`page_window(page, per_page)` gives their values — one row more than the page, which tells whether a next page
exists. From a list already read whole (its totals need every row, e.g. "Licenças"): `page_of(items, page,
per_page)`. Either way the page comes from `?pagina=` through `requested_page`."""

from collections.abc import Sequence
from typing import Generic, NamedTuple, TypeVar

from flask import request
from sqlalchemy import Integer, Select, bindparam

T = TypeVar("T")

MAX_PAGE = 10_000  # a huge ?pagina= would overflow the database's OFFSET


def requested_page(max_page: int = MAX_PAGE) -> int:
    """`?pagina=` as a page number from 1 to `max_page`: 1 when it is missing or not a number."""
    return min(max(request.args.get("pagina", 1, type=int) or 1, 1), max_page)


def paged(statement: Select) -> Select:
    return statement.limit(bindparam("limit", type_=Integer)).offset(bindparam("offset", type_=Integer))


def page_window(page: int, per_page: int) -> dict[str, int]:
    return {"limit": per_page + 1, "offset": (page - 1) * per_page}


class Page(NamedTuple, Generic[T]):
    """One page of a list read whole: its items, which page it is, and where it sits in the list."""

    items: tuple[T, ...]
    page: int
    has_next: bool
    first: int  # the position (from 1) of the page's first item; 0 when the list is empty
    last: int  # the position of its last item
    total: int  # items in the whole list

    @property
    def paged(self) -> bool:
        """More than one page: the page says which items it shows and offers the others."""
        return self.page > 1 or self.has_next


def page_of(items: Sequence[T], page: int, per_page: int) -> Page[T]:
    """Page `page` of `items`, `per_page` at a time; a page past the end shows the last one (the list got shorter
    since the link was made)."""
    total = len(items)
    page = max(1, min(page, -(-total // per_page)))  # ceil(total / per_page), at least 1
    start = (page - 1) * per_page
    chosen = tuple(items[start:start + per_page])
    return Page(chosen, page, start + per_page < total, start + 1 if chosen else 0, start + len(chosen), total)
