"""nfse: NFS-e Nacional (issue 16): gapless DPS numbers, the note's key/status/cancellation, the taker's IBGE code

fiscal_numbers holds each invoice's DPS / RPS number (one per invoice, unique per series), taken before the request
is sent; fiscal_documents gains the access key, public URL, request id, series and DPS number, status, cancellation
(time and the authority's XML) and its PDF may be missing for a while; organizations gain city_code (IBGE, 7 digits).

Revision ID: 0018_nfse
Revises: 0017_invoice_review
Created: 2026-12-07 00:40:00
"""

import sqlalchemy as sa
from alembic import op

import portal.shared.dbtypes

revision = '0018_nfse'
down_revision = "0017_invoice_review"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('fiscal_numbers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('series', sa.String(length=5), nullable=False),
    sa.Column('number', sa.BigInteger(), nullable=False),
    sa.Column('created_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], name=op.f('fk_fiscal_numbers_invoice_id_invoices')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fiscal_numbers')),
    sa.UniqueConstraint('invoice_id', name=op.f('uq_fiscal_numbers_invoice_id')),
    sa.UniqueConstraint('series', 'number', name='uq_fiscal_numbers_series_number')
    )
    with op.batch_alter_table('fiscal_documents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('access_key', sa.String(length=50), nullable=True))
        batch_op.add_column(sa.Column('public_url', sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column('request_id', sa.String(length=60), nullable=True))
        batch_op.add_column(sa.Column('series', sa.String(length=5), nullable=True))
        batch_op.add_column(sa.Column('dps_number', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('status', sa.String(length=12), nullable=False, server_default='issued'))
        batch_op.add_column(sa.Column('cancelled_at', portal.shared.dbtypes.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('cancellation_xml', sa.Text(), nullable=True))
        batch_op.alter_column('pdf_sha256', existing_type=sa.String(length=64), nullable=True)
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('city_code', sa.String(length=7), nullable=False, server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.drop_column('city_code')
    op.execute("UPDATE fiscal_documents SET pdf_sha256 = '' WHERE pdf_sha256 IS NULL")
    with op.batch_alter_table('fiscal_documents', schema=None) as batch_op:
        batch_op.alter_column('pdf_sha256', existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_column('cancellation_xml')
        batch_op.drop_column('cancelled_at')
        batch_op.drop_column('status')
        batch_op.drop_column('dps_number')
        batch_op.drop_column('series')
        batch_op.drop_column('request_id')
        batch_op.drop_column('public_url')
        batch_op.drop_column('access_key')
    op.drop_table('fiscal_numbers')
