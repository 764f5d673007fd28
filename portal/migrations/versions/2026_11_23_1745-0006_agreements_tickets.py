"""agreements (versions, acceptances, attestations) and support tickets (messages, notes, attachments)

Agreement versions per kind (Microsoft Customer Agreement, the reseller's terms) effective from a date;
append-only acceptances and staff attestations with the provider's status; tickets with their
conversation (messages, internal notes, status changes) and attachments kept in the document store.

Revision ID: 0006_agreements_tickets
Revises: 0005_cancellations
Created: 2026-11-23 17:17:40.881229
"""

import sqlalchemy as sa
from alembic import op

import portal.shared.dbtypes

revision = '0006_agreements_tickets'
down_revision = '0005_cancellations'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('agreement_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('pdf_sha256', sa.String(length=64), nullable=True),
    sa.Column('link', sa.String(length=300), nullable=True),
    sa.Column('effective_from', sa.Date(), nullable=False),
    sa.Column('provider_template_id', sa.String(length=60), nullable=True),
    sa.Column('published_by_id', sa.Integer(), nullable=True),
    sa.Column('published_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('microsoft_mca', 'reseller_terms')", name=op.f('ck_agreement_versions_kind_known')),
    sa.ForeignKeyConstraint(['published_by_id'], ['users.id'], name=op.f('fk_agreement_versions_published_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agreement_versions')),
    sa.UniqueConstraint('kind', 'effective_from', name='uq_agreement_versions_kind_day')
    )
    op.create_table('agreement_acceptances',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('method', sa.String(length=10), nullable=False),
    sa.Column('first_name', sa.String(length=100), nullable=False),
    sa.Column('last_name', sa.String(length=100), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('phone', sa.String(length=30), nullable=False),
    sa.Column('accepted_on', sa.Date(), nullable=False),
    sa.Column('accepted_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ip', sa.String(length=45), nullable=True),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.Column('provider_status', sa.String(length=12), nullable=False),
    sa.Column('provider_error', sa.Text(), nullable=True),
    sa.Column('contact_notified_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("method IN ('accepted', 'attested')", name=op.f('ck_agreement_acceptances_method_known')),
    sa.CheckConstraint("provider_status IN ('not_needed', 'pending', 'done', 'failed')", name=op.f('ck_agreement_acceptances_provider_status_known')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_agreement_acceptances_organization_id_organizations')),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'], name=op.f('fk_agreement_acceptances_recorded_by_id_users')),
    sa.ForeignKeyConstraint(['version_id'], ['agreement_versions.id'], name=op.f('fk_agreement_acceptances_version_id_agreement_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agreement_acceptances'))
    )
    with op.batch_alter_table('agreement_acceptances', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agreement_acceptances_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_agreement_acceptances_version_id'), ['version_id'], unique=False)

    op.create_table('tickets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('opened_by_id', sa.Integer(), nullable=False),
    sa.Column('category', sa.String(length=20), nullable=False),
    sa.Column('priority', sa.String(length=10), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('subscription_id', sa.Integer(), nullable=True),
    sa.Column('assignee_id', sa.Integer(), nullable=True),
    sa.Column('created_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('first_response_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolved_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("category IN ('technical', 'licenses', 'billing', 'backup', 'other')", name=op.f('ck_tickets_category_known')),
    sa.CheckConstraint("priority IN ('low', 'normal', 'high', 'urgent')", name=op.f('ck_tickets_priority_known')),
    sa.CheckConstraint("status IN ('open', 'in_progress', 'waiting_customer', 'resolved', 'closed')", name=op.f('ck_tickets_status_known')),
    sa.ForeignKeyConstraint(['assignee_id'], ['users.id'], name=op.f('fk_tickets_assignee_id_users')),
    sa.ForeignKeyConstraint(['opened_by_id'], ['users.id'], name=op.f('fk_tickets_opened_by_id_users')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_tickets_organization_id_organizations')),
    sa.ForeignKeyConstraint(['subscription_id'], ['subscriptions.id'], name=op.f('fk_tickets_subscription_id_subscriptions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tickets'))
    )
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tickets_assignee_id'), ['assignee_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_tickets_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_tickets_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_tickets_status'), ['status'], unique=False)

    op.create_table('ticket_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('from_staff', sa.Boolean(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('message', 'note', 'status')", name=op.f('ck_ticket_messages_kind_known')),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_ticket_messages_author_id_users')),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_ticket_messages_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_messages'))
    )
    with op.batch_alter_table('ticket_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticket_messages_ticket_id'), ['ticket_id'], unique=False)

    op.create_table('ticket_attachments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('created_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['message_id'], ['ticket_messages.id'], name=op.f('fk_ticket_attachments_message_id_ticket_messages')),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_ticket_attachments_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_attachments'))
    )
    with op.batch_alter_table('ticket_attachments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticket_attachments_message_id'), ['message_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticket_attachments_ticket_id'), ['ticket_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('ticket_attachments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticket_attachments_ticket_id'))
        batch_op.drop_index(batch_op.f('ix_ticket_attachments_message_id'))

    op.drop_table('ticket_attachments')
    with op.batch_alter_table('ticket_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticket_messages_ticket_id'))

    op.drop_table('ticket_messages')
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tickets_status'))
        batch_op.drop_index(batch_op.f('ix_tickets_organization_id'))
        batch_op.drop_index(batch_op.f('ix_tickets_created_at'))
        batch_op.drop_index(batch_op.f('ix_tickets_assignee_id'))

    op.drop_table('tickets')
    with op.batch_alter_table('agreement_acceptances', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agreement_acceptances_version_id'))
        batch_op.drop_index(batch_op.f('ix_agreement_acceptances_organization_id'))

    op.drop_table('agreement_acceptances')
    op.drop_table('agreement_versions')
