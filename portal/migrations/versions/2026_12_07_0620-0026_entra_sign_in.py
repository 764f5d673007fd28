"""entra_sign_in: an organization's link to its Microsoft Entra ID tenant (with its sign-in policy), and the one-time
state of each OpenID Connect round trip

Issue 18 points 6-7: entra_links holds the tenant an organization proved it administers (one organization per
tenant), just-in-time creation with its default role (never Master) and "require Microsoft sign-in".
entra_sign_in_states holds each authorization request's state (its SHA-256, used once), nonce and PKCE verifier.

Revision ID: 0026_entra_sign_in
Revises: 0025_webhooks
Created: 2026-12-07 06:20:00
"""

import sqlalchemy as sa
from alembic import op

import portal.shared.dbtypes

revision = "0026_entra_sign_in"
down_revision = "0025_webhooks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "entra_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("verified_at", portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("verified_by_id", sa.Integer(), nullable=True),
        sa.Column("admin_email", sa.String(length=254), nullable=False),
        sa.Column("jit_enabled", sa.Boolean(), nullable=False),
        sa.Column("jit_role", sa.String(length=20), nullable=False),
        sa.Column("require_microsoft", sa.Boolean(), nullable=False),
        sa.CheckConstraint("jit_role IN ('adm', 'cobranca', 'suporte')", name=op.f("ck_entra_links_jit_role_known")),
        sa.ForeignKeyConstraint(["organization_id"], ["organizations.id"],
                                name=op.f("fk_entra_links_organization_id_organizations")),
        sa.ForeignKeyConstraint(["verified_by_id"], ["users.id"], name=op.f("fk_entra_links_verified_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entra_links")),
        sa.UniqueConstraint("organization_id", name=op.f("uq_entra_links_organization_id")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_entra_links_tenant_id")),
    )
    op.create_table(
        "entra_sign_in_states",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("code_verifier", sa.String(length=128), nullable=False),
        sa.Column("purpose", sa.String(length=10), nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("linking_organization_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("next_url", sa.String(length=500), nullable=False),
        sa.Column("created_at", portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", portal.shared.dbtypes.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("purpose IN ('signin', 'link')", name=op.f("ck_entra_sign_in_states_purpose_known")),
        sa.ForeignKeyConstraint(["linking_organization_id"], ["organizations.id"],
                                name=op.f("fk_entra_sign_in_states_linking_organization_id_organizations")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_entra_sign_in_states_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entra_sign_in_states")),
        sa.UniqueConstraint("state_hash", name=op.f("uq_entra_sign_in_states_state_hash")),
    )
    with op.batch_alter_table("entra_sign_in_states", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_entra_sign_in_states_created_at"), ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("entra_sign_in_states", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_entra_sign_in_states_created_at"))
    op.drop_table("entra_sign_in_states")
    op.drop_table("entra_links")
