"""reconciliation: billing exceptions are resolved with a note and may name the payment they are about

Issue 15 point 9: finance resolves each exception with a note (who and when were already columns); an
under- or over-payment exception points at its payment.

Revision ID: 0012_reconciliation
Revises: 0011_dunning_schedule
Created: 2026-12-06 23:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0012_reconciliation'
down_revision = '0011_dunning_schedule'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('billing_exceptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('resolution_note', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('payment_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_billing_exceptions_payment_id_payments'), 'payments',
                                    ['payment_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('billing_exceptions', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_billing_exceptions_payment_id_payments'), type_='foreignkey')
        batch_op.drop_column('payment_id')
        batch_op.drop_column('resolution_note')
