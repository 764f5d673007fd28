"""Accounts under real concurrency (committed transactions, a database of its own, one connection per thread):
of 8 requests sending the same TOTP code or the same recovery code at the same moment, exactly one is
accepted; of 8 attempts racing on a limit of 3, exactly 3 pass; on SQLite and on PostgreSQL."""

from datetime import UTC, datetime, timedelta

import pyotp
from sqlalchemy import func, select

from portal.accounts import service, throttle
from portal.accounts.models import RecoveryCode, User
from portal.extensions import db
from portal.shared import clock
from portal.shared.audit import Actor, AuditEvent, AuditTag, verify
from tests import factories
from tests.fakes.concurrency import concurrently

SESSIONS = 8
MOMENT = datetime(2026, 12, 6, 12, 0, 10, tzinfo=UTC)
_STEP = timedelta(seconds=30)


def _enrolled_user(app) -> tuple[int, str, list[str]]:
    """A committed customer user with two-factor on: (id, TOTP secret, recovery codes)."""
    with app.app_context():
        user = factories.MembershipFactory(roles=["adm"]).user
        db.session.commit()
        secret = service.start_totp_enrolment(user)
        codes = service.confirm_totp_enrolment(user, pyotp.TOTP(secret).at(clock.now() - _STEP), actor=_actor(user))
        return user.id, secret, codes


def _actor(user) -> Actor:
    return Actor.for_user(user, ip="203.0.113.9", user_agent="pytest")


def _send_at_once(app, user_id: int, code: str) -> list[bool]:
    def submit(_index):
        with app.app_context():  # its own session, hence its own connection
            user = db.session.get(User, user_id)
            return service.verify_second_factor(user, code, actor=_actor(user))

    results, errors = concurrently(SESSIONS, submit)
    assert not errors, errors
    return results


def test_the_same_totp_code_sent_by_8_sessions_at_once_is_accepted_once(make_app, engine_name):
    app = make_app(engine_name)
    with clock.frozen(MOMENT):
        user_id, secret, _codes = _enrolled_user(app)  # spent the previous step's code
        results = _send_at_once(app, user_id, pyotp.TOTP(secret).at(clock.now()))
    assert sorted(results) == [False] * (SESSIONS - 1) + [True]
    with app.app_context():
        assert db.session.get(User, user_id).totp_last_step == pyotp.TOTP(secret).timecode(MOMENT)
        assert db.session.scalar(select(func.count()).where(AuditEvent.tag == AuditTag.TWO_FACTOR_FAILED)) == 7
        assert verify().ok


def test_the_same_recovery_code_sent_by_8_sessions_at_once_is_accepted_once(make_app, engine_name):
    app = make_app(engine_name)
    with clock.frozen(MOMENT):
        user_id, _secret, codes = _enrolled_user(app)
        results = _send_at_once(app, user_id, codes[0])
    assert sorted(results) == [False] * (SESSIONS - 1) + [True]
    with app.app_context():
        used = db.session.scalar(select(func.count()).where(RecoveryCode.user_id == user_id,
                                                            RecoveryCode.used_at.is_not(None)))
        assert used == 1
        assert db.session.scalar(select(func.count()).where(AuditEvent.tag == AuditTag.RECOVERY_CODE_USED)) == 1
        assert verify().ok


def test_8_attempts_at_once_against_a_limit_of_3_let_exactly_3_through(make_app, engine_name):
    """The shared counter is one atomic upsert: workers racing on it never read the same count."""
    app = make_app(engine_name)

    def attempt(_index):
        with app.app_context():
            try:
                throttle.hit("login", [("account:ana@cliente.example.com", "3 per hour")])
            except throttle.TooManyAttempts:
                return False
            return True

    with clock.frozen(MOMENT):
        results, errors = concurrently(SESSIONS, attempt)
    assert not errors, errors
    assert sorted(results) == [False] * (SESSIONS - 3) + [True] * 3
