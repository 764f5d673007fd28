"""onboarding: the customer's Microsoft tenant, the billing start date, orders held for the agreement

Issue 13 point 2: the onboarding collects the Microsoft tenant (an existing one, or one to create), a
subscription is billed from its `billing_starts_on` at the earliest (and once the provider confirmed it), and
an order waits while the customer has not accepted the current customer agreement.

Revision ID: 0008_onboarding_tenant
Revises: 0008_security_sessions
Created: 2026-12-06 16:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0008_onboarding_tenant'
down_revision = '0008_security_sessions'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('opportunities') as batch:
        batch.add_column(sa.Column('tenant_mode', sa.String(length=10), nullable=True))
        batch.add_column(sa.Column('tenant_reference', sa.String(length=253), nullable=False, server_default=''))
        batch.add_column(sa.Column('microsoft_tenant_id', sa.String(length=36), nullable=True))
    with op.batch_alter_table('subscriptions') as batch:
        batch.add_column(sa.Column('billing_starts_on', sa.Date(), nullable=True))
    with op.batch_alter_table('orders') as batch:
        batch.add_column(sa.Column('waiting_for_agreement', sa.Boolean(), nullable=False,
                                   server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('orders') as batch:
        batch.drop_column('waiting_for_agreement')
    with op.batch_alter_table('subscriptions') as batch:
        batch.drop_column('billing_starts_on')
    with op.batch_alter_table('opportunities') as batch:
        batch.drop_column('tenant_reference')
        batch.drop_column('microsoft_tenant_id')
        batch.drop_column('tenant_mode')
