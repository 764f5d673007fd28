"""The only way the portal reads the time, so tests can freeze it.

`now()` is an aware UTC datetime; `today()` is the business date in America/Sao_Paulo.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

BUSINESS_TZ = ZoneInfo("America/Sao_Paulo")

_frozen: datetime | None = None


def now() -> datetime:
    if _frozen is not None:
        return _frozen
    return datetime.now(UTC)


def today() -> date:
    """The business date (billing periods, due dates) in America/Sao_Paulo."""
    return now().astimezone(BUSINESS_TZ).date()


def to_business(moment: datetime) -> datetime:
    """`moment` as wall-clock time in America/Sao_Paulo (naive values are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(BUSINESS_TZ)


@contextmanager
def frozen(moment: datetime) -> Iterator[None]:
    """Freeze `now()` at `moment` (aware) for the duration of the block."""
    global _frozen
    if moment.tzinfo is None:
        raise ValueError("freeze the clock with an aware datetime")
    previous, _frozen = _frozen, moment.astimezone(UTC)
    try:
        yield
    finally:
        _frozen = previous


def advance(delta: timedelta) -> None:
    """Move a frozen clock forward (tests of expiry)."""
    global _frozen
    if _frozen is None:
        raise RuntimeError("the clock is not frozen")
    _frozen = _frozen + delta
