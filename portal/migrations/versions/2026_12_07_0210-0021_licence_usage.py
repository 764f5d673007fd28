"""licence usage: Microsoft Graph snapshots per organization, SKU rules, the monthly e-mail; products' Graph SKU
(issue 17, points 7-9)

Revision ID: 0021_licence_usage
Revises: 0020_next_term
Created: 2026-12-07 02:10:00
"""

import sqlalchemy as sa
from alembic import op

import portal.shared.dbtypes

revision = '0021_licence_usage'
down_revision = "0020_next_term"
branch_labels = None
depends_on = None

# Graph skuId and skuPartNumber of the demo catalog's Microsoft products (Microsoft's "Product names and service plan
# identifiers for licensing"); a product not listed here is mapped by staff.
DEMO_SKUS = {
    "M365-BASIC": ("3b555118-da6a-4418-894f-7df1e2096870", "O365_BUSINESS_ESSENTIALS"),
    "M365-STD": ("f245ecc8-75af-4f8e-b61f-27d8114de5f3", "O365_BUSINESS_PREMIUM"),
    "M365-STD-ANUAL": ("f245ecc8-75af-4f8e-b61f-27d8114de5f3", "O365_BUSINESS_PREMIUM"),
    "M365-PREM": ("cbdc14ab-d96c-4c30-b9f4-6ada7cdc1d46", "SPB"),
    "M365-E3": ("05e9a617-0261-4cee-bb44-138d3ef5d965", "SPE_E3"),
    "TEAMS-ESS": ("7e74bd05-2c47-404e-829a-ba95c66fe8e5", "TEAMS_ESSENTIALS_AAD"),
    "DEF-BUSINESS": ("5b631642-bd26-49fe-bd20-1daaa972ef80", "MDE_SMB"),
    "DEF-O365-P1": ("4ef96642-f096-40de-a3e9-d83fb2f90211", "ATP_ENTERPRISE"),
    "ENTRA-P1": ("078d2b04-f1bd-4111-bbd4-b4b1b354cef4", "AAD_PREMIUM"),
}


def upgrade() -> None:
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.add_column(sa.Column('microsoft_sku_id', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('microsoft_sku_part_number', sa.String(length=60), nullable=True))
        batch_op.create_index(batch_op.f('ix_products_microsoft_sku_id'), ['microsoft_sku_id'], unique=False)
    products = sa.table('products', sa.column('sku', sa.String), sa.column('microsoft_sku_id', sa.String),
                        sa.column('microsoft_sku_part_number', sa.String))
    for sku, (sku_id, part_number) in DEMO_SKUS.items():
        op.execute(products.update().where(products.c.sku == sku)
                   .values(microsoft_sku_id=sku_id, microsoft_sku_part_number=part_number))
    op.create_table('licence_usage_snapshots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('taken_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('reports_available', sa.Boolean(), nullable=False),
    sa.Column('concealed', sa.Boolean(), nullable=False),
    sa.Column('message', sa.String(length=500), nullable=False),
    sa.Column('requested_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("status IN ('ok', 'consent_missing', 'error')",
                       name=op.f('ck_licence_usage_snapshots_status_known')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'],
                            name=op.f('fk_licence_usage_snapshots_organization_id_organizations')),
    sa.ForeignKeyConstraint(['requested_by_id'], ['users.id'],
                            name=op.f('fk_licence_usage_snapshots_requested_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_licence_usage_snapshots'))
    )
    with op.batch_alter_table('licence_usage_snapshots', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_licence_usage_snapshots_organization_id'), ['organization_id'],
                              unique=False)
    op.create_table('licence_usage_skus',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('snapshot_id', sa.Integer(), nullable=False),
    sa.Column('sku_id', sa.String(length=36), nullable=False),
    sa.Column('part_number', sa.String(length=60), nullable=False),
    sa.Column('enabled', sa.Integer(), nullable=False),
    sa.Column('consumed', sa.Integer(), nullable=False),
    sa.Column('inactive', sa.Integer(), nullable=True),
    sa.Column('inactive_users', sa.JSON(), nullable=False),
    sa.CheckConstraint('enabled >= 0 AND consumed >= 0', name=op.f('ck_licence_usage_skus_counts_not_negative')),
    sa.ForeignKeyConstraint(['snapshot_id'], ['licence_usage_snapshots.id'],
                            name=op.f('fk_licence_usage_skus_snapshot_id_licence_usage_snapshots')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_licence_usage_skus'))
    )
    with op.batch_alter_table('licence_usage_skus', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_licence_usage_skus_snapshot_id'), ['snapshot_id'], unique=False)
    op.create_table('licence_usage_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('sku_id', sa.String(length=36), nullable=False),
    sa.Column('excluded', sa.Boolean(), nullable=False),
    sa.Column('buffer', sa.Integer(), nullable=False),
    sa.Column('updated_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('buffer >= 0', name=op.f('ck_licence_usage_rules_buffer_not_negative')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'],
                            name=op.f('fk_licence_usage_rules_organization_id_organizations')),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_licence_usage_rules_updated_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_licence_usage_rules')),
    sa.UniqueConstraint('organization_id', 'sku_id', name='uq_licence_usage_rules_organization_sku')
    )
    with op.batch_alter_table('licence_usage_rules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_licence_usage_rules_organization_id'), ['organization_id'], unique=False)
    op.create_table('licence_usage_emails',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('unused', sa.Integer(), nullable=False),
    sa.Column('monthly_cents', sa.Integer(), nullable=False),
    sa.Column('sent_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'],
                            name=op.f('fk_licence_usage_emails_organization_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_licence_usage_emails')),
    sa.UniqueConstraint('organization_id', 'month', name='uq_licence_usage_emails_organization_month')
    )


def downgrade() -> None:
    op.drop_table('licence_usage_emails')
    with op.batch_alter_table('licence_usage_rules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_licence_usage_rules_organization_id'))
    op.drop_table('licence_usage_rules')
    with op.batch_alter_table('licence_usage_skus', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_licence_usage_skus_snapshot_id'))
    op.drop_table('licence_usage_skus')
    with op.batch_alter_table('licence_usage_snapshots', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_licence_usage_snapshots_organization_id'))
    op.drop_table('licence_usage_snapshots')
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_products_microsoft_sku_id'))
        batch_op.drop_column('microsoft_sku_part_number')
        batch_op.drop_column('microsoft_sku_id')
