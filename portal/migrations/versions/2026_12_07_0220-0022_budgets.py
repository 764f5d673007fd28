"""budgets: an organization's monthly budgets (whole organization, or per product family) and the budget e-mails sent

Issue 17 point 10: budgets holds the Master's monthly amounts in centavos (family_id NULL: the organization's own
budget; one per organization and family, and one organization-wide, each by its unique index). budget_alerts holds
one row per (organization, month, family or none, kind) of the e-mails the daily job sent, so that running it again,
or on several consumers at once, sends nothing twice.

Revision ID: 0022_budgets
Revises: 0021_licence_usage
Created: 2026-12-07 02:00:00
"""

import sqlalchemy as sa
from alembic import op

import portal.shared.dbtypes

revision = '0022_budgets'
down_revision = "0021_licence_usage"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('budgets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('family_id', sa.Integer(), nullable=True),
    sa.Column('amount_cents', sa.Integer(), nullable=False),
    sa.Column('updated_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('amount_cents > 0', name=op.f('ck_budgets_amount_positive')),
    sa.ForeignKeyConstraint(['family_id'], ['product_families.id'], name=op.f('fk_budgets_family_id_product_families')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'],
                            name=op.f('fk_budgets_organization_id_organizations')),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_budgets_updated_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_budgets')),
    sa.UniqueConstraint('organization_id', 'family_id', name='uq_budgets_org_family')
    )
    with op.batch_alter_table('budgets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_budgets_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index('uq_budgets_org_wide', ['organization_id'], unique=True,
                              sqlite_where=sa.text('family_id IS NULL'), postgresql_where=sa.text('family_id IS NULL'))

    op.create_table('budget_alerts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('family_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('budget_cents', sa.Integer(), nullable=False),
    sa.Column('spend_cents', sa.Integer(), nullable=False),
    sa.Column('forecast_cents', sa.Integer(), nullable=False),
    sa.Column('sent_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('forecast', 'actual_80', 'actual_100')", name=op.f('ck_budget_alerts_kind_known')),
    sa.ForeignKeyConstraint(['family_id'], ['product_families.id'],
                            name=op.f('fk_budget_alerts_family_id_product_families')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'],
                            name=op.f('fk_budget_alerts_organization_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_budget_alerts')),
    sa.UniqueConstraint('organization_id', 'month', 'family_id', 'kind', name='uq_budget_alerts_once')
    )
    with op.batch_alter_table('budget_alerts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_budget_alerts_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index('uq_budget_alerts_org_wide_once', ['organization_id', 'month', 'kind'], unique=True,
                              sqlite_where=sa.text('family_id IS NULL'), postgresql_where=sa.text('family_id IS NULL'))


def downgrade() -> None:
    with op.batch_alter_table('budget_alerts', schema=None) as batch_op:
        batch_op.drop_index('uq_budget_alerts_org_wide_once', sqlite_where=sa.text('family_id IS NULL'),
                            postgresql_where=sa.text('family_id IS NULL'))
        batch_op.drop_index(batch_op.f('ix_budget_alerts_organization_id'))
    op.drop_table('budget_alerts')
    with op.batch_alter_table('budgets', schema=None) as batch_op:
        batch_op.drop_index('uq_budgets_org_wide', sqlite_where=sa.text('family_id IS NULL'),
                            postgresql_where=sa.text('family_id IS NULL'))
        batch_op.drop_index(batch_op.f('ix_budgets_organization_id'))
    op.drop_table('budgets')
