"""Invoice numbers: one gapless counter per series and year, taken under the series' row lock in the issuing
transaction (so a rolled-back transaction gives its numbers back)."""

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from portal.billing.models import InvoiceSeries
from portal.extensions import db

INVOICE_SERIES = "F"
CREDIT_NOTE_SERIES = "NC"


def _ensure_series(series: str, year: int) -> None:
    """Create the (series, year) counter if missing, without failing when another transaction just did."""
    dialect = db.session.get_bind().dialect.name
    insert = (postgresql if dialect == "postgresql" else sqlite).insert
    db.session.execute(insert(InvoiceSeries).values(series=series, year=year, last_number=0)
                       .on_conflict_do_nothing(index_elements=["series", "year"]))


def take_number(series: str, year: int) -> int:
    """The next number of the series, under a row lock held until the transaction ends (gapless)."""
    _ensure_series(series, year)
    counter = db.session.scalar(
        select(InvoiceSeries).where(InvoiceSeries.series == series, InvoiceSeries.year == year).with_for_update()
    )
    counter.last_number += 1
    db.session.flush()
    return counter.last_number


def take_numbers(series: str, year: int, count: int) -> range:
    """The next `count` numbers of the series, in one UPDATE that takes the same row lock as `take_number`
    (held until the transaction ends, so the numbers stay gapless and in the caller's order)."""
    _ensure_series(series, year)
    table = InvoiceSeries.__table__
    last = db.session.execute(
        update(table).where(table.c.series == series, table.c.year == year)
        .values(last_number=table.c.last_number + count).returning(table.c.last_number)
    ).scalar_one()
    return range(last - count + 1, last + 1)

