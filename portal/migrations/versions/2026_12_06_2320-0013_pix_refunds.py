"""pix: payment reversals (the devoluções the PSP reports)

Issue 15 point 6: payment_reversals holds each part of a payment given back (a Pix devolução DEVOLVIDO), once per
(source, external_id) — the devolução's rtrId —; what an invoice counts as paid is its payments minus these.

Revision ID: 0013_pix_refunds
Revises: 0012_reconciliation
Created: 2026-12-06 23:20:00
"""

import sqlalchemy as sa
from alembic import op

import portal.shared.dbtypes

revision = '0013_pix_refunds'
down_revision = '0012_reconciliation'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('payment_reversals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('payment_id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('amount_cents', sa.Integer(), nullable=False),
    sa.Column('reversed_on', sa.Date(), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('external_id', sa.String(length=120), nullable=False),
    sa.Column('reason', sa.String(length=300), nullable=False),
    sa.Column('created_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount_cents > 0', name=op.f('ck_payment_reversals_amount_positive')),
    sa.ForeignKeyConstraint(['payment_id'], ['payments.id'], name=op.f('fk_payment_reversals_payment_id_payments')),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], name=op.f('fk_payment_reversals_invoice_id_invoices')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_reversals')),
    sa.UniqueConstraint('source', 'external_id', name='uq_payment_reversals_source_external')
    )
    with op.batch_alter_table('payment_reversals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payment_reversals_payment_id'), ['payment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_payment_reversals_invoice_id'), ['invoice_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('payment_reversals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payment_reversals_invoice_id'))
        batch_op.drop_index(batch_op.f('ix_payment_reversals_payment_id'))
    op.drop_table('payment_reversals')
