"""Secrets kept encrypted in the database (portal/shared/encryption.py): webhook signing secrets never stored in
clear, readable after a key rotation, re-encrypted by `flask secrets reencrypt`, and migrated from the clear text."""

import pytest
from alembic import command
from cryptography.fernet import Fernet
from sqlalchemy import text

from portal.extensions import db
from portal.migrate import alembic_config, upgrade
from portal.shared import encryption
from portal.shared.audit import Actor
from portal.webhooks import addresses, service
from portal.webhooks.models import WebhookEndpoint
from tests import factories

KEY_A, KEY_B = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def _stored(endpoint_id: int) -> str:
    """The column as the database holds it."""
    return db.session.execute(text("SELECT secret FROM webhook_endpoints WHERE id = :id"), {"id": endpoint_id}).scalar()


@pytest.fixture(autouse=True)
def _public_address(monkeypatch):
    """erp.example.com resolves to a public address (no DNS in tests)."""
    monkeypatch.setattr(addresses, "resolve", lambda host, port: ["93.184.216.34"])


def _endpoint(world) -> tuple[WebhookEndpoint, str]:
    return service.create_endpoint(world.demo, url="https://erp.example.com/webhooks", description="ERP",
                                   events=["invoice.issued"], actor=Actor.for_user(world.master))


def test_a_webhook_secret_is_stored_encrypted_and_read_back(app_ctx, world):
    endpoint, secret = _endpoint(world)
    stored = _stored(endpoint.id)
    assert stored.startswith("fernet:") and secret not in stored and secret.removeprefix("whsec_") not in stored
    db.session.expire_all()
    assert db.session.get(WebhookEndpoint, endpoint.id).secret == secret
    rotated = service.rotate_secret(endpoint, actor=Actor.for_user(world.master))
    assert rotated != secret and rotated not in _stored(endpoint.id)


def test_a_new_key_first_still_reads_the_old_ones_and_reencrypt_moves_them(app_ctx, world, monkeypatch):
    monkeypatch.setitem(app_ctx.config, "DATA_ENCRYPTION_KEYS", KEY_A)
    endpoint, secret = _endpoint(world)
    monkeypatch.setitem(app_ctx.config, "DATA_ENCRYPTION_KEYS", f"{KEY_B},{KEY_A}")  # B now encrypts, A still reads
    db.session.expire_all()
    assert db.session.get(WebhookEndpoint, endpoint.id).secret == secret
    assert encryption.reencrypt(db.session.connection(), app_ctx.config) >= 1
    monkeypatch.setitem(app_ctx.config, "DATA_ENCRYPTION_KEYS", KEY_B)  # A dropped
    db.session.expire_all()
    assert db.session.get(WebhookEndpoint, endpoint.id).secret == secret
    monkeypatch.setitem(app_ctx.config, "DATA_ENCRYPTION_KEYS", Fernet.generate_key().decode())  # a wrong key
    db.session.expire_all()
    with pytest.raises(encryption.UndecryptableSecret):
        db.session.get(WebhookEndpoint, endpoint.id).secret  # noqa: B018 - reading it is the test


def test_a_secret_written_before_encryption_is_read_and_then_encrypted(app_ctx, world):
    endpoint, _secret = _endpoint(world)
    legacy = "whsec_" + "A" * 44
    db.session.execute(text("UPDATE webhook_endpoints SET secret = :s WHERE id = :id"),
                       {"s": legacy, "id": endpoint.id})
    db.session.expire_all()
    assert db.session.get(WebhookEndpoint, endpoint.id).secret == legacy
    encryption.reencrypt(db.session.connection(), app_ctx.config)
    assert _stored(endpoint.id).startswith("fernet:")
    db.session.expire_all()
    assert db.session.get(WebhookEndpoint, endpoint.id).secret == legacy


def test_the_migration_encrypts_the_secrets_already_there(make_app, engine_name):
    app = make_app(engine_name)
    legacy = "whsec_" + "B" * 44
    with app.app_context():
        command.downgrade(alembic_config(app), "0030_fiscal_pdf_attempts")  # the step under test runs again
        organization = factories.OrganizationFactory()
        db.session.commit()
        db.session.execute(text(
            "INSERT INTO webhook_endpoints (organization_id, url, description, events, secret, enabled, created_at) "
            "VALUES (:o, 'https://erp.example.com/w', '', '[\"invoice.issued\"]', :s, :e, CURRENT_TIMESTAMP)"),
            {"o": organization.id, "s": legacy, "e": True})
        db.session.commit()
        db.session.remove()
    with app.app_context():
        upgrade(app)
        [(endpoint_id, stored)] = db.session.execute(text("SELECT id, secret FROM webhook_endpoints")).all()
        assert stored.startswith("fernet:") and legacy not in stored
        assert db.session.get(WebhookEndpoint, endpoint_id).secret == legacy
        db.session.remove()


def test_the_reencrypt_command_writes_every_secret_with_the_current_key(app_ctx, world, monkeypatch):
    monkeypatch.setitem(app_ctx.config, "DATA_ENCRYPTION_KEYS", KEY_A)
    endpoint, secret = _endpoint(world)
    monkeypatch.setitem(app_ctx.config, "DATA_ENCRYPTION_KEYS", f"{KEY_B},{KEY_A}")
    db.session.commit()
    result = app_ctx.test_cli_runner().invoke(args=["secrets", "reencrypt"])
    assert result.exit_code == 0 and "re-encrypted" in result.output
    monkeypatch.setitem(app_ctx.config, "DATA_ENCRYPTION_KEYS", KEY_B)
    db.session.expire_all()
    assert db.session.get(WebhookEndpoint, endpoint.id).secret == secret
