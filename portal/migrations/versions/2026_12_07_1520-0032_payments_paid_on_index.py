"""index on payments.paid_on: the reconciliation page and its CSV filter a period of payment dates

Revision ID: 0032_payments_paid_on_index
Revises: 0031_webhook_secrets_encrypted
Created: 2026-12-07 15:20:00
"""

from alembic import op

revision = "0032_payments_paid_on_index"
down_revision = "0031_webhook_secrets_encrypted"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payments_paid_on"), ["paid_on"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payments_paid_on"))
