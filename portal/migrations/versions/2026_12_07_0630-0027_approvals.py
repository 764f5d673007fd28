"""approvals: the Master's purchase approval rules and the Adm's purchases and increases waiting for a Master

Issue 18 point 8: approval_rules holds one row per organization (thresholds in centavos, NULL: off; new_family).
approval_requests holds each confirmed quote a rule caught (one request per quote; the quote it now confirms after a
re-pricing), decided once by a conditional UPDATE of its status.

Revision ID: 0027_approvals
Revises: 0026_entra_sign_in
Created: 2026-12-07 06:30:00
"""

import sqlalchemy as sa
from alembic import op

import portal.shared.dbtypes

revision = "0027_approvals"
down_revision = "0026_entra_sign_in"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('approval_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('monthly_threshold_cents', sa.Integer(), nullable=True),
    sa.Column('one_off_threshold_cents', sa.Integer(), nullable=True),
    sa.Column('new_family', sa.Boolean(), nullable=False),
    sa.Column('updated_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('monthly_threshold_cents IS NULL OR monthly_threshold_cents >= 0',
                       name=op.f('ck_approval_rules_monthly_positive')),
    sa.CheckConstraint('one_off_threshold_cents IS NULL OR one_off_threshold_cents >= 0',
                       name=op.f('ck_approval_rules_one_off_positive')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'],
                            name=op.f('fk_approval_rules_organization_id_organizations')),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_approval_rules_updated_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_approval_rules')),
    sa.UniqueConstraint('organization_id', name=op.f('uq_approval_rules_organization_id'))
    )
    op.create_table('approval_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('quote_id', sa.Integer(), nullable=False),
    sa.Column('original_quote_id', sa.Integer(), nullable=False),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('monthly_cents', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('requested_by_id', sa.Integer(), nullable=False),
    sa.Column('created_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('repriced_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decided_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.CheckConstraint("status IN ('waiting', 'approved', 'refused', 'withdrawn', 'expired')",
                       name=op.f('ck_approval_requests_status_known')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'], name=op.f('fk_approval_requests_decided_by_id_users')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'],
                            name=op.f('fk_approval_requests_organization_id_organizations')),
    sa.ForeignKeyConstraint(['quote_id'], ['quotes.id'], name=op.f('fk_approval_requests_quote_id_quotes')),
    sa.ForeignKeyConstraint(['original_quote_id'], ['quotes.id'],
                            name=op.f('fk_approval_requests_original_quote_id_quotes')),
    sa.ForeignKeyConstraint(['requested_by_id'], ['users.id'],
                            name=op.f('fk_approval_requests_requested_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_approval_requests')),
    sa.UniqueConstraint('original_quote_id', name=op.f('uq_approval_requests_original_quote_id')),
    sa.UniqueConstraint('quote_id', name=op.f('uq_approval_requests_quote_id'))
    )
    with op.batch_alter_table('approval_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_approval_requests_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_approval_requests_status'), ['status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('approval_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_approval_requests_status'))
        batch_op.drop_index(batch_op.f('ix_approval_requests_organization_id'))
    op.drop_table('approval_requests')
    op.drop_table('approval_rules')
