"""Organizations, users, memberships with their set of roles, staff roles, invitations, recovery codes."""

import secrets
from datetime import date, datetime
from enum import StrEnum

from flask_babel import lazy_gettext as _l
from flask_login import UserMixin
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ColumnElement,
    Date,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    func,
    or_,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.roles import Role, StaffRole
from portal.extensions import db
from portal.shared import clock, cnpj
from portal.shared.dbtypes import UTCDateTime


class OrganizationStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    RESCINDING = "rescinding"  # "em rescisão": contract ending, terms still running
    CLOSED = "closed"  # "encerrada"


ORGANIZATION_STATUS_LABELS = {
    OrganizationStatus.ACTIVE: _l("ativa"),
    OrganizationStatus.SUSPENDED: _l("suspensa"),
    OrganizationStatus.RESCINDING: _l("em rescisão"),
    OrganizationStatus.CLOSED: _l("encerrada"),
}


def _new_session_token() -> str:
    return secrets.token_hex(16)


class Organization(db.Model):
    __tablename__ = "organizations"
    __organization_data__ = "self"  # its own id is the organization
    __table_args__ = (
        CheckConstraint("billing_day BETWEEN 1 AND 31", name="billing_day_range"),
        CheckConstraint("status IN ('active', 'suspended', 'rescinding', 'closed')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    legal_name: Mapped[str] = mapped_column(String(200))  # razão social
    trade_name: Mapped[str] = mapped_column(String(200))  # nome fantasia
    # Compact upper-case form, 14 characters (numeric or alphanumeric); shown with the mask.
    cnpj: Mapped[str] = mapped_column(String(14), unique=True)
    street: Mapped[str] = mapped_column(String(200))
    number: Mapped[str] = mapped_column(String(20))
    complement: Mapped[str] = mapped_column(String(100), default="")
    district: Mapped[str] = mapped_column(String(100))
    city: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(2))  # UF
    postal_code: Mapped[str] = mapped_column(String(8))  # CEP, digits only
    city_code: Mapped[str] = mapped_column(String(7), default="")  # the city's IBGE code (the NFS-e's cMun)
    # Day of the month the organization is invoiced on (1–31; short months use their last day).
    billing_day: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default=OrganizationStatus.ACTIVE)
    # The customer's Microsoft tenant (Partner Center customer id); None until onboarded at Microsoft.
    microsoft_tenant_id: Mapped[str | None] = mapped_column(String(36))
    # "Inadimplente" since this business date (an invoice overdue past BILLING_DELINQUENT_AFTER_DAYS):
    # purchases and increases are refused until it is paid. None = in good standing.
    delinquent_since: Mapped[date | None] = mapped_column(Date)
    # A Master may require two-factor sign-in of every member.
    require_2fa: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    memberships: Mapped[list["Membership"]] = relationship(back_populates="organization")

    @property
    def display_name(self) -> str:
        return self.trade_name or self.legal_name

    @classmethod
    def matching(cls, text: str) -> ColumnElement[bool]:
        """Staff's organization search: `text` in the legal or trade name (any case), or in the CNPJ typed with
        or without its mask. `%` and `_` are taken literally."""
        lowered = text.strip().lower()
        found = [func.lower(cls.legal_name).contains(lowered, autoescape=True),
                 func.lower(cls.trade_name).contains(lowered, autoescape=True)]
        number = cnpj.compact(text)
        if number:
            found.append(cls.cnpj.contains(number, autoescape=True))
        return or_(*found)

    @property
    def status_label(self) -> str:
        return str(ORGANIZATION_STATUS_LABELS[OrganizationStatus(self.status)])


class User(UserMixin, db.Model):
    __tablename__ = "users"
    __organization_data__ = False  # no organization's read model reads it (data_versions)
    __table_args__ = (
        # Unique case-insensitively: the address is stored lower-cased and the database refuses anything else.
        CheckConstraint("email = lower(email)", name="email_lowercase"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(30), default="")
    # None until the user sets a password from an invitation link.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    is_staff: Mapped[bool] = mapped_column(Boolean, default=False)
    language: Mapped[str | None] = mapped_column(String(5))  # pt_BR / en; None follows the browser
    # "Minha conta": renewal reminders (30 and 7 days before "decidir até") for a Master or Adm; off = none.
    renewal_reminders: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # Base32 TOTP secret; set at enrolment, active once totp_enabled_at is set.
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The 30-second TOTP step of the last code accepted; a code of that step or earlier is a replay.
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    # Part of the login session id: changing it (password change, deactivation) logs out every session.
    session_token: Mapped[str] = mapped_column(String(32), default=_new_session_token)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    memberships: Mapped[list["Membership"]] = relationship(back_populates="user")
    staff_role_rows: Mapped[list["StaffRoleGrant"]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )

    # Flask-Login: the session stores "id:session_token", so rotating the token ends old sessions.
    def get_id(self) -> str:
        return f"{self.id}:{self.session_token}"

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def staff_roles(self) -> frozenset[StaffRole]:
        return frozenset(StaffRole(r.role) for r in self.staff_role_rows)

    @property
    def totp_enabled(self) -> bool:
        return self.totp_enabled_at is not None

    def rotate_session_token(self) -> None:
        self.session_token = _new_session_token()


class Membership(db.Model):
    """A user's seat in an organization, with a set of roles ⊆ {Master, Adm, Cobrança, Suporte}."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("user_id", "organization_id", name="uq_memberships_user_org"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    # None while the invitation is pending: the seat gives no access until accepted.
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(back_populates="memberships")
    organization: Mapped[Organization] = relationship(back_populates="memberships")
    role_rows: Mapped[list["MembershipRole"]] = relationship(
        back_populates="membership", cascade="all, delete-orphan"
    )
    invitations: Mapped[list["Invitation"]] = relationship(
        back_populates="membership", order_by="Invitation.id"
    )

    @property
    def roles(self) -> frozenset[Role]:
        return frozenset(Role(r.role) for r in self.role_rows)

    @property
    def is_usable(self) -> bool:
        """Gives access: active, accepted, and the user itself active."""
        return self.active and self.accepted_at is not None and self.user.active

    @property
    def pending_invitation(self) -> "Invitation | None":
        for invitation in reversed(self.invitations):
            if invitation.accepted_at is None and invitation.revoked_at is None:
                return invitation
        return None


class MembershipRole(db.Model):
    __tablename__ = "membership_roles"
    __organization_via__ = "membership_id"  # its organization is that row's (data_versions)
    __table_args__ = (
        CheckConstraint("role IN ('master', 'adm', 'cobranca', 'suporte')", name="role_known"),
    )

    membership_id: Mapped[int] = mapped_column(ForeignKey("memberships.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(20), primary_key=True)

    membership: Mapped[Membership] = relationship(back_populates="role_rows")


class StaffRoleGrant(db.Model):
    __tablename__ = "staff_roles"
    __organization_data__ = False  # no organization's read model reads it (data_versions)
    __table_args__ = (
        CheckConstraint(
            "role IN ('comercial', 'financeiro', 'suporte', 'compliance', 'admin')", name="role_known"
        ),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(20), primary_key=True)

    user: Mapped[User] = relationship(back_populates="staff_role_rows")


class Invitation(db.Model):
    """One e-mailed link to a membership; single use, expiring, revoked when re-sent."""

    __tablename__ = "invitations"
    __organization_via__ = "membership_id"  # its organization is that row's (data_versions)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    membership_id: Mapped[int] = mapped_column(ForeignKey("memberships.id"), index=True)
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    membership: Mapped[Membership] = relationship(back_populates="invitations")
    invited_by: Mapped[User | None] = relationship(foreign_keys=[invited_by_id])


class RecoveryCode(db.Model):
    """A single-use two-factor recovery code, stored as its SHA-256 (codes are 48 random bits)."""

    __tablename__ = "recovery_codes"
    __organization_data__ = False  # no organization's read model reads it (data_versions)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LoginSession(db.Model):
    """One sign-in: the cookie carries a random key whose SHA-256 is kept here, so the server can end exactly
    that session (logout) or all of a user's ("Sair de todos os dispositivos", password change or reset,
    deactivation); a copied cookie then stops working at once instead of at its 12-hour expiry."""

    __tablename__ = "login_sessions"
    __organization_data__ = False  # no organization's read model reads it (data_versions)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)  # hex SHA-256 of the cookie's key
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # None while the session is usable
    # Why it ended: logout, logout_all, password_changed, password_reset, deactivated, expired.
    end_reason: Mapped[str | None] = mapped_column(String(30))
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(300))


class ThrottleCounter(db.Model):
    """Attempts in the current fixed window of one rate limit for one key (an IP, an e-mail address, a user),
    shared by every web worker because it lives in the database. Expired rows are deleted as new hits come."""

    __tablename__ = "throttle_counters"
    __organization_data__ = False  # no organization's read model reads it (data_versions)

    # "<scope>:<kind>:<value>:<window seconds>", e.g. "login:ip:203.0.113.7:60"; values longer than the
    # column allows are hashed.
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger)  # epoch seconds, a multiple of the window
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)  # epoch seconds: window_start + window
    hits: Mapped[int] = mapped_column(Integer)
