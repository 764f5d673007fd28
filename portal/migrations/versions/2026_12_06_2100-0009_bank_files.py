"""bank files: CNAB 240 remessas and retornos, bank movements and occurrences, billing exceptions

Issue 15 points 1–2: every boleto's movement (entrada, baixa, alteração de vencimento) goes to the bank in one
remessa (NSA gapless per account, one file per account and business day); a retorno is imported once (by its
SHA-256) and each occurrence once (by the bank's own identity of it); what finance must look at becomes a
billing exception. Payments gain the juros/multa paid, the bank's fee and the credit date.

Revision ID: 0009_bank_files
Revises: 0008_onboarding_tenant
Created: 2026-12-06 21:00:00
"""

import sqlalchemy as sa
from alembic import op

import portal.shared.dbtypes

revision = '0009_bank_files'
down_revision = '0008_onboarding_tenant'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('remessas',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('bank', sa.String(length=3), nullable=False),
    sa.Column('agency', sa.String(length=10), nullable=False),
    sa.Column('account', sa.String(length=20), nullable=False),
    sa.Column('nsa', sa.Integer(), nullable=False),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('generated_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('generated_by_id', sa.Integer(), nullable=True),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('movement_count', sa.Integer(), nullable=False),
    sa.Column('entradas', sa.Integer(), nullable=False),
    sa.Column('baixas', sa.Integer(), nullable=False),
    sa.Column('total_cents', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['generated_by_id'], ['users.id'], name=op.f('fk_remessas_generated_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_remessas')),
    sa.UniqueConstraint('bank', 'agency', 'account', 'business_date', name='uq_remessas_account_day'),
    sa.UniqueConstraint('bank', 'agency', 'account', 'nsa', name='uq_remessas_account_nsa')
    )
    op.create_table('retorno_imports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('bank', sa.String(length=3), nullable=False),
    sa.Column('nsa', sa.Integer(), nullable=False),
    sa.Column('imported_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('imported_by_id', sa.Integer(), nullable=True),
    sa.Column('summary', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['imported_by_id'], ['users.id'], name=op.f('fk_retorno_imports_imported_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_retorno_imports')),
    sa.UniqueConstraint('sha256', name=op.f('uq_retorno_imports_sha256'))
    )
    op.create_table('bank_movements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('boleto_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('created_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('remessa_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("kind IN ('entrada', 'baixa', 'vencimento')", name=op.f('ck_bank_movements_kind_known')),
    sa.ForeignKeyConstraint(['boleto_id'], ['boletos.id'], name=op.f('fk_bank_movements_boleto_id_boletos')),
    sa.ForeignKeyConstraint(['remessa_id'], ['remessas.id'], name=op.f('fk_bank_movements_remessa_id_remessas')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bank_movements')),
    sa.UniqueConstraint('boleto_id', 'kind', name='uq_bank_movements_boleto_kind')
    )
    with op.batch_alter_table('bank_movements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bank_movements_remessa_id'), ['remessa_id'], unique=False)

    op.create_table('bank_occurrences',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('import_id', sa.Integer(), nullable=False),
    sa.Column('line', sa.Integer(), nullable=False),
    sa.Column('bank', sa.String(length=3), nullable=False),
    sa.Column('nosso_numero', sa.String(length=20), nullable=False),
    sa.Column('code', sa.String(length=2), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('face_value_cents', sa.Integer(), nullable=False),
    sa.Column('paid_cents', sa.Integer(), nullable=False),
    sa.Column('charges_cents', sa.Integer(), nullable=False),
    sa.Column('fee_cents', sa.Integer(), nullable=False),
    sa.Column('occurred_on', sa.Date(), nullable=True),
    sa.Column('credited_on', sa.Date(), nullable=True),
    sa.Column('boleto_id', sa.Integer(), nullable=True),
    sa.Column('payment_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['boleto_id'], ['boletos.id'], name=op.f('fk_bank_occurrences_boleto_id_boletos')),
    sa.ForeignKeyConstraint(['import_id'], ['retorno_imports.id'], name=op.f('fk_bank_occurrences_import_id_retorno_imports')),
    sa.ForeignKeyConstraint(['payment_id'], ['payments.id'], name=op.f('fk_bank_occurrences_payment_id_payments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bank_occurrences')),
    sa.UniqueConstraint('bank', 'nosso_numero', 'code', 'occurred_on', 'paid_cents', name='uq_bank_occurrences_identity')
    )
    with op.batch_alter_table('bank_occurrences', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bank_occurrences_import_id'), ['import_id'], unique=False)

    op.create_table('billing_exceptions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=True),
    sa.Column('boleto_id', sa.Integer(), nullable=True),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('created_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolved_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['boleto_id'], ['boletos.id'], name=op.f('fk_billing_exceptions_boleto_id_boletos')),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], name=op.f('fk_billing_exceptions_invoice_id_invoices')),
    sa.ForeignKeyConstraint(['resolved_by_id'], ['users.id'], name=op.f('fk_billing_exceptions_resolved_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_exceptions'))
    )
    with op.batch_alter_table('billing_exceptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_billing_exceptions_kind'), ['kind'], unique=False)

    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('interest_paid_cents', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('fee_cents', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('credited_on', sa.Date(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_column('credited_on')
        batch_op.drop_column('fee_cents')
        batch_op.drop_column('interest_paid_cents')

    with op.batch_alter_table('billing_exceptions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_billing_exceptions_kind'))

    op.drop_table('billing_exceptions')
    with op.batch_alter_table('bank_occurrences', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bank_occurrences_import_id'))

    op.drop_table('bank_occurrences')
    with op.batch_alter_table('bank_movements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bank_movements_remessa_id'))

    op.drop_table('bank_movements')
    op.drop_table('retorno_imports')
    op.drop_table('remessas')
