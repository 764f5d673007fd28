"""catalog, subscriptions, quotes, orders, credits, cancellation requests

Product families, products and their dated prices; subscriptions with the append-only quantity
ledger, lots and lot draws; the organization credit ledger; quotes, carts, orders and their events;
cancellation requests; organizations.microsoft_tenant_id.

Revision ID: 0003_licenses
Revises: 0002_totp_replay
Created: 2026-11-23 16:07:35.531408
"""

import sqlalchemy as sa
from alembic import op

import portal.shared.dbtypes

revision = '0003_licenses'
down_revision = '0002_totp_replay'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('product_families',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_product_families')),
    sa.UniqueConstraint('name', name=op.f('uq_product_families_name'))
    )
    op.create_table('products',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sku', sa.String(length=60), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('family_id', sa.Integer(), nullable=False),
    sa.Column('provider', sa.String(length=20), nullable=False),
    sa.Column('offer_id', sa.String(length=120), nullable=True),
    sa.Column('term', sa.String(length=10), nullable=False),
    sa.Column('billing_frequency', sa.String(length=10), nullable=False),
    sa.Column('decrease_window_hours', sa.Integer(), nullable=False),
    sa.Column('min_quantity', sa.Integer(), nullable=False),
    sa.Column('max_quantity', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("billing_frequency IN ('monthly', 'annual')", name=op.f('ck_products_billing_frequency_known')),
    sa.CheckConstraint("provider IN ('microsoft_csp', 'own_service')", name=op.f('ck_products_provider_known')),
    sa.CheckConstraint("term IN ('monthly', 'annual', 'triennial')", name=op.f('ck_products_term_known')),
    sa.CheckConstraint('decrease_window_hours >= 0', name=op.f('ck_products_decrease_window_not_negative')),
    sa.CheckConstraint('min_quantity >= 1 AND max_quantity >= min_quantity', name=op.f('ck_products_quantity_bounds')),
    sa.ForeignKeyConstraint(['family_id'], ['product_families.id'], name=op.f('fk_products_family_id_product_families')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_products')),
    sa.UniqueConstraint('sku', name=op.f('uq_products_sku'))
    )
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_products_family_id'), ['family_id'], unique=False)

    op.create_table('cart_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('added_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_cart_items_quantity_positive')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_cart_items_organization_id_organizations')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_cart_items_product_id_products')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_cart_items_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cart_items')),
    sa.UniqueConstraint('organization_id', 'user_id', 'product_id', name='uq_cart_items_org_user_product')
    )
    with op.batch_alter_table('cart_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cart_items_organization_id'), ['organization_id'], unique=False)

    op.create_table('product_prices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('unit_price_cents', sa.Integer(), nullable=False),
    sa.Column('effective_from', sa.Date(), nullable=False),
    sa.Column('created_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('unit_price_cents >= 0', name=op.f('ck_product_prices_price_not_negative')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_product_prices_created_by_id_users')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_product_prices_product_id_products')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_product_prices')),
    sa.UniqueConstraint('product_id', 'effective_from', name='uq_product_prices_product_day')
    )
    with op.batch_alter_table('product_prices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_product_prices_product_id'), ['product_id'], unique=False)

    op.create_table('subscriptions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('renewal_quantity', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=15), nullable=False),
    sa.Column('term_start', sa.Date(), nullable=False),
    sa.Column('term_end', sa.Date(), nullable=False),
    sa.Column('provider_subscription_id', sa.String(length=80), nullable=True),
    sa.Column('created_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint("status IN ('provisioning', 'active', 'suspended', 'cancelled')", name=op.f('ck_subscriptions_status_known')),
    sa.CheckConstraint('quantity >= 0', name=op.f('ck_subscriptions_quantity_not_negative')),
    sa.CheckConstraint('renewal_quantity IS NULL OR renewal_quantity >= 0', name=op.f('ck_subscriptions_renewal_not_negative')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_subscriptions_organization_id_organizations')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_subscriptions_product_id_products')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscriptions'))
    )
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subscriptions_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_subscriptions_product_id'), ['product_id'], unique=False)

    op.create_table('quotes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token', sa.String(length=32), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('subscription_id', sa.Integer(), nullable=True),
    sa.Column('subscription_version', sa.Integer(), nullable=True),
    sa.Column('new_quantity', sa.Integer(), nullable=True),
    sa.Column('lines', sa.JSON(), nullable=False),
    sa.Column('charge_cents', sa.Integer(), nullable=False),
    sa.Column('credit_cents', sa.Integer(), nullable=False),
    sa.Column('recurring_cents', sa.Integer(), nullable=False),
    sa.Column('cancellation_category', sa.String(length=40), nullable=True),
    sa.Column('cancellation_reason', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=False),
    sa.Column('created_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('confirmed_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("kind IN ('quantity_change', 'checkout')", name=op.f('ck_quotes_kind_known')),
    sa.CheckConstraint("status IN ('open', 'confirmed')", name=op.f('ck_quotes_status_known')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_quotes_created_by_id_users')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_quotes_organization_id_organizations')),
    sa.ForeignKeyConstraint(['subscription_id'], ['subscriptions.id'], name=op.f('fk_quotes_subscription_id_subscriptions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quotes')),
    sa.UniqueConstraint('token', name=op.f('uq_quotes_token'))
    )
    with op.batch_alter_table('quotes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quotes_organization_id'), ['organization_id'], unique=False)

    op.create_table('cancellation_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('subscription_id', sa.Integer(), nullable=True),
    sa.Column('category', sa.String(length=30), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('requested_by_id', sa.Integer(), nullable=False),
    sa.Column('quote_id', sa.Integer(), nullable=True),
    sa.Column('created_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("category IN ('rescisao_contrato', 'custo', 'migracao_fornecedor', 'nao_utiliza', 'outro')", name=op.f('ck_cancellation_requests_category_known')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_cancellation_requests_organization_id_organizations')),
    sa.ForeignKeyConstraint(['quote_id'], ['quotes.id'], name=op.f('fk_cancellation_requests_quote_id_quotes')),
    sa.ForeignKeyConstraint(['requested_by_id'], ['users.id'], name=op.f('fk_cancellation_requests_requested_by_id_users')),
    sa.ForeignKeyConstraint(['subscription_id'], ['subscriptions.id'], name=op.f('fk_cancellation_requests_subscription_id_subscriptions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cancellation_requests'))
    )
    with op.batch_alter_table('cancellation_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cancellation_requests_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_cancellation_requests_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cancellation_requests_subscription_id'), ['subscription_id'], unique=False)

    op.create_table('orders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('quote_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('subscription_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('correlation_id', sa.String(length=36), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=True),
    sa.Column('operation_url', sa.String(length=500), nullable=True),
    sa.Column('provider_request_id', sa.String(length=80), nullable=True),
    sa.Column('error_code', sa.String(length=40), nullable=True),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.Column('needs_staff', sa.Boolean(), nullable=False),
    sa.Column('requested_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('completed_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("kind IN ('quantity_change', 'renewal_quantity', 'purchase')", name=op.f('ck_orders_kind_known')),
    sa.CheckConstraint("status IN ('pending', 'sent', 'done', 'failed')", name=op.f('ck_orders_status_known')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_orders_organization_id_organizations')),
    sa.ForeignKeyConstraint(['quote_id'], ['quotes.id'], name=op.f('fk_orders_quote_id_quotes')),
    sa.ForeignKeyConstraint(['requested_by_id'], ['users.id'], name=op.f('fk_orders_requested_by_id_users')),
    sa.ForeignKeyConstraint(['subscription_id'], ['subscriptions.id'], name=op.f('fk_orders_subscription_id_subscriptions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_orders')),
    sa.UniqueConstraint('correlation_id', name=op.f('uq_orders_correlation_id'))
    )
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_orders_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_orders_next_attempt_at'), ['next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_orders_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_orders_quote_id'), ['quote_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_orders_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_orders_subscription_id'), ['subscription_id'], unique=False)

    op.create_table('quantity_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subscription_id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('delta', sa.Integer(), nullable=False),
    sa.Column('quantity_after', sa.Integer(), nullable=False),
    sa.Column('effective_on', sa.Date(), nullable=False),
    sa.Column('charge_cents', sa.Integer(), nullable=False),
    sa.Column('credit_cents', sa.Integer(), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=True),
    sa.Column('period_end', sa.Date(), nullable=True),
    sa.Column('quote_id', sa.Integer(), nullable=True),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('created_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('initial', 'increase', 'decrease', 'scheduled_decrease', 'renewal')", name=op.f('ck_quantity_changes_kind_known')),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_quantity_changes_actor_id_users')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_quantity_changes_organization_id_organizations')),
    sa.ForeignKeyConstraint(['quote_id'], ['quotes.id'], name=op.f('fk_quantity_changes_quote_id_quotes')),
    sa.ForeignKeyConstraint(['subscription_id'], ['subscriptions.id'], name=op.f('fk_quantity_changes_subscription_id_subscriptions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quantity_changes'))
    )
    with op.batch_alter_table('quantity_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quantity_changes_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_quantity_changes_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_quantity_changes_subscription_id'), ['subscription_id'], unique=False)

    op.create_table('credit_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('amount_cents', sa.Integer(), nullable=False),
    sa.Column('description', sa.String(length=300), nullable=False),
    sa.Column('change_id', sa.Integer(), nullable=True),
    sa.Column('invoice_id', sa.Integer(), nullable=True),
    sa.Column('created_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['change_id'], ['quantity_changes.id'], name=op.f('fk_credit_entries_change_id_quantity_changes')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_credit_entries_organization_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_entries'))
    )
    with op.batch_alter_table('credit_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_credit_entries_organization_id'), ['organization_id'], unique=False)

    op.create_table('lots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subscription_id', sa.Integer(), nullable=False),
    sa.Column('change_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('unit_price_cents', sa.Integer(), nullable=False),
    sa.Column('added_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('window_end', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('billed_cents', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['change_id'], ['quantity_changes.id'], name=op.f('fk_lots_change_id_quantity_changes')),
    sa.ForeignKeyConstraint(['subscription_id'], ['subscriptions.id'], name=op.f('fk_lots_subscription_id_subscriptions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lots'))
    )
    with op.batch_alter_table('lots', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lots_subscription_id'), ['subscription_id'], unique=False)

    op.create_table('order_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('created_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('message', sa.String(length=1000), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_order_events_order_id_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_events'))
    )
    with op.batch_alter_table('order_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_order_events_order_id'), ['order_id'], unique=False)

    op.create_table('lot_draws',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lot_id', sa.Integer(), nullable=False),
    sa.Column('change_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('credit_cents', sa.Integer(), nullable=False),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_lot_draws_quantity_positive')),
    sa.ForeignKeyConstraint(['change_id'], ['quantity_changes.id'], name=op.f('fk_lot_draws_change_id_quantity_changes')),
    sa.ForeignKeyConstraint(['lot_id'], ['lots.id'], name=op.f('fk_lot_draws_lot_id_lots')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lot_draws'))
    )
    with op.batch_alter_table('lot_draws', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lot_draws_lot_id'), ['lot_id'], unique=False)

    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('microsoft_tenant_id', sa.String(length=36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.drop_column('microsoft_tenant_id')

    with op.batch_alter_table('lot_draws', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lot_draws_lot_id'))

    op.drop_table('lot_draws')
    with op.batch_alter_table('order_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_order_events_order_id'))

    op.drop_table('order_events')
    with op.batch_alter_table('lots', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lots_subscription_id'))

    op.drop_table('lots')
    with op.batch_alter_table('credit_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_credit_entries_organization_id'))

    op.drop_table('credit_entries')
    with op.batch_alter_table('quantity_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quantity_changes_subscription_id'))
        batch_op.drop_index(batch_op.f('ix_quantity_changes_organization_id'))
        batch_op.drop_index(batch_op.f('ix_quantity_changes_created_at'))

    op.drop_table('quantity_changes')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_orders_subscription_id'))
        batch_op.drop_index(batch_op.f('ix_orders_status'))
        batch_op.drop_index(batch_op.f('ix_orders_quote_id'))
        batch_op.drop_index(batch_op.f('ix_orders_organization_id'))
        batch_op.drop_index(batch_op.f('ix_orders_next_attempt_at'))
        batch_op.drop_index(batch_op.f('ix_orders_created_at'))

    op.drop_table('orders')
    with op.batch_alter_table('cancellation_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cancellation_requests_subscription_id'))
        batch_op.drop_index(batch_op.f('ix_cancellation_requests_organization_id'))
        batch_op.drop_index(batch_op.f('ix_cancellation_requests_created_at'))

    op.drop_table('cancellation_requests')
    with op.batch_alter_table('quotes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quotes_organization_id'))

    op.drop_table('quotes')
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subscriptions_product_id'))
        batch_op.drop_index(batch_op.f('ix_subscriptions_organization_id'))

    op.drop_table('subscriptions')
    with op.batch_alter_table('product_prices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_product_prices_product_id'))

    op.drop_table('product_prices')
    with op.batch_alter_table('cart_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cart_items_organization_id'))

    op.drop_table('cart_items')
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_products_family_id'))

    op.drop_table('products')
    op.drop_table('product_families')
