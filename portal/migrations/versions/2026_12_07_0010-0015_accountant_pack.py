"""billing: the accountant's monthly pack (who receives it, and the months already sent)

Issue 16 point 6: accountant_settings keeps one accountant e-mail and day (1–28) per organization;
accountant_pack_deliveries holds one row per (organization, month) sent, so the daily job sends each month once
whatever the number of consumers.

Revision ID: 0015_accountant_pack
Revises: 0013_pix_refunds
Created: 2026-12-07 00:10:00
"""

import sqlalchemy as sa
from alembic import op

import portal.shared.dbtypes

revision = '0015_accountant_pack'
down_revision = '0013_pix_refunds'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('accountant_settings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('day', sa.Integer(), nullable=False),
    sa.Column('updated_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('day BETWEEN 1 AND 28', name=op.f('ck_accountant_settings_day_in_month')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'],
                            name=op.f('fk_accountant_settings_organization_id_organizations')),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_accountant_settings_updated_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_accountant_settings')),
    sa.UniqueConstraint('organization_id', name='uq_accountant_settings_organization_id')
    )
    op.create_table('accountant_pack_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('mode', sa.String(length=12), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sent_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("mode IN ('attachment', 'link', 'empty')", name=op.f('ck_accountant_pack_deliveries_mode_known')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'],
                            name=op.f('fk_accountant_pack_deliveries_organization_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_accountant_pack_deliveries')),
    sa.UniqueConstraint('organization_id', 'month', name='uq_accountant_pack_deliveries_org_month')
    )


def downgrade() -> None:
    op.drop_table('accountant_pack_deliveries')
    op.drop_table('accountant_settings')
