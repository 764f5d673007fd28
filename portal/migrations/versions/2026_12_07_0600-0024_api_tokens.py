"""api_tokens: the REST API's bearer tokens (stored as SHA-256), their last use, and the Idempotency-Key answers

Issue 18 points 1–3: a Master creates tokens in "Integrações → Tokens de API" (or `flask api token create`), each
with roles no wider than its creator's, an optional expiry and allowed source networks; api_token_uses holds one
row per token with its last use (rewritten by every request); api_idempotent_requests holds the answer to a POST
sent with an Idempotency-Key, unique per token and key (the unique index makes a key act once under concurrency).

Revision ID: 0024_api_tokens
Revises: 0023_data_versions
Created: 2026-12-07 06:00:00
"""

import sqlalchemy as sa
from alembic import op

import portal.shared.dbtypes

revision = "0024_api_tokens"
down_revision = "0023_data_versions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("created_by_membership_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("roles", sa.String(length=80), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("allowed_ips", sa.String(length=500), nullable=False),
        sa.Column("created_at", portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["created_by_membership_id"], ["memberships.id"],
                                name=op.f("fk_api_tokens_created_by_membership_id_memberships")),
        sa.ForeignKeyConstraint(["organization_id"], ["organizations.id"],
                                name=op.f("fk_api_tokens_organization_id_organizations")),
        sa.ForeignKeyConstraint(["revoked_by_id"], ["users.id"], name=op.f("fk_api_tokens_revoked_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_tokens_organization_id"), ["organization_id"], unique=False)
    op.create_table(
        "api_token_uses",
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("last_used_at", portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_used_ip", sa.String(length=45), nullable=True),
        sa.ForeignKeyConstraint(["token_id"], ["api_tokens.id"], name=op.f("fk_api_token_uses_token_id_api_tokens")),
        sa.PrimaryKeyConstraint("token_id", name=op.f("pk_api_token_uses")),
    )
    op.create_table(
        "api_idempotent_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("created_at", portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("content_type", sa.String(length=100), nullable=True),
        sa.Column("headers", sa.Text(), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["token_id"], ["api_tokens.id"],
                                name=op.f("fk_api_idempotent_requests_token_id_api_tokens")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_idempotent_requests")),
        sa.UniqueConstraint("token_id", "key", name="uq_api_idempotent_requests_token_key"),
    )
    with op.batch_alter_table("api_idempotent_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_idempotent_requests_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_api_idempotent_requests_token_id"), ["token_id"], unique=False)


def downgrade() -> None:
    op.drop_table("api_idempotent_requests")
    op.drop_table("api_token_uses")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_organization_id"))
    op.drop_table("api_tokens")
