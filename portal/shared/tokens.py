"""Signed, expiring tokens for e-mailed links, timed by the clock module."""

from typing import Any

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from portal.shared import clock


class _ClockSigner(TimestampSigner):
    def get_timestamp(self) -> int:
        return int(clock.now().timestamp())


def _serializer(salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt, signer=_ClockSigner)


def dumps(payload: Any, *, salt: str) -> str:
    return _serializer(salt).dumps(payload)


class InvalidToken(Exception):
    def __init__(self, expired: bool) -> None:
        super().__init__("expired" if expired else "invalid")
        self.expired = expired


def loads(token: str, *, salt: str, max_age: int | None) -> Any:
    """The payload, or InvalidToken(expired=…) for a tampered, foreign or expired token."""
    try:
        return _serializer(salt).loads(token, max_age=max_age)
    except SignatureExpired as exc:
        raise InvalidToken(expired=True) from exc
    except BadSignature as exc:
        raise InvalidToken(expired=False) from exc
