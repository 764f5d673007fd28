"""The audit keys' settings (config.py): required in production, made once in instance/ for development."""

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from portal import config
from portal.shared.audit_keys import _signing_key, key_id_of, keyring


@pytest.fixture
def production_env(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "a-production-secret-for-the-test")
    monkeypatch.setenv("BASE_URL", "https://clientes.example.com.br")
    for name in ("AUDIT_CHAIN_KEY", "AUDIT_SIGNING_KEY"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_production_refuses_to_start_without_the_audit_keys(production_env):
    with pytest.raises(RuntimeError, match="AUDIT_CHAIN_KEY must be set"):
        config.load("production")
    production_env.setenv("AUDIT_CHAIN_KEY", "uma-chave-de-producao")
    with pytest.raises(RuntimeError, match="AUDIT_SIGNING_KEY must be set"):
        config.load("production")
    production_env.setenv("AUDIT_SIGNING_KEY", base64.b64encode(b"\x01" * 32).decode())
    settings = config.load("production")
    assert keyring(settings).current_id == key_id_of("uma-chave-de-producao")


def test_development_keeps_its_keys_in_the_instance_folder(monkeypatch, tmp_path):
    monkeypatch.setattr(config, "INSTANCE_DIR", tmp_path)
    for name in ("AUDIT_CHAIN_KEY", "AUDIT_SIGNING_KEY"):
        monkeypatch.delenv(name, raising=False)
    first, again = config.load("development"), config.load("development")
    assert first["AUDIT_CHAIN_KEY"] == again["AUDIT_CHAIN_KEY"] == (tmp_path / "audit_chain_key").read_text()
    assert first["AUDIT_SIGNING_KEY"] == (tmp_path / "audit_signing_key").read_text()
    assert (tmp_path / "audit_chain_key").stat().st_mode & 0o777 == 0o600
    assert len(base64.b64decode(first["AUDIT_SIGNING_KEY"])) == 32


def test_old_keys_and_the_signing_key_forms(tmp_path):
    ring = keyring({"AUDIT_CHAIN_KEY": "nova", "AUDIT_CHAIN_OLD_KEYS": "antiga, 2025:mais-antiga"})
    assert ring.current_id == key_id_of("nova")
    assert [kid for kid, _ in ring.secrets] == [key_id_of("antiga"), "2025", key_id_of("nova")]
    with pytest.raises(RuntimeError, match="AUDIT_CHAIN_KEY is not set"):
        keyring({})
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    (tmp_path / "signing.pem").write_text(pem)
    raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    for setting in (str(tmp_path / "signing.pem"), pem, base64.b64encode(raw).decode()):
        assert _signing_key(setting).public_key().public_bytes_raw() == key.public_key().public_bytes_raw()
    with pytest.raises(RuntimeError, match="AUDIT_SIGNING_KEY"):
        _signing_key("não é uma chave")
