"""fiscal_documents.pdf_attempts: how many times a note stored without its DANFSe was asked for it again

The sweep asked for a missing DANFSe every 10 minutes without end (and, for São Paulo, whose web service has no
PDF, for every note): now at most `portal.billing.fiscal.MAX_PDF_ATTEMPTS` times, counted here.

Revision ID: 0030_fiscal_pdf_attempts
Revises: 0029_document_store
Created: 2026-12-07 15:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0030_fiscal_pdf_attempts"
down_revision = "0029_document_store"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("fiscal_documents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pdf_attempts", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("fiscal_documents", schema=None) as batch_op:
        batch_op.drop_column("pdf_attempts")
