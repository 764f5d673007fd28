"""billing: invoices, lines, numbering, boletos, notas fiscais, payments, gateway events, contacts, dunning, stored documents

One original regular invoice per organization and billing day (a partial unique index), gapless
numbers per series and year (invoice_series), boletos with their 2ª via, NFS-e records, append-only
payments, processed webhook events, extra billing e-mails, dunning notices, documents by SHA-256;
organizations.delinquent_since ("inadimplente"); email_deliveries.attachments.

Revision ID: 0004_billing
Revises: 0003_licenses
Created: 2026-11-23 16:38:18.095749
"""

import sqlalchemy as sa
from alembic import op

import portal.shared.dbtypes

revision = '0004_billing'
down_revision = '0003_licenses'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('email_deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attachments', sa.JSON(), nullable=True))
    op.create_table('gateway_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('gateway', sa.String(length=20), nullable=False),
    sa.Column('event_id', sa.String(length=120), nullable=False),
    sa.Column('event_type', sa.String(length=80), nullable=False),
    sa.Column('received_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_gateway_events')),
    sa.UniqueConstraint('gateway', 'event_id', name='uq_gateway_events_event')
    )
    op.create_table('invoice_series',
    sa.Column('series', sa.String(length=10), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('last_number', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('series', 'year', name=op.f('pk_invoice_series'))
    )
    op.create_table('stored_documents',
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('content_type', sa.String(length=80), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('sha256', name=op.f('pk_stored_documents'))
    )
    op.create_table('billing_contacts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_billing_contacts_organization_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_contacts')),
    sa.UniqueConstraint('organization_id', 'email', name='uq_billing_contacts_org_email')
    )
    with op.batch_alter_table('billing_contacts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_billing_contacts_organization_id'), ['organization_id'], unique=False)

    op.create_table('invoices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=15), nullable=False),
    sa.Column('series', sa.String(length=10), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('billing_date', sa.Date(), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('issued_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('subtotal_cents', sa.Integer(), nullable=False),
    sa.Column('credit_applied_cents', sa.Integer(), nullable=False),
    sa.Column('total_cents', sa.Integer(), nullable=False),
    sa.Column('replaces_id', sa.Integer(), nullable=True),
    sa.Column('corrects_id', sa.Integer(), nullable=True),
    sa.Column('cancelled_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=True),
    sa.Column('cancel_reason', sa.Text(), nullable=True),
    sa.Column('paid_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=True),
    sa.Column('pdf_sha256', sa.String(length=64), nullable=True),
    sa.Column('emailed_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("kind IN ('regular', 'credit_note')", name=op.f('ck_invoices_kind_known')),
    sa.CheckConstraint("status IN ('open', 'paid', 'cancelled')", name=op.f('ck_invoices_status_known')),
    sa.ForeignKeyConstraint(['corrects_id'], ['invoices.id'], name=op.f('fk_invoices_corrects_id_invoices')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_invoices_organization_id_organizations')),
    sa.ForeignKeyConstraint(['replaces_id'], ['invoices.id'], name=op.f('fk_invoices_replaces_id_invoices')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invoices')),
    sa.UniqueConstraint('series', 'year', 'number', name='uq_invoices_number'),
    sa.UniqueConstraint('replaces_id', name='uq_invoices_replaces_id')
    )
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invoices_due_date'), ['due_date'], unique=False)
        batch_op.create_index(batch_op.f('ix_invoices_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_invoices_status'), ['status'], unique=False)
        batch_op.create_index('uq_invoices_org_day', ['organization_id', 'billing_date'], unique=True, sqlite_where=sa.text("kind = 'regular' AND replaces_id IS NULL"), postgresql_where=sa.text("kind = 'regular' AND replaces_id IS NULL"))

    op.create_table('boletos',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('bank', sa.String(length=3), nullable=False),
    sa.Column('nosso_numero', sa.String(length=20), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('amount_cents', sa.Integer(), nullable=False),
    sa.Column('fine_cents', sa.Integer(), nullable=False),
    sa.Column('interest_cents', sa.Integer(), nullable=False),
    sa.Column('barcode', sa.String(length=44), nullable=False),
    sa.Column('digitable_line', sa.String(length=60), nullable=False),
    sa.Column('pix_payload', sa.Text(), nullable=False),
    sa.Column('registered', sa.Boolean(), nullable=False),
    sa.Column('pdf_sha256', sa.String(length=64), nullable=True),
    sa.Column('created_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], name=op.f('fk_boletos_invoice_id_invoices')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_boletos')),
    sa.UniqueConstraint('nosso_numero', name='uq_boletos_nosso_numero')
    )
    with op.batch_alter_table('boletos', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_boletos_invoice_id'), ['invoice_id'], unique=False)

    op.create_table('dunning_notices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('step', sa.Integer(), nullable=False),
    sa.Column('sent_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], name=op.f('fk_dunning_notices_invoice_id_invoices')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dunning_notices')),
    sa.UniqueConstraint('invoice_id', 'step', name='uq_dunning_notices_invoice_step')
    )
    with op.batch_alter_table('dunning_notices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dunning_notices_invoice_id'), ['invoice_id'], unique=False)

    op.create_table('fiscal_documents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=30), nullable=False),
    sa.Column('verification_code', sa.String(length=60), nullable=False),
    sa.Column('issued_on', sa.Date(), nullable=False),
    sa.Column('amount_cents', sa.Integer(), nullable=False),
    sa.Column('xml', sa.Text(), nullable=False),
    sa.Column('pdf_sha256', sa.String(length=64), nullable=False),
    sa.Column('simulated', sa.Boolean(), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('created_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], name=op.f('fk_fiscal_documents_invoice_id_invoices')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fiscal_documents')),
    sa.UniqueConstraint('invoice_id', name=op.f('uq_fiscal_documents_invoice_id'))
    )
    op.create_table('gateway_payments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('gateway', sa.String(length=20), nullable=False),
    sa.Column('external_id', sa.String(length=120), nullable=False),
    sa.Column('method', sa.String(length=10), nullable=False),
    sa.Column('amount_cents', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=30), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=True),
    sa.Column('created_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], name=op.f('fk_gateway_payments_invoice_id_invoices')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_gateway_payments')),
    sa.UniqueConstraint('gateway', 'external_id', name='uq_gateway_payments_external')
    )
    with op.batch_alter_table('gateway_payments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_gateway_payments_invoice_id'), ['invoice_id'], unique=False)

    op.create_table('payments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('amount_cents', sa.Integer(), nullable=False),
    sa.Column('method', sa.String(length=10), nullable=False),
    sa.Column('paid_on', sa.Date(), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('external_id', sa.String(length=120), nullable=True),
    sa.Column('note', sa.String(length=300), nullable=False),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("method IN ('boleto', 'pix', 'deposito', 'card')", name=op.f('ck_payments_method_known')),
    sa.CheckConstraint('amount_cents > 0', name=op.f('ck_payments_amount_positive')),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], name=op.f('fk_payments_invoice_id_invoices')),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'], name=op.f('fk_payments_recorded_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payments')),
    sa.UniqueConstraint('source', 'external_id', name='uq_payments_source_external')
    )
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payments_invoice_id'), ['invoice_id'], unique=False)

    op.create_table('invoice_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('description', sa.String(length=300), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('unit_price_cents', sa.Integer(), nullable=False),
    sa.Column('amount_cents', sa.Integer(), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=True),
    sa.Column('period_end', sa.Date(), nullable=True),
    sa.Column('subscription_id', sa.Integer(), nullable=True),
    sa.Column('change_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("kind IN ('recurring', 'prorata', 'credit', 'adjustment')", name=op.f('ck_invoice_lines_kind_known')),
    sa.ForeignKeyConstraint(['change_id'], ['quantity_changes.id'], name=op.f('fk_invoice_lines_change_id_quantity_changes')),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], name=op.f('fk_invoice_lines_invoice_id_invoices')),
    sa.ForeignKeyConstraint(['subscription_id'], ['subscriptions.id'], name=op.f('fk_invoice_lines_subscription_id_subscriptions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invoice_lines'))
    )
    with op.batch_alter_table('invoice_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invoice_lines_change_id'), ['change_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_invoice_lines_invoice_id'), ['invoice_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_invoice_lines_subscription_id'), ['subscription_id'], unique=False)

    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('delinquent_since', sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('email_deliveries', schema=None) as batch_op:
        batch_op.drop_column('attachments')
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.drop_column('delinquent_since')

    with op.batch_alter_table('invoice_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invoice_lines_subscription_id'))
        batch_op.drop_index(batch_op.f('ix_invoice_lines_invoice_id'))
        batch_op.drop_index(batch_op.f('ix_invoice_lines_change_id'))

    op.drop_table('invoice_lines')
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payments_invoice_id'))

    op.drop_table('payments')
    with op.batch_alter_table('gateway_payments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_gateway_payments_invoice_id'))

    op.drop_table('gateway_payments')
    op.drop_table('fiscal_documents')
    with op.batch_alter_table('dunning_notices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dunning_notices_invoice_id'))

    op.drop_table('dunning_notices')
    with op.batch_alter_table('boletos', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_boletos_invoice_id'))

    op.drop_table('boletos')
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.drop_index('uq_invoices_org_day', sqlite_where=sa.text("kind = 'regular' AND replaces_id IS NULL"), postgresql_where=sa.text("kind = 'regular' AND replaces_id IS NULL"))
        batch_op.drop_index(batch_op.f('ix_invoices_status'))
        batch_op.drop_index(batch_op.f('ix_invoices_organization_id'))
        batch_op.drop_index(batch_op.f('ix_invoices_due_date'))

    op.drop_table('invoices')
    with op.batch_alter_table('billing_contacts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_billing_contacts_organization_id'))

    op.drop_table('billing_contacts')
    op.drop_table('stored_documents')
    op.drop_table('invoice_series')
    op.drop_table('gateway_events')
