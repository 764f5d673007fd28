"""The audit chain's secrets, none of which lives in the database: the HMAC keyring the chain's hashes are made with,
and the Ed25519 key its checkpoints are signed with (README, "Audit chain key and checkpoints").

- Chain keys: `AUDIT_CHAIN_KEY` is the current secret (its id: `AUDIT_CHAIN_KEY_ID`, or the first 8 hex digits of
  the SHA-256 of the secret); `AUDIT_CHAIN_OLD_KEYS` keeps the retired ones for verification, comma-separated,
  each `secret` (id derived the same way) or `id:secret` (an explicit id).
- Signing key: `AUDIT_SIGNING_KEY` is a path to a PEM (PKCS#8) Ed25519 private key, the PEM itself, or the base64 of
  its 32 raw bytes; `AUDIT_SIGNING_OLD_PUBLIC_KEYS` (base64 of raw 32-byte public keys, comma-separated) are still
  trusted for checkpoints signed before the signing key was changed.

Reads a config mapping only (no Flask, no database); parsed keys are cached per setting value.
"""

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


class UnknownKey(LookupError):
    """A chain key id this process has no secret for."""


def key_id_of(secret: str) -> str:
    """A key's default id: the first 8 hex digits of the SHA-256 of the secret (says which, reveals nothing)."""
    return hashlib.sha256(secret.encode()).hexdigest()[:8]


@dataclass(frozen=True)
class Keyring:
    current_id: str
    secrets: tuple[tuple[str, bytes], ...]  # (id, secret), the current one included

    def has(self, key_id: str) -> bool:
        return any(kid == key_id for kid, _ in self.secrets)

    def mac(self, key_id: str, message: bytes) -> str:
        """HMAC-SHA256 of `message` under the key `key_id`, hex."""
        for kid, secret in self.secrets:
            if kid == key_id:
                return hmac.new(secret, message, hashlib.sha256).hexdigest()
        raise UnknownKey(key_id)


@lru_cache(maxsize=16)
def _keyring(current: str, current_id: str, old: str) -> Keyring:
    if not current:
        raise RuntimeError("AUDIT_CHAIN_KEY is not set")
    found: dict[str, bytes] = {}
    for entry in (e.strip() for e in old.split(",")):
        if not entry:
            continue
        kid, sep, secret = entry.partition(":")
        if not sep:
            kid, secret = key_id_of(entry), entry
        found[kid.strip()] = secret.strip().encode()
    current_id = current_id.strip() or key_id_of(current)
    if len(current_id) > 64 or ":" in current_id or "," in current_id:
        raise RuntimeError("AUDIT_CHAIN_KEY_ID: up to 64 characters, without ':' or ','")
    found[current_id] = current.encode()
    return Keyring(current_id, tuple(found.items()))


def keyring(config: Mapping[str, Any]) -> Keyring:
    return _keyring(config.get("AUDIT_CHAIN_KEY") or "", config.get("AUDIT_CHAIN_KEY_ID") or "",
                    config.get("AUDIT_CHAIN_OLD_KEYS") or "")


# ---------------------------------------------------------------- checkpoint signatures (Ed25519)

@lru_cache(maxsize=4)
def _signing_key(setting: str) -> Ed25519PrivateKey:
    setting = setting.strip()
    if not setting:
        raise RuntimeError("AUDIT_SIGNING_KEY is not set")
    if setting.startswith("-----BEGIN"):
        data = setting.encode()
    elif len(setting) < 4096 and Path(setting).is_file():
        data = Path(setting).read_bytes()
    else:
        try:
            raw = base64.b64decode(setting, validate=True)
        except (binascii.Error, ValueError) as error:
            raise RuntimeError("AUDIT_SIGNING_KEY: not a PEM file, a PEM, nor base64") from error
        if len(raw) != 32:
            raise RuntimeError("AUDIT_SIGNING_KEY: base64 of the 32 raw bytes of an Ed25519 private key expected")
        return Ed25519PrivateKey.from_private_bytes(raw)
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise RuntimeError("AUDIT_SIGNING_KEY: the PEM is not an Ed25519 private key")
    return key


def signing_key(config: Mapping[str, Any]) -> Ed25519PrivateKey:
    return _signing_key(config.get("AUDIT_SIGNING_KEY") or "")


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_b64(key: Ed25519PublicKey) -> str:
    return base64.b64encode(raw_public(key)).decode()


def public_key_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def fingerprint(key: Ed25519PublicKey) -> str:
    """SHA-256 of the raw 32-byte public key, hex: what a checkpoint names its signer by."""
    return hashlib.sha256(raw_public(key)).hexdigest()


def trusted_public_keys(config: Mapping[str, Any]) -> dict[str, Ed25519PublicKey]:
    """Fingerprint → public key: the current signing key's and `AUDIT_SIGNING_OLD_PUBLIC_KEYS`."""
    keys = [signing_key(config).public_key()]
    for entry in (e.strip() for e in (config.get("AUDIT_SIGNING_OLD_PUBLIC_KEYS") or "").split(",")):
        if entry:
            keys.append(Ed25519PublicKey.from_public_bytes(base64.b64decode(entry)))
    return {fingerprint(key): key for key in keys}


def canonical_json(value: Any) -> bytes:
    """The bytes a checkpoint's signature covers: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(config: Mapping[str, Any], payload: bytes) -> str:
    return base64.b64encode(signing_key(config).sign(payload)).decode()


def signature_problem(trusted: Mapping[str, Ed25519PublicKey], payload: str, signature: str) -> str | None:
    """Why a checkpoint's signed payload does not hold (None: it is signed by a trusted key and well formed)."""
    try:
        body = json.loads(payload)
        key = trusted.get(body.get("public_key_fingerprint", ""))
        if key is None:
            return "checkpoint signed by an unknown key"
        if body.get("public_key") != public_key_b64(key):
            return "checkpoint names another public key than its fingerprint's"
        key.verify(base64.b64decode(signature, validate=True), payload.encode())
    except InvalidSignature:
        return "checkpoint signature is not valid"
    except (ValueError, TypeError, AttributeError, binascii.Error):
        return "checkpoint is not readable"
    if not isinstance(body.get("sequence"), int) or not isinstance(body.get("head_hash"), str):
        return "checkpoint is not readable"
    return None
