"""purchase orders: the customer's PO number and cost centre on subscriptions, cart items and invoice lines

Issue 16 point 7: each subscription (and each cart item before checkout) carries a purchase-order number and a
cost centre ("" = none); each invoice line keeps the ones it was drafted with.

Revision ID: 0016_purchase_orders
Revises: 0015_accountant_pack
Created: 2026-12-07 00:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0016_purchase_orders'
down_revision = "0015_accountant_pack"
branch_labels = None
depends_on = None

TABLES = ('subscriptions', 'cart_items', 'invoice_lines')


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('purchase_order', sa.String(length=60), server_default='', nullable=False))
            batch_op.add_column(sa.Column('cost_centre', sa.String(length=60), server_default='', nullable=False))


def downgrade() -> None:
    for table in reversed(TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('cost_centre')
            batch_op.drop_column('purchase_order')
