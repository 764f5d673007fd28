"""The clock: aware UTC now, business dates in America/Sao_Paulo, freezable."""

from datetime import UTC, date, datetime, timedelta

import pytest

from portal.shared import clock


def test_now_is_aware_utc():
    assert clock.now().tzinfo is UTC


def test_business_date_is_sao_paulo():
    # 01:30 UTC on the 23rd is still 22:30 on the 22nd in São Paulo (UTC-3).
    with clock.frozen(datetime(2026, 11, 23, 1, 30, tzinfo=UTC)):
        assert clock.today() == date(2026, 11, 22)


def test_frozen_and_advance():
    moment = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    with clock.frozen(moment):
        assert clock.now() == moment
        clock.advance(timedelta(hours=2))
        assert clock.now() == moment + timedelta(hours=2)
    assert clock.now() != moment + timedelta(hours=2)


def test_freezing_needs_an_aware_datetime():
    with pytest.raises(ValueError), clock.frozen(datetime(2026, 1, 1)):  # noqa: DTZ001
        pass


def test_advance_needs_a_frozen_clock():
    with pytest.raises(RuntimeError):
        clock.advance(timedelta(seconds=1))
