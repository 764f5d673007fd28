"""webhook_endpoints.secret kept encrypted (DATA_ENCRYPTION_KEYS; portal/shared/encryption.py)

The column becomes text (a Fernet token is longer than the secret) and the secrets already there are encrypted when
the migration runs inside the app (`flask db upgrade`, `make run`, the tests); run outside it, they stay readable as
they are and `flask secrets reencrypt` encrypts them.

Revision ID: 0031_webhook_secrets_encrypted
Revises: 0030_fiscal_pdf_attempts
Created: 2026-12-07 15:10:00
"""

import sqlalchemy as sa
from alembic import op
from flask import current_app, has_app_context

from portal.shared import encryption

revision = "0031_webhook_secrets_encrypted"
down_revision = "0030_fiscal_pdf_attempts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.alter_column("secret", existing_type=sa.String(length=100), type_=sa.Text(), existing_nullable=False)
    if has_app_context():
        encryption.reencrypt(op.get_bind(), current_app.config)


def downgrade() -> None:
    if has_app_context():  # the secrets in clear again (outside the app there is no key to read them with)
        bind = op.get_bind()
        endpoints = sa.table("webhook_endpoints", sa.column("id"), sa.column("secret", sa.Text))
        for row_id, stored in bind.execute(sa.select(endpoints.c.id, endpoints.c.secret)).all():
            bind.execute(sa.update(endpoints).where(endpoints.c.id == row_id)
                         .values(secret=encryption.decrypt(stored, current_app.config)))
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.alter_column("secret", existing_type=sa.Text(), type_=sa.String(length=100), existing_nullable=False)
