"""document store: stored_documents becomes the index of documents kept in a database, filesystem or S3 backend

Issue 19 point 2: `backend` names where each document's bytes are ("database" for every existing row, whose BLOB
stays in `content`); `content` is NULL for documents kept elsewhere; `retain_until` is set for fiscal documents
(kept DOCUMENT_RETENTION_YEARS; an Object Lock retention on S3 buckets that have it).

Revision ID: 0029_document_store
Revises: 0028_audit_chain_key
Created: 2026-12-07 06:50:00
"""

import sqlalchemy as sa
from alembic import op

import portal.shared.dbtypes

revision = "0029_document_store"
down_revision = "0028_audit_chain_key"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('stored_documents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('backend', sa.String(length=16), server_default='database', nullable=False))
        batch_op.add_column(sa.Column('retain_until', portal.shared.dbtypes.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.alter_column('content', existing_type=sa.LargeBinary(), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table('stored_documents', schema=None) as batch_op:
        batch_op.alter_column('content', existing_type=sa.LargeBinary(), nullable=False)
        batch_op.drop_column('retain_until')
        batch_op.drop_column('backend')
