"""billing: invoice drafts for the review before issuing

Issue 16 point 8: with BILLING_REVIEW=true the billing run writes invoice_drafts (one per organization and billing
day) and their invoice_draft_lines instead of invoices; finance corrects and approves them, and approval issues the
invoice (number, boleto, Pix, documents) through the one issuing path. Drafts have no number: only approval takes
one, so the series stays gapless.

Revision ID: 0017_invoice_review
Revises: 0016_purchase_orders
Created: 2026-12-07 00:30:00
"""

import sqlalchemy as sa
from alembic import op

import portal.shared.dbtypes

revision = '0017_invoice_review'
down_revision = "0016_purchase_orders"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('invoice_drafts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('billing_date', sa.Date(), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('credit_available_cents', sa.Integer(), nullable=False),
    sa.Column('created_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('flagged_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=True),
    sa.Column('approved_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=True),
    sa.Column('approved_by_id', sa.Integer(), nullable=True),
    sa.Column('invoice_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'approved')", name=op.f('ck_invoice_drafts_status_known')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'],
                            name=op.f('fk_invoice_drafts_organization_id_organizations')),
    sa.ForeignKeyConstraint(['approved_by_id'], ['users.id'], name=op.f('fk_invoice_drafts_approved_by_id_users')),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], name=op.f('fk_invoice_drafts_invoice_id_invoices')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invoice_drafts')),
    sa.UniqueConstraint('organization_id', 'billing_date', name='uq_invoice_drafts_org_day'),
    sa.UniqueConstraint('invoice_id', name='uq_invoice_drafts_invoice_id')
    )
    with op.batch_alter_table('invoice_drafts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invoice_drafts_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_invoice_drafts_status'), ['status'], unique=False)

    op.create_table('invoice_draft_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('draft_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('description', sa.String(length=300), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('unit_price_cents', sa.Integer(), nullable=False),
    sa.Column('amount_cents', sa.Integer(), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=True),
    sa.Column('period_end', sa.Date(), nullable=True),
    sa.Column('subscription_id', sa.Integer(), nullable=True),
    sa.Column('change_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('purchase_order', sa.String(length=60), server_default='', nullable=False),
    sa.Column('cost_centre', sa.String(length=60), server_default='', nullable=False),
    sa.CheckConstraint("kind IN ('recurring', 'prorata', 'adjustment')",
                       name=op.f('ck_invoice_draft_lines_kind_known')),
    sa.ForeignKeyConstraint(['draft_id'], ['invoice_drafts.id'],
                            name=op.f('fk_invoice_draft_lines_draft_id_invoice_drafts')),
    sa.ForeignKeyConstraint(['subscription_id'], ['subscriptions.id'],
                            name=op.f('fk_invoice_draft_lines_subscription_id_subscriptions')),
    sa.ForeignKeyConstraint(['change_id'], ['quantity_changes.id'],
                            name=op.f('fk_invoice_draft_lines_change_id_quantity_changes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invoice_draft_lines'))
    )
    with op.batch_alter_table('invoice_draft_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invoice_draft_lines_draft_id'), ['draft_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('invoice_draft_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invoice_draft_lines_draft_id'))
    op.drop_table('invoice_draft_lines')
    with op.batch_alter_table('invoice_drafts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invoice_drafts_status'))
        batch_op.drop_index(batch_op.f('ix_invoice_drafts_organization_id'))
    op.drop_table('invoice_drafts')
