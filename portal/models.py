"""Imports every room's models so the metadata is complete (Alembic, tests, the shell)."""

from portal.accounts.models import (  # noqa: F401
    Invitation,
    Membership,
    MembershipRole,
    Organization,
    RecoveryCode,
    StaffRoleGrant,
    User,
)
from portal.extensions import db  # noqa: F401
from portal.notifications.models import EmailDelivery  # noqa: F401
from portal.shared.audit import AuditChainHead, AuditEvent  # noqa: F401
