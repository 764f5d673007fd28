"""pix: dynamic Pix charges (cobv) per boleto and the Pix the PSP reported

Issue 15 points 5–6: pix_charges holds each invoice's cobv at the PSP (txid deterministic per invoice and boleto
sequence, its revision, status, location and copia-e-cola, the last error while it waits for a retry);
pix_receipts holds every Pix the PSP reported by webhook or polling, once per endToEndId, with the payment it
became (none when its txid matched no charge).

Revision ID: 0010_pix_charges
Revises: 0009_bank_files
Created: 2026-12-06 21:10:00
"""

import sqlalchemy as sa
from alembic import op

import portal.shared.dbtypes

revision = '0010_pix_charges'
down_revision = '0009_bank_files'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('pix_charges',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('boleto_id', sa.Integer(), nullable=True),
    sa.Column('txid', sa.String(length=35), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('location', sa.String(length=77), nullable=True),
    sa.Column('pix_copia_e_cola', sa.String(length=512), nullable=True),
    sa.Column('created_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'active', 'paid', 'removed')",
                       name=op.f('ck_pix_charges_status_known')),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], name=op.f('fk_pix_charges_invoice_id_invoices')),
    sa.ForeignKeyConstraint(['boleto_id'], ['boletos.id'], name=op.f('fk_pix_charges_boleto_id_boletos')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pix_charges')),
    sa.UniqueConstraint('txid', name='uq_pix_charges_txid')
    )
    with op.batch_alter_table('pix_charges', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pix_charges_invoice_id'), ['invoice_id'], unique=False)

    op.create_table('pix_receipts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('end_to_end_id', sa.String(length=40), nullable=False),
    sa.Column('txid', sa.String(length=35), nullable=True),
    sa.Column('amount_cents', sa.Integer(), nullable=False),
    sa.Column('paid_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('payment_id', sa.Integer(), nullable=True),
    sa.Column('raw', sa.JSON(), nullable=False),
    sa.Column('received_via', sa.String(length=10), nullable=False),
    sa.Column('created_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("received_via IN ('webhook', 'polling')", name=op.f('ck_pix_receipts_received_via_known')),
    sa.ForeignKeyConstraint(['payment_id'], ['payments.id'], name=op.f('fk_pix_receipts_payment_id_payments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pix_receipts')),
    sa.UniqueConstraint('end_to_end_id', name='uq_pix_receipts_end_to_end_id')
    )
    with op.batch_alter_table('pix_receipts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pix_receipts_txid'), ['txid'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('pix_receipts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pix_receipts_txid'))
    op.drop_table('pix_receipts')
    with op.batch_alter_table('pix_charges', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pix_charges_invoice_id'))
    op.drop_table('pix_charges')
