"""cancellations: who/what/why on each request, rescission parent rows, withdrawal; withdrawn orders and schedules

Cancellation requests keep the requester's roles and IP, the quantities before and after, the day the rest
ends and the credit; a rescission is a parent row with one child per subscription and can be withdrawn.
Orders gain the "withdrawn" status and the quantity ledger the "schedule_withdrawn" kind.

Revision ID: 0005_cancellations
Revises: 0004_billing
Created: 2026-11-23 17:14:55.667853
"""

import sqlalchemy as sa
from alembic import op

import portal.shared.dbtypes

revision = '0005_cancellations'
down_revision = '0004_billing'
branch_labels = None
depends_on = None

KINDS = "'initial', 'increase', 'decrease', 'scheduled_decrease', 'renewal'"
ORDER_STATUSES = "'pending', 'sent', 'done', 'failed'"


def upgrade() -> None:
    with op.batch_alter_table('cancellation_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('parent_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('is_rescission', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('status', sa.String(length=10), nullable=False, server_default='applied'))
        batch_op.add_column(sa.Column('requester_roles', sa.String(length=60), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('ip', sa.String(length=45), nullable=True))
        batch_op.add_column(sa.Column('quantity_before', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('quantity_after', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('ends_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('credit_cents', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('withdrawn_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('withdrawn_by_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_cancellation_requests_parent_id'), ['parent_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_cancellation_requests_withdrawn_by_id_users'), 'users', ['withdrawn_by_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_cancellation_requests_parent_id_cancellation_requests'), 'cancellation_requests', ['parent_id'], ['id'])
        batch_op.create_check_constraint('status_known', "status IN ('applied', 'withdrawn')")
    # The defaults served only the rows that existed; the application always sets these.
    with op.batch_alter_table('cancellation_requests', schema=None) as batch_op:
        batch_op.alter_column('is_rescission', server_default=None)
        batch_op.alter_column('status', server_default=None)
        batch_op.alter_column('requester_roles', server_default=None)
        batch_op.alter_column('credit_cents', server_default=None)
    with op.batch_alter_table('quantity_changes', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_quantity_changes_kind_known'), type_='check')
        batch_op.create_check_constraint('kind_known', f"kind IN ({KINDS}, 'schedule_withdrawn')")
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_orders_status_known'), type_='check')
        batch_op.create_check_constraint('status_known', f"status IN ({ORDER_STATUSES}, 'withdrawn')")


def downgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_orders_status_known'), type_='check')
        batch_op.create_check_constraint('status_known', f"status IN ({ORDER_STATUSES})")
    with op.batch_alter_table('quantity_changes', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_quantity_changes_kind_known'), type_='check')
        batch_op.create_check_constraint('kind_known', f"kind IN ({KINDS})")
    with op.batch_alter_table('cancellation_requests', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_cancellation_requests_status_known'), type_='check')
        batch_op.drop_constraint(batch_op.f('fk_cancellation_requests_parent_id_cancellation_requests'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_cancellation_requests_withdrawn_by_id_users'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_cancellation_requests_parent_id'))
        batch_op.drop_column('withdrawn_by_id')
        batch_op.drop_column('withdrawn_at')
        batch_op.drop_column('credit_cents')
        batch_op.drop_column('ends_on')
        batch_op.drop_column('quantity_after')
        batch_op.drop_column('quantity_before')
        batch_op.drop_column('ip')
        batch_op.drop_column('requester_roles')
        batch_op.drop_column('status')
        batch_op.drop_column('is_rescission')
        batch_op.drop_column('parent_id')
