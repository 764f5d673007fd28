"""nfse substitution: a note cancelled by substitution points at the note that replaced it (issue 16, point 3)

A reissue under NFS-e Nacional sends the new DPS with subst/chSubstda; the Sefin cancels the old note when it
authorises the new one. fiscal_documents.substituted_by_id links the old note to the new.

Revision ID: 0019_nfse_substitution
Revises: 0018_nfse
Created: 2026-12-07 01:50:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0019_nfse_substitution'
down_revision = "0018_nfse"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('fiscal_documents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('substituted_by_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_fiscal_documents_substituted_by_id_fiscal_documents'),
                                    'fiscal_documents', ['substituted_by_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('fiscal_documents', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_fiscal_documents_substituted_by_id_fiscal_documents'),
                                 type_='foreignkey')
        batch_op.drop_column('substituted_by_id')
