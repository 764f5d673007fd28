"""two-factor replay guard: last accepted TOTP step

A TOTP code is accepted once: users.totp_last_step keeps the 30-second step of the last one.

Revision ID: 0002_totp_replay
Revises: 0001_foundation
Created: 2026-11-23 15:56:06.886094
"""

import sqlalchemy as sa
from alembic import op

revision = '0002_totp_replay'
down_revision = '0001_foundation'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('totp_last_step', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('totp_last_step')
