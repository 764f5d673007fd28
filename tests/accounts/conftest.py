"""Fixtures of the accounts tests: a frozen clock, who acts, and users enrolled in two-factor sign-in."""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pyotp
import pytest

from portal.extensions import db
from portal.shared import clock
from portal.shared.audit import Actor


@pytest.fixture
def frozen():
    """The clock stopped at the current second; `clock.advance(timedelta(...))` moves it."""
    with clock.frozen(datetime.now(UTC).replace(microsecond=0)):
        yield clock


@pytest.fixture
def visitor():
    """An anonymous actor (sign-in, password reset), as a view builds it from the request."""
    return Actor.anonymous(ip="203.0.113.7", user_agent="pytest")


@pytest.fixture
def enrol(app_ctx):
    """`enrol(user)` turns two-factor on for `user` and returns its TOTP secret."""

    def enrol_user(user) -> str:
        user.totp_secret = pyotp.random_base32()
        user.totp_enabled_at = clock.now()
        db.session.commit()
        return user.totp_secret

    return enrol_user


@pytest.fixture
def authenticator():
    """The user's phone: `authenticator.code(secret)` is the current code, `.wrong_code(secret)` one that is not."""

    def code(secret: str) -> str:
        return pyotp.TOTP(secret).at(clock.now())

    def wrong_code(secret: str) -> str:
        # Not the code of this 30-second step nor of either neighbour (the window the portal accepts).
        accepted = {pyotp.TOTP(secret).at(clock.now() + timedelta(seconds=s)) for s in (-30, 0, 30)}
        return next(c for c in ("000000", "111111", "222222", "333333") if c not in accepted)

    return SimpleNamespace(code=code, wrong_code=wrong_code)
