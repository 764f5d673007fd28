"""An organization's link to its Microsoft Entra ID tenant (with the sign-in policy), and the one-time state of each
OpenID Connect round trip."""

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.shared import clock
from portal.shared.dbtypes import UTCDateTime


class EntraLink(db.Model):
    """The tenant (GUID) an organization proved it administers; one organization per tenant."""

    __tablename__ = "entra_links"
    __table_args__ = (
        CheckConstraint("jit_role IN ('adm', 'cobranca', 'suporte')", name="jit_role_known"),  # never Master
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), unique=True)
    tenant_id: Mapped[str] = mapped_column(String(36), unique=True)  # lower-case GUID (the ID token's `tid`)
    verified_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    verified_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # the Master who linked it
    admin_email: Mapped[str] = mapped_column(String(254), default="")  # the tenant administrator who proved it
    # Just-in-time creation: an unknown e-mail of the tenant becomes a member with `jit_role`.
    jit_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    jit_role: Mapped[str] = mapped_column(String(20), default="suporte")
    # Password sign-in refused for every member but Masters (who always keep password + TOTP).
    require_microsoft: Mapped[bool] = mapped_column(Boolean, default=False)


class EntraSignInState(db.Model):
    """One authorization request: its `state` (stored as SHA-256, used once), `nonce` and PKCE verifier."""

    __tablename__ = "entra_sign_in_states"
    __organization_data__ = False  # no organization's read model reads it (data_versions)
    __table_args__ = (CheckConstraint("purpose IN ('signin', 'link')", name="purpose_known"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    nonce: Mapped[str] = mapped_column(String(64))
    code_verifier: Mapped[str] = mapped_column(String(128))
    purpose: Mapped[str] = mapped_column(String(10))
    tenant: Mapped[str] = mapped_column(String(64))  # the authority path used: "organizations" or a tenant id
    # A link: the organization being linked and the Master linking it.
    linking_organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    next_url: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
