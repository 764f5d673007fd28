"""next term: changes scheduled for a subscription's renewal, renewal reminders, upgrade marking (issue 17, 4-6)

- next_term_changes: what a subscription becomes at its renewal (quantity, product), scheduled in "Renovações"
  and sent to the provider as scheduled next-term instructions; one SCHEDULED row per subscription at most.
- orders.product_id: a renewal-quantity order's product for the next term (None: the subscription's own).
- renewal_reminders: one row per subscription, term and kind (30 / 7 days before "decidir até"): sent once.
- products.upgrade_to: the SKUs a product may move to at renewal; users.renewal_reminders: "Minha conta" opt-out.

Revision ID: 0020_next_term
Revises: 0019_nfse_substitution
Created: 2026-12-07 02:00:00
"""

import sqlalchemy as sa
from alembic import op

import portal.shared.dbtypes

revision = '0020_next_term'
down_revision = "0019_nfse_substitution"
branch_labels = None
depends_on = None

SCHEDULED = sa.text("status = 'scheduled'")


def upgrade() -> None:
    op.create_table('next_term_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('subscription_id', sa.Integer(), nullable=False),
    sa.Column('term_end', sa.Date(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ended_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ended_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("status IN ('scheduled', 'replaced', 'withdrawn', 'applied')",
                       name=op.f('ck_next_term_changes_status_known')),
    sa.CheckConstraint('quantity >= 1', name=op.f('ck_next_term_changes_quantity_positive')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'],
                            name=op.f('fk_next_term_changes_organization_id_organizations')),
    sa.ForeignKeyConstraint(['subscription_id'], ['subscriptions.id'],
                            name=op.f('fk_next_term_changes_subscription_id_subscriptions')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_next_term_changes_product_id_products')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_next_term_changes_created_by_id_users')),
    sa.ForeignKeyConstraint(['ended_by_id'], ['users.id'], name=op.f('fk_next_term_changes_ended_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_next_term_changes'))
    )
    with op.batch_alter_table('next_term_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_next_term_changes_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_next_term_changes_subscription_id'), ['subscription_id'], unique=False)
        batch_op.create_index('uq_next_term_changes_scheduled', ['subscription_id'], unique=True,
                              sqlite_where=SCHEDULED, postgresql_where=SCHEDULED)

    op.create_table('renewal_reminders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('subscription_id', sa.Integer(), nullable=False),
    sa.Column('term_end', sa.Date(), nullable=False),
    sa.Column('kind', sa.String(length=4), nullable=False),
    sa.Column('recipients', sa.Integer(), nullable=False),
    sa.Column('created_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('d30', 'd7')", name=op.f('ck_renewal_reminders_kind_known')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'],
                            name=op.f('fk_renewal_reminders_organization_id_organizations')),
    sa.ForeignKeyConstraint(['subscription_id'], ['subscriptions.id'],
                            name=op.f('fk_renewal_reminders_subscription_id_subscriptions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_renewal_reminders')),
    sa.UniqueConstraint('subscription_id', 'term_end', 'kind', name='uq_renewal_reminders_subscription_term_kind')
    )
    with op.batch_alter_table('renewal_reminders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_renewal_reminders_organization_id'), ['organization_id'], unique=False)

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('product_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_orders_product_id_products'), 'products', ['product_id'], ['id'])
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.add_column(sa.Column('upgrade_to', sa.JSON(), server_default=sa.text("'[]'"), nullable=False))
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('renewal_reminders', sa.Boolean(), server_default=sa.true(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('renewal_reminders')
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.drop_column('upgrade_to')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_orders_product_id_products'), type_='foreignkey')
        batch_op.drop_column('product_id')
    with op.batch_alter_table('renewal_reminders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_renewal_reminders_organization_id'))
    op.drop_table('renewal_reminders')
    with op.batch_alter_table('next_term_changes', schema=None) as batch_op:
        batch_op.drop_index('uq_next_term_changes_scheduled', sqlite_where=SCHEDULED, postgresql_where=SCHEDULED)
        batch_op.drop_index(batch_op.f('ix_next_term_changes_subscription_id'))
        batch_op.drop_index(batch_op.f('ix_next_term_changes_organization_id'))
    op.drop_table('next_term_changes')
