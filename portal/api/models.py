"""API tokens, their last use, and the Idempotency-Key answers kept for 24 hours."""

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import Membership
from portal.extensions import db
from portal.shared import clock
from portal.shared.dbtypes import UTCDateTime


class ApiToken(db.Model):
    """A bearer token of one organization, created by a Master; only its SHA-256 is stored.

    Its permissions are those of `roles` (no wider than the creator's at creation), narrowed at every use to the
    creator's current roles: a creator who loses a role, or leaves, takes it away from the token too."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    created_by_membership_id: Mapped[int] = mapped_column(ForeignKey("memberships.id"))
    name: Mapped[str] = mapped_column(String(80))
    roles: Mapped[str] = mapped_column(String(80))  # comma-separated Role values, e.g. "adm,cobranca"
    # Hex SHA-256 of the whole token text; the token itself is shown once and never stored.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # the token's first characters, to recognise it in the list
    # Source addresses or networks (CIDR) allowed, separated by spaces; "" allows every address.
    allowed_ips: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # None: until revoked
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    creator: Mapped[Membership] = relationship(foreign_keys=[created_by_membership_id])
    use: Mapped["ApiTokenUse | None"] = relationship(uselist=False, viewonly=True)

    @property
    def role_set(self) -> frozenset[str]:
        return frozenset(role for role in self.roles.split(",") if role)

    @property
    def networks(self) -> list[str]:
        return self.allowed_ips.split()


class ApiTokenUse(db.Model):
    """When and from where a token was last used: one row per token, rewritten by every request (kept apart
    from the token so a use renews no organization's data version)."""

    __tablename__ = "api_token_uses"
    __organization_data__ = False  # no organization's read model reads it (data_versions)

    token_id: Mapped[int] = mapped_column(ForeignKey("api_tokens.id"), primary_key=True)
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_ip: Mapped[str | None] = mapped_column(String(45))


class IdempotentRequest(db.Model):
    """A POST sent with an `Idempotency-Key`: claimed (unique per token and key) before the action runs, then
    holding the answer, which the same key and body get again for 24 hours; another body with it gets 422."""

    __tablename__ = "api_idempotent_requests"
    __organization_data__ = False  # no organization's read model reads it (data_versions)
    __table_args__ = (UniqueConstraint("token_id", "key", name="uq_api_idempotent_requests_token_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("api_tokens.id"), index=True)
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))  # hex SHA-256 of method, path and body
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    status_code: Mapped[int | None] = mapped_column(Integer)  # None while the first request runs
    content_type: Mapped[str | None] = mapped_column(String(100))
    headers: Mapped[str | None] = mapped_column(Text)  # JSON object of the answer's headers worth repeating
    body: Mapped[str | None] = mapped_column(Text)
