"""Secrets the portal must be able to use again (a webhook endpoint's signing secret) encrypted in the database, with
a key that never lives there: a copy of the database, a backup or a replica does not give them away.

`DATA_ENCRYPTION_KEYS`: Fernet keys (`cryptography`'s AES-128-CBC + HMAC-SHA256 tokens), comma-separated; the first
encrypts, every one decrypts, so a key is rotated by putting the new one first and, once `flask secrets reencrypt` has
run, dropping the old one. Unset: one key derived from SECRET_KEY (HKDF-SHA256), so `make run` needs nothing more; a
production that wants to rotate SECRET_KEY on its own sets DATA_ENCRYPTION_KEYS (README "Production").

`EncryptedText` is the column type: values are written as "fernet:" + token; a value without the prefix is one
written before encryption (read as it is, encrypted when next written).
"""

import base64
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import click
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import Text, column, select, table, update
from sqlalchemy.types import TypeDecorator

from portal.extensions import db

PREFIX = "fernet:"
_DERIVATION_INFO = b"portal data encryption key v1"


class UndecryptableSecret(RuntimeError):
    """A stored secret none of DATA_ENCRYPTION_KEYS opens (a key was dropped too early, or the value was changed)."""


def derived_key(secret_key: str) -> bytes:
    """The Fernet key derived from SECRET_KEY when DATA_ENCRYPTION_KEYS is not set."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_DERIVATION_INFO).derive(secret_key.encode())
    return base64.urlsafe_b64encode(raw)


@lru_cache(maxsize=8)
def _cipher(keys: str, secret_key: str) -> MultiFernet:
    listed = [key.strip() for key in keys.split(",") if key.strip()]
    try:
        fernets = [Fernet(key) for key in listed] or [Fernet(derived_key(secret_key))]
    except ValueError as error:
        raise RuntimeError("DATA_ENCRYPTION_KEYS: each key is 32 url-safe base64-encoded bytes "
                           "(cryptography.fernet.Fernet.generate_key())") from error
    return MultiFernet(fernets)


def cipher(config: Mapping[str, Any]) -> MultiFernet:
    return _cipher(config.get("DATA_ENCRYPTION_KEYS") or "", config.get("SECRET_KEY") or "")


def encrypt(value: str, config: Mapping[str, Any]) -> str:
    return PREFIX + cipher(config).encrypt(value.encode()).decode("ascii")


def decrypt(stored: str, config: Mapping[str, Any]) -> str:
    if not stored.startswith(PREFIX):
        return stored  # written before encryption
    try:
        return cipher(config).decrypt(stored.removeprefix(PREFIX).encode("ascii")).decode()
    except InvalidToken:
        raise UndecryptableSecret("a stored secret is not readable with DATA_ENCRYPTION_KEYS") from None


# Every column kept with EncryptedText, for `reencrypt`: (table, primary key, column).
ENCRYPTED_COLUMNS = (("webhook_endpoints", "id", "secret"),)


def reencrypt(connection, config: Mapping[str, Any]) -> int:
    """Every value of ENCRYPTED_COLUMNS written again with the current (first) key: a value written before
    encryption is encrypted, one under an older key re-encrypted. Idempotent; returns how many values it wrote.
    Read and written as plain text (`table`/`column` without the decorating type), on `connection`."""
    written = 0
    for table_name, key_name, column_name in ENCRYPTED_COLUMNS:
        kept = table(table_name, column(key_name), column(column_name, Text))
        key, value = kept.c[key_name], kept.c[column_name]
        for row_id, stored in connection.execute(select(key, value).where(value.is_not(None))).all():
            if not stored.startswith(PREFIX):
                fresh = encrypt(stored, config)
            else:
                try:
                    fresh = PREFIX + cipher(config).rotate(stored.removeprefix(PREFIX).encode("ascii")).decode("ascii")
                except InvalidToken:
                    raise UndecryptableSecret(f"{table_name}.{column_name} of {key_name} {row_id}: not readable with "
                                              "DATA_ENCRYPTION_KEYS") from None
            connection.execute(update(kept).where(key == row_id).values({column_name: fresh}))
            written += 1
    return written


class EncryptedText(TypeDecorator):
    """A text column kept encrypted with the app's DATA_ENCRYPTION_KEYS (read and written inside an app context)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect):
        if value is None:
            return None
        return encrypt(value, current_app.config)

    def process_result_value(self, value: str | None, dialect):
        if value is None:
            return None
        return decrypt(value, current_app.config)


secrets_group = AppGroup("secrets", help="Secrets kept encrypted in the database (webhook signing secrets).")


@secrets_group.command("reencrypt", help="Write every encrypted secret again with the first of DATA_ENCRYPTION_KEYS "
                                         "(after adding a new key first; then the old one can be dropped).")
def reencrypt_command() -> None:
    written = reencrypt(db.session.connection(), current_app.config)
    db.session.commit()
    click.echo(f"re-encrypted {written} secrets with the current key")
