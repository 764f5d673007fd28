"""dunning schedule: the régua de cobrança's steps and who of each organization receives the reminders

Issue 15 point 8: dunning_steps holds the reminders finance schedules (days relative to the due date, unique,
each with its subject and message, active or not); it starts with the three reminders the portal sent before
(D−3, D+1, D+7, with their wording), so nothing changes for customers on upgrade. dunning_recipients holds the
Master's choice per user seat (no row: Master and Cobrança users receive them, as before).

Revision ID: 0011_dunning_schedule
Revises: 0010_pix_charges
Created: 2026-12-06 23:00:00
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import portal.shared.dbtypes

revision = '0011_dunning_schedule'
down_revision = '0010_pix_charges'
branch_labels = None
depends_on = None

# The wording of the reminders before this revision; {fatura}, {empresa}, {vencimento}, {valor} and {prazo}
# ("em 3 dias", "hoje", "ontem", "há 7 dias") are filled in for each invoice.
DEFAULT_STEPS = [
    (-3, "Lembrete: a fatura {fatura} vence {prazo}",
     "A fatura {fatura} de {empresa} vence {prazo}, em {vencimento}.\n"
     "Valor: {valor}. O boleto segue anexo; se já pagou, desconsidere este aviso."),
    (1, "A fatura {fatura} venceu {prazo}",
     "A fatura {fatura} de {empresa} venceu {prazo}, em {vencimento}, e ainda não identificamos o pagamento.\n"
     "Valor em aberto: {valor}.\n"
     "Se já pagou, desconsidere este aviso."),
    (7, "A fatura {fatura} está vencida {prazo}",
     "A fatura {fatura} de {empresa} está vencida {prazo}, desde {vencimento}, e ainda não identificamos o "
     "pagamento.\n"
     "Valor em aberto: {valor}.\n"
     "Se já pagou, desconsidere este aviso."),
]


def upgrade() -> None:
    steps = op.create_table('dunning_steps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('offset_days', sa.Integer(), nullable=False),
    sa.Column('subject', sa.String(length=150), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('updated_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_dunning_steps_updated_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dunning_steps')),
    sa.UniqueConstraint('offset_days', name='uq_dunning_steps_offset_days')
    )
    op.create_table('dunning_recipients',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('membership_id', sa.Integer(), nullable=False),
    sa.Column('receives', sa.Boolean(), nullable=False),
    sa.Column('updated_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['membership_id'], ['memberships.id'],
                            name=op.f('fk_dunning_recipients_membership_id_memberships')),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_dunning_recipients_updated_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dunning_recipients')),
    sa.UniqueConstraint('membership_id', name='uq_dunning_recipients_membership_id')
    )
    now = datetime.now(UTC)
    op.bulk_insert(steps, [{"offset_days": offset, "subject": subject, "message": message, "active": True,
                            "updated_at": now, "updated_by_id": None} for offset, subject, message in DEFAULT_STEPS])


def downgrade() -> None:
    op.drop_table('dunning_recipients')
    op.drop_table('dunning_steps')
