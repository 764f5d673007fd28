"""Lists shown a page at a time, with statements built once: `paged(statement)` adds the parameters `limit` and
`offset`, and `page_window(page, per_page)` gives their values — one row more than the page, which tells whether a
next page exists."""

from sqlalchemy import Integer, Select, bindparam


def paged(statement: Select) -> Select:
    return statement.limit(bindparam("limit", type_=Integer)).offset(bindparam("offset", type_=Integer))


def page_window(page: int, per_page: int) -> dict[str, int]:
    return {"limit": per_page + 1, "offset": (page - 1) * per_page}
