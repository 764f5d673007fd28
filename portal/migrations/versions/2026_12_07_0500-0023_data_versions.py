"""data_versions: each organization's data version (a token replaced at commit by every transaction that wrote its
rows), and the global one (scope 0: the catalog)

Issue 17 (the home's page budget): the home keeps what it read for an organization until one of these tokens
changes (portal/shared/data_versions.py). Existing organizations get a token here, so their homes are cached from
the first request.

Revision ID: 0023_data_versions
Revises: 0022_budgets
Created: 2026-12-07 05:00:00
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0023_data_versions"
down_revision = "0022_budgets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    versions = op.create_table(
        "data_versions",
        sa.Column("scope", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("scope", name=op.f("pk_data_versions")),
    )
    connection = op.get_bind()
    scopes = [0, *connection.execute(sa.text("SELECT id FROM organizations")).scalars()]
    op.bulk_insert(versions, [{"scope": scope, "token": secrets.token_hex(16)} for scope in scopes])


def downgrade() -> None:
    op.drop_table("data_versions")
