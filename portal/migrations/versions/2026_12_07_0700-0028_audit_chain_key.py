"""audit chain key: the key id of each event and of the chain's head, and the signed checkpoints

Issue 19 point 1: audit_events.key_id names the HMAC key an event's hash was made with (NULL: plain SHA-256, every
event written before this revision, left untouched); audit_chain_head.key_id is the key of the last event (NULL:
plain), so the first keyed write appends the "audit:chain:keyed" switch. audit_checkpoints holds the signed
statements of the head (their JSON is also in the document store); on PostgreSQL it is append-only like the chain.

Revision ID: 0028_audit_chain_key
Revises: 0027_approvals
Created: 2026-12-07 07:00:00
"""

import sqlalchemy as sa
from alembic import op

import portal.shared.dbtypes

revision = "0028_audit_chain_key"
down_revision = "0027_approvals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('audit_chain_head', schema=None) as batch_op:
        batch_op.add_column(sa.Column('key_id', sa.String(length=64), nullable=True))
    # ADD COLUMN only (no batch copy): on SQLite a copy would be a rewrite of every event; no row changes.
    op.add_column('audit_events', sa.Column('key_id', sa.String(length=64), nullable=True))
    op.create_table('audit_checkpoints',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('head_hash', sa.String(length=64), nullable=False),
    sa.Column('key_id', sa.String(length=64), nullable=True),
    sa.Column('created_at', portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
    sa.Column('public_key_fingerprint', sa.String(length=64), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('signature', sa.String(length=120), nullable=False),
    sa.Column('document_sha256', sa.String(length=64), nullable=False),
    sa.Column('made_by', sa.String(length=254), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_checkpoints'))
    )
    with op.batch_alter_table('audit_checkpoints', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_checkpoints_seq'), ['seq'], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE TRIGGER audit_checkpoints_no_update_delete BEFORE UPDATE OR DELETE ON audit_checkpoints "
            "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_checkpoints_no_update_delete ON audit_checkpoints")
    with op.batch_alter_table('audit_checkpoints', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_checkpoints_seq'))
    op.drop_table('audit_checkpoints')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_column('key_id')
    with op.batch_alter_table('audit_chain_head', schema=None) as batch_op:
        batch_op.drop_column('key_id')
