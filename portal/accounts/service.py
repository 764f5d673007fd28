"""Accounts verbs: sign-in and two-factor, passwords, invitations, roles, organizations, staff users.

Every function takes its inputs explicitly (an `Actor` says who and from where) and commits its own
unit of work together with its audit events; none reads the request or `current_user`.
"""

import functools
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

import pyotp
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import Integer, bindparam, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload
from werkzeug.security import check_password_hash, generate_password_hash

from portal import jobs
from portal.accounts import throttle
from portal.accounts.models import (
    Invitation,
    LoginSession,
    Membership,
    MembershipRole,
    Organization,
    RecoveryCode,
    StaffRoleGrant,
    User,
)
from portal.accounts.roles import Role, StaffPermission, StaffRole, grantable_roles, staff_permissions_for
from portal.extensions import db
from portal.notifications import service as notify
from portal.shared import clock, cnpj, tokens
from portal.shared.audit import Actor, AuditEvent, AuditTag, record
from portal.shared.errors import NotFound, PermissionDenied, ServiceError
from portal.shared.links import absolute_url

RESET_SALT = "password-reset"
INVITATION_SALT = "invitation"
RECOVERY_CODE_COUNT = 10


@functools.cache
def _dummy_hash(method: str) -> str:
    """A hash of a random password, made like real ones: unknown e-mails are checked against it so both
    answers take as long (a hash of another method would cost a different time and tell them apart)."""
    return generate_password_hash(secrets.token_hex(16), method=method)


# ---------------------------------------------------------------- e-mail, passwords

def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


def password_problems(password: str, *, email: str, name: str) -> list[str]:
    """Why `password` is refused (empty list when acceptable)."""
    problems = []
    minimum = current_app.config["PASSWORD_MIN_LENGTH"]
    if len(password) < minimum:
        problems.append(_("A senha precisa ter pelo menos %(n)d caracteres.", n=minimum))
    lowered = password.lower()
    local_part = normalize_email(email).partition("@")[0]
    personal = {local_part} | {part for part in (name or "").lower().split() if len(part) >= 3}
    if any(len(word) >= 3 and word in lowered for word in personal):
        problems.append(_("A senha não pode conter seu nome nem seu e-mail."))
    if password and len(set(password)) < 4:
        problems.append(_("A senha é repetitiva demais."))
    return problems


def _set_password(user: User, password: str) -> None:
    problems = password_problems(password, email=user.email, name=user.name)
    if problems:
        raise ServiceError(" ".join(problems), field="password")
    user.password_hash = generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])
    user.rotate_session_token()  # ends every other session and voids reset links


# ---------------------------------------------------------------- sign-in

def check_credentials(email: str, password: str, *, actor: Actor) -> User | None:
    """The user if e-mail and password match an active account; records a failure otherwise.

    Unknown e-mail, wrong password and inactive account look the same to the caller. Attempts are limited per
    IP and per attempted address (TooManyAttempts), in the database so every worker counts together.
    """
    throttle.hit("login", [(f"ip:{actor.ip or ''}", current_app.config["LOGIN_RATE_LIMIT"]),
                           (f"account:{normalize_email(email)}", current_app.config["LOGIN_ACCOUNT_RATE_LIMIT"])])
    user = db.session.execute(select(User).where(User.email == normalize_email(email))).scalar_one_or_none()
    if user is None or user.password_hash is None:
        check_password_hash(_dummy_hash(current_app.config["PASSWORD_HASH_METHOD"]), password)
        ok = False
    else:
        ok = check_password_hash(user.password_hash, password) and user.active
    if not ok:
        for organization_id in _member_organization_ids(user):
            record(
                AuditTag.LOGIN_FAILED,
                actor=actor,
                organization_id=organization_id,
                subject=f"user:{user.id}" if user else None,
                after={"email": normalize_email(email)[:254]},
            )
        db.session.commit()
        return None
    return user


def needs_second_factor(user: User) -> bool:
    """Staff always; a customer user who enrolled, or whose organization requires it."""
    if user.is_staff or user.totp_enabled:
        return True
    return any(m.is_usable and m.organization.require_2fa for m in user.memberships)


def _member_organization_ids(user: User | None) -> list[int | None]:
    """Where a sign-in event belongs: each organization the user can enter (its Masters see it in
    "Histórico"), or none for staff and strangers."""
    ids = sorted(m.organization_id for m in user.memberships if m.is_usable) if user is not None else []
    return ids or [None]


def complete_login(user: User, *, actor: Actor, method: str = "password") -> str:
    """Record the sign-in and open its server-side session; returns the key the session cookie carries.
    `method`: "password" (with or without TOTP) or "microsoft" (Entra ID, portal/entra), kept in the event."""
    user.last_login_at = clock.now()
    key = open_session(user, actor=actor)
    for organization_id in _member_organization_ids(user):
        record(AuditTag.LOGIN_SUCCEEDED, actor=actor, organization_id=organization_id, subject=f"user:{user.id}",
               after={"method": method} if method != "password" else None)
    db.session.commit()
    return key


# ---------------------------------------------------------------- sessions

def open_session(user: User, *, actor: Actor | None = None) -> str:
    """A new server-side session of `user` (not committed); returns its key, which only the cookie keeps. Every
    cookie must carry an open session's key (accounts.context.load_user)."""
    now = clock.now()
    key = secrets.token_urlsafe(32)
    # Sessions older than the cookie's absolute lifetime are over whatever their row says: forget them.
    oldest = now - current_app.config["PERMANENT_SESSION_LIFETIME"]
    db.session.execute(delete(LoginSession).where(LoginSession.user_id == user.id, LoginSession.created_at < oldest))
    db.session.add(LoginSession(user_id=user.id, key_hash=_session_key_hash(key), created_at=now,
                                ip=actor.ip if actor else None,
                                user_agent=((actor.user_agent or "")[:300] or None) if actor else None))
    db.session.flush()
    return key


def _session_key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def session_is_open(user: User, key: str) -> bool:
    """The session `key` (from a signed cookie) was opened by `user` and has not been ended."""
    return db.session.scalar(
        select(LoginSession.id).where(LoginSession.key_hash == _session_key_hash(key),
                                      LoginSession.user_id == user.id, LoginSession.ended_at.is_(None))
    ) is not None


def _end_sessions(user: User, reason: str, *, keep: str | None = None) -> int:
    """End every open session of `user` (but the one whose key is `keep`) and rotate the token every cookie
    carries, so even a cookie the table does not know stops working. Not committed; returns how many ended."""
    condition = [LoginSession.user_id == user.id, LoginSession.ended_at.is_(None)]
    if keep is not None:
        condition.append(LoginSession.key_hash != _session_key_hash(keep))
    ended = db.session.execute(
        update(LoginSession).where(*condition).values(ended_at=clock.now(), end_reason=reason)
        .execution_options(synchronize_session=False)
    ).rowcount
    user.rotate_session_token()
    return ended


def end_session(key: str, *, reason: str) -> None:
    """End one session by its key (an idle or too old session found by the request that carried it)."""
    db.session.execute(
        update(LoginSession).where(LoginSession.key_hash == _session_key_hash(key), LoginSession.ended_at.is_(None))
        .values(ended_at=clock.now(), end_reason=reason).execution_options(synchronize_session=False)
    )
    db.session.commit()


def logout(user: User, session_key: str, *, actor: Actor) -> None:
    """"Sair": this session ends on the server, so a copy of its cookie is refused from now on (every signed-in
    cookie names its session: accounts.context.load_user)."""
    db.session.execute(
        update(LoginSession)
        .where(LoginSession.key_hash == _session_key_hash(session_key), LoginSession.user_id == user.id,
               LoginSession.ended_at.is_(None))
        .values(ended_at=clock.now(), end_reason="logout").execution_options(synchronize_session=False)
    )
    for organization_id in _member_organization_ids(user):
        record(AuditTag.LOGOUT, actor=actor, organization_id=organization_id, subject=f"user:{user.id}")
    db.session.commit()


def end_all_sessions(user: User, *, actor: Actor) -> int:
    """"Sair de todos os dispositivos": every session of the user ends, this one included."""
    ended = _end_sessions(user, "logout_all")
    record(AuditTag.SESSIONS_ENDED, actor=actor, subject=f"user:{user.id}", after={"sessions": ended})
    db.session.commit()
    return ended


# ---------------------------------------------------------------- two-factor (TOTP)

def totp_uri(user: User) -> str:
    return pyotp.TOTP(user.totp_secret).provisioning_uri(
        name=user.email, issuer_name=current_app.config["TOTP_ISSUER"]
    )


def start_totp_enrolment(user: User) -> str:
    """A new secret, kept on the user but not active until a code from it is confirmed."""
    if user.totp_enabled:
        raise ServiceError(_("A verificação em duas etapas já está ativa."))
    user.totp_secret = pyotp.random_base32()
    db.session.commit()
    return user.totp_secret


def _totp_step(secret: str, code: str) -> int | None:
    """The 30-second time step `code` belongs to (now, or one step either side for clock drift), else None."""
    code = "".join(c for c in code if c.isdigit())
    if len(code) != 6:
        return None
    totp = pyotp.TOTP(secret)
    for offset in (0, -1, 1):
        moment = clock.now() + timedelta(seconds=offset * totp.interval)
        if hmac.compare_digest(totp.at(moment), code):
            return totp.timecode(moment)
    return None


def _spend_totp(user: User, code: str) -> bool:
    """True once per code: a step at or before the last one accepted is a replay (RFC 6238 §5.2).

    The step is recorded by one conditional UPDATE, not read-then-write: of several requests sending the same
    code at once, the database lets exactly one change the row (PostgreSQL re-checks the WHERE of the others
    once the winner commits; SQLite runs them one after the other) and the rest find 0 rows updated.
    """
    step = _totp_step(user.totp_secret, code) if user.totp_secret else None
    if step is None:
        return False
    spent = db.session.execute(
        update(User)
        .where(User.id == user.id, or_(User.totp_last_step.is_(None), User.totp_last_step < step))
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(user, ["totp_last_step"])
    return spent == 1


def _new_recovery_codes(user: User) -> list[str]:
    db.session.execute(
        RecoveryCode.__table__.delete().where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    )
    codes = [f"{secrets.token_hex(3)}-{secrets.token_hex(3)}" for _ in range(RECOVERY_CODE_COUNT)]
    for code in codes:
        db.session.add(RecoveryCode(user_id=user.id, code_hash=_hash_code(code)))
    return codes


def _hash_code(code: str) -> str:
    return hashlib.sha256(code.strip().lower().encode()).hexdigest()


def _count_second_factor_attempt(user: User, actor: Actor) -> None:
    """Six digits are guessable: attempts are limited per IP and per account, like passwords."""
    throttle.hit("second_factor", [(f"ip:{actor.ip or ''}", current_app.config["LOGIN_RATE_LIMIT"]),
                                   (f"account:{user.id}", current_app.config["LOGIN_ACCOUNT_RATE_LIMIT"])])


def confirm_totp_enrolment(user: User, code: str, *, actor: Actor) -> list[str]:
    """Activate the pending secret if `code` is right; returns the recovery codes (shown once)."""
    if not user.totp_secret or user.totp_enabled:
        raise ServiceError(_("Comece a configuração da verificação em duas etapas novamente."))
    _count_second_factor_attempt(user, actor)
    if not _spend_totp(user, code):
        raise ServiceError(_("Código inválido. Confira o relógio do celular e tente de novo."), field="code")
    user.totp_enabled_at = clock.now()
    codes = _new_recovery_codes(user)
    record(AuditTag.TWO_FACTOR_ENABLED, actor=actor, subject=f"user:{user.id}")
    db.session.commit()
    return codes


def verify_second_factor(user: User, code: str, *, actor: Actor) -> bool:
    """A current TOTP code, or an unused recovery code (which is then spent)."""
    _count_second_factor_attempt(user, actor)
    code = (code or "").strip()
    if user.totp_enabled and _spend_totp(user, code):
        db.session.commit()
        return True
    # Spent by a conditional UPDATE (used_at still empty), so two requests sending the same code at once
    # cannot both find it unused: exactly one changes the row.
    spent = db.session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == _hash_code(code),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=clock.now())
        .execution_options(synchronize_session=False)
    ).rowcount
    if spent:
        record(AuditTag.RECOVERY_CODE_USED, actor=actor, subject=f"user:{user.id}")
        db.session.commit()
        return True
    record(AuditTag.TWO_FACTOR_FAILED, actor=actor, subject=f"user:{user.id}")
    db.session.commit()
    return False


def remaining_recovery_codes(user: User) -> int:
    return db.session.scalar(
        select(func.count()).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    )


def regenerate_recovery_codes(user: User, *, actor: Actor) -> list[str]:
    if not user.totp_enabled:
        raise ServiceError(_("Ative a verificação em duas etapas primeiro."))
    codes = _new_recovery_codes(user)
    record(AuditTag.RECOVERY_CODES_REGENERATED, actor=actor, subject=f"user:{user.id}")
    db.session.commit()
    return codes


def disable_totp(user: User, password: str, *, actor: Actor) -> None:
    if user.is_staff:
        raise ServiceError(_("A verificação em duas etapas é obrigatória para a equipe."))
    if any(m.is_usable and m.organization.require_2fa for m in user.memberships):
        raise ServiceError(_("Sua organização exige a verificação em duas etapas."))
    if not user.password_hash or not check_password_hash(user.password_hash, password):
        raise ServiceError(_("Senha incorreta."), field="password")
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    db.session.execute(RecoveryCode.__table__.delete().where(RecoveryCode.user_id == user.id))
    record(AuditTag.TWO_FACTOR_DISABLED, actor=actor, subject=f"user:{user.id}")
    db.session.commit()


# ---------------------------------------------------------------- passwords

def _reset_fingerprint(user: User) -> str:
    # Changes whenever the password (or session token) changes, so a used link stops working.
    return hashlib.sha256(f"{user.password_hash}:{user.session_token}".encode()).hexdigest()[:20]


def request_password_reset(email: str, *, actor: Actor) -> None:
    """"Esqueci minha senha": queue the look-up and the e-mail as a job, whether or not the address is an
    account, so the answer takes the same time and says nothing either way. Limited per IP and per address."""

    address = normalize_email(email)[:254]
    throttle.hit("password_reset", [(f"ip:{actor.ip or ''}", current_app.config["LOGIN_RATE_LIMIT"]),
                                    (f"account:{address}", current_app.config["LOGIN_ACCOUNT_RATE_LIMIT"])])
    jobs.enqueue("accounts.send_password_reset", address, actor.ip, actor.user_agent)
    db.session.commit()


def send_password_reset(email: str, *, actor: Actor) -> bool:
    """The job's work: e-mail a reset link (on BASE_URL) if `email` is an active account with a password, at
    most PASSWORD_RESET_PER_ADDRESS_PER_HOUR times an hour (a sliding hour, counted from the audit trail with
    the user's row locked, so two consumers cannot both send the last one). True when an e-mail was queued."""
    user = db.session.execute(
        select(User).where(User.email == normalize_email(email)).with_for_update()
    ).scalar_one_or_none()
    if user is None or not user.active or user.password_hash is None:
        db.session.commit()
        return False
    sent_last_hour = db.session.scalar(select(func.count()).where(
        AuditEvent.tag == AuditTag.PASSWORD_RESET_REQUESTED, AuditEvent.subject == f"user:{user.id}",
        AuditEvent.created_at > clock.now() - timedelta(hours=1)))
    if sent_last_hour >= current_app.config["PASSWORD_RESET_PER_ADDRESS_PER_HOUR"]:
        record(AuditTag.PASSWORD_RESET_THROTTLED, actor=actor, subject=f"user:{user.id}")
        db.session.commit()
        return False
    token = tokens.dumps({"u": user.id, "f": _reset_fingerprint(user)}, salt=RESET_SALT)
    max_age = current_app.config["PASSWORD_RESET_MAX_AGE"]
    notify.password_reset(user=user, url=absolute_url("accounts.reset_password", token=token),
                          max_age_minutes=max_age // 60)
    record(AuditTag.PASSWORD_RESET_REQUESTED, actor=actor, subject=f"user:{user.id}")
    db.session.commit()
    return True


def user_for_reset_token(token: str) -> User:
    """The user a reset link belongs to, or ServiceError saying why it cannot be used."""
    try:
        payload = tokens.loads(token, salt=RESET_SALT, max_age=current_app.config["PASSWORD_RESET_MAX_AGE"])
    except tokens.InvalidToken as exc:
        if exc.expired:
            raise ServiceError(_("Este link de redefinição expirou. Peça um novo.")) from exc
        raise ServiceError(_("Este link de redefinição não é válido.")) from exc
    user = db.session.get(User, payload.get("u")) if isinstance(payload, dict) else None
    if user is None or not user.active or payload.get("f") != _reset_fingerprint(user):
        raise ServiceError(_("Este link de redefinição já foi usado ou não é mais válido."))
    return user


def reset_password(token: str, new_password: str, *, actor: Actor) -> User:
    user = user_for_reset_token(token)
    _set_password(user, new_password)
    ended = _end_sessions(user, "password_reset")  # whoever knew the old password is signed out everywhere
    record(AuditTag.PASSWORD_RESET, actor=actor, subject=f"user:{user.id}", after={"sessions_ended": ended})
    notify.password_changed(user=user)
    db.session.commit()
    return user


def change_password(user: User, current: str, new: str, *, actor: Actor, keep_session: str | None = None) -> None:
    """A new password; every other session ends (`keep_session`: the key of the one that asked, kept)."""
    if not user.password_hash or not check_password_hash(user.password_hash, current):
        raise ServiceError(_("Senha atual incorreta."), field="current_password")
    _set_password(user, new)
    ended = _end_sessions(user, "password_changed", keep=keep_session)
    record(AuditTag.PASSWORD_CHANGED, actor=actor, subject=f"user:{user.id}", after={"sessions_ended": ended})
    notify.password_changed(user=user)
    db.session.commit()


def update_profile(user: User, *, name: str, phone: str, language: str | None, actor: Actor,
                   renewal_reminders: bool | None = None) -> None:
    """`renewal_reminders`: None leaves the choice as it is (staff have none)."""
    before = {"name": user.name, "phone": user.phone, "language": user.language}
    reminders_before = user.renewal_reminders
    if language and language not in current_app.config["LANGUAGES"]:
        raise ServiceError(_("Idioma desconhecido."), field="language")
    user.name, user.phone, user.language = name.strip(), phone.strip(), language or None
    if renewal_reminders is not None:
        user.renewal_reminders = bool(renewal_reminders)
    after = {"name": user.name, "phone": user.phone, "language": user.language}
    if user.renewal_reminders != reminders_before:
        before["renewal_reminders"], after["renewal_reminders"] = reminders_before, user.renewal_reminders
    if before != after:
        record(AuditTag.PROFILE_UPDATED, actor=actor, subject=f"user:{user.id}", before=before, after=after)
    db.session.commit()


# ---------------------------------------------------------------- memberships and roles

def usable_memberships(user: User) -> list[Membership]:
    return sorted(
        (m for m in user.memberships if m.is_usable), key=lambda m: m.organization.display_name.lower()
    )


def _active_masters(organization_id: int) -> list[Membership]:
    rows = db.session.execute(
        select(Membership)
        .join(MembershipRole)
        .join(User, User.id == Membership.user_id)
        .where(
            Membership.organization_id == organization_id,
            Membership.active.is_(True),
            Membership.accepted_at.is_not(None),
            User.active.is_(True),
            MembershipRole.role == Role.MASTER,
        )
    )
    return list(rows.scalars())


def _check_roles(roles: set[Role], *, actor_membership: Membership) -> None:
    if not roles:
        raise ServiceError(_("Escolha pelo menos um papel."), field="roles")
    lacking = roles - grantable_roles(actor_membership.roles)
    if lacking:
        raise PermissionDenied(_("Você não pode conceder um papel que não tem."), field="roles")


def _require_manager(actor_membership: Membership, organization: Organization) -> None:
    if actor_membership.organization_id != organization.id or not grantable_roles(actor_membership.roles):
        raise PermissionDenied(_("Apenas o Master gerencia usuários."))


def _would_leave_no_master(membership: Membership, *, keeps_master: bool) -> bool:
    if keeps_master or Role.MASTER not in membership.roles or not membership.is_usable:
        return False
    # Two Masters demoting each other at once must not both see "another Master remains": the
    # organization row is locked until this transaction ends (SQLite's write lock does the same).
    db.session.execute(
        select(Organization.id).where(Organization.id == membership.organization_id).with_for_update()
    )
    return [m.id for m in _active_masters(membership.organization_id)] == [membership.id]


def _roles_snapshot(membership: Membership) -> list[str]:
    return sorted(membership.roles)


def change_roles(membership: Membership, roles: set[Role], *, actor: Actor, actor_membership: Membership) -> None:
    _require_manager(actor_membership, membership.organization)
    _check_roles(roles, actor_membership=actor_membership)
    if _would_leave_no_master(membership, keeps_master=Role.MASTER in roles):
        raise ServiceError(_("A organização precisa de pelo menos um Master ativo."), field="roles")
    before = _roles_snapshot(membership)
    membership.role_rows = [MembershipRole(role=str(r)) for r in sorted(roles)]
    db.session.flush()
    after = _roles_snapshot(membership)
    if before != after:
        record(
            AuditTag.ROLES_CHANGED, actor=actor, organization_id=membership.organization_id,
            subject=f"membership:{membership.id}", before={"roles": before}, after={"roles": after},
        )
    db.session.commit()


def deactivate_membership(membership: Membership, *, actor: Actor, actor_membership: Membership) -> None:
    _require_manager(actor_membership, membership.organization)
    if not membership.active:
        return
    if _would_leave_no_master(membership, keeps_master=False):
        raise ServiceError(_("A organização precisa de pelo menos um Master ativo."))
    membership.active = False
    invitation = membership.pending_invitation
    if invitation is not None:
        invitation.revoked_at = clock.now()
    record(
        AuditTag.MEMBERSHIP_DEACTIVATED, actor=actor, organization_id=membership.organization_id,
        subject=f"membership:{membership.id}", before={"active": True}, after={"active": False},
    )
    # Signed in right now, the person is signed out at once (of every organization: they sign in again).
    ended = _end_sessions(membership.user, "deactivated")
    if ended:
        record(AuditTag.SESSIONS_ENDED, actor=actor, organization_id=membership.organization_id,
               subject=f"user:{membership.user_id}", after={"sessions": ended, "reason": "deactivated"})
    db.session.commit()


def reactivate_membership(membership: Membership, *, actor: Actor, actor_membership: Membership) -> None:
    _require_manager(actor_membership, membership.organization)
    _check_roles(set(membership.roles), actor_membership=actor_membership)
    if membership.active:
        return
    membership.active = True
    record(
        AuditTag.MEMBERSHIP_REACTIVATED, actor=actor, organization_id=membership.organization_id,
        subject=f"membership:{membership.id}", before={"active": False}, after={"active": True},
    )
    db.session.commit()


def set_require_2fa(organization: Organization, required: bool, *, actor: Actor,
                    actor_membership: Membership) -> None:
    _require_manager(actor_membership, organization)
    if organization.require_2fa == required:
        return
    record(
        AuditTag.ORGANIZATION_SECURITY_CHANGED, actor=actor, organization_id=organization.id,
        subject=f"organization:{organization.id}",
        before={"require_2fa": organization.require_2fa}, after={"require_2fa": required},
    )
    organization.require_2fa = required
    db.session.commit()


# ---------------------------------------------------------------- invitations

def _issue_invitation(membership: Membership, *, invited_by: User | None, url_for_token) -> Invitation:
    invitation = Invitation(
        membership=membership,
        invited_by_id=invited_by.id if invited_by else None,
        created_at=clock.now(),
        expires_at=clock.now() + timedelta(seconds=current_app.config["INVITATION_MAX_AGE"]),
    )
    db.session.add(invitation)
    db.session.flush()
    token = tokens.dumps({"i": invitation.id}, salt=INVITATION_SALT)
    notify.invitation(invitation=invitation, url=url_for_token(token))
    return invitation


def _find_or_create_invitee(email: str, name: str) -> User:
    email = normalize_email(email)
    user = db.session.execute(select(User).where(User.email == email)).scalar_one_or_none()
    if user is None:
        user = User(email=email, name=name.strip() or email.partition("@")[0], password_hash=None)
        db.session.add(user)
        db.session.flush()
    elif user.is_staff:
        raise ServiceError(_("Este e-mail pertence à equipe e não pode ser membro de um cliente."), field="email")
    return user


def invite_member(organization: Organization, *, email: str, name: str, roles: set[Role], actor: Actor,
                  actor_membership: Membership, url_for_token) -> Invitation:
    _require_manager(actor_membership, organization)
    _check_roles(roles, actor_membership=actor_membership)
    user = _find_or_create_invitee(email, name)
    existing = db.session.execute(
        select(Membership).where(Membership.user_id == user.id, Membership.organization_id == organization.id)
    ).scalar_one_or_none()
    if existing is not None:
        raise ServiceError(_("%(email)s já é usuário desta organização.", email=user.email), field="email")
    membership = Membership(user=user, organization=organization, active=True)
    membership.role_rows = [MembershipRole(role=str(r)) for r in sorted(roles)]
    db.session.add(membership)
    db.session.flush()
    invitation = _issue_invitation(membership, invited_by=actor.user, url_for_token=url_for_token)
    record(
        AuditTag.INVITATION_SENT, actor=actor, organization_id=organization.id,
        subject=f"membership:{membership.id}", after={"email": user.email, "roles": _roles_snapshot(membership)},
    )
    db.session.commit()
    return invitation


def resend_invitation(membership: Membership, *, actor: Actor, actor_membership: Membership,
                      url_for_token) -> Invitation:
    _require_manager(actor_membership, membership.organization)
    if membership.accepted_at is not None:
        raise ServiceError(_("Este usuário já aceitou o convite."))
    if not membership.active:
        raise ServiceError(_("Reative o usuário antes de reenviar o convite."))
    for old in membership.invitations:
        if old.accepted_at is None and old.revoked_at is None:
            old.revoked_at = clock.now()  # only the newest link works
    invitation = _issue_invitation(membership, invited_by=actor.user, url_for_token=url_for_token)
    record(
        AuditTag.INVITATION_RESENT, actor=actor, organization_id=membership.organization_id,
        subject=f"membership:{membership.id}", after={"email": membership.user.email},
    )
    db.session.commit()
    return invitation


def invitation_for_token(token: str) -> Invitation:
    try:
        payload = tokens.loads(token, salt=INVITATION_SALT, max_age=None)
    except tokens.InvalidToken as exc:
        raise ServiceError(_("Este link de convite não é válido.")) from exc
    invitation = db.session.get(Invitation, payload.get("i")) if isinstance(payload, dict) else None
    if invitation is None:
        raise ServiceError(_("Este link de convite não é válido."))
    if invitation.accepted_at is not None:
        raise ServiceError(_("Este convite já foi usado. Entre com seu e-mail e senha."))
    if invitation.revoked_at is not None or not invitation.membership.active:
        raise ServiceError(_("Este convite foi cancelado ou substituído por um mais recente."))
    if invitation.expires_at <= clock.now():
        raise ServiceError(_("Este convite expirou. Peça ao Master da sua organização para reenviá-lo."))
    return invitation


def accept_invitation(token: str, *, actor: Actor, user: User | None = None, name: str = "",
                      phone: str = "", password: str = "") -> User:
    """A new user sets name and password; an existing user (signed in as the invitee) just accepts."""
    invitation = invitation_for_token(token)
    membership = invitation.membership
    invitee = membership.user
    if invitee.password_hash is None:
        if not name.strip():
            raise ServiceError(_("Informe seu nome."), field="name")
        invitee.name, invitee.phone = name.strip(), phone.strip()
        _set_password(invitee, password)
    elif user is None or user.id != invitee.id:
        raise PermissionDenied(_("Entre com a conta %(email)s para aceitar este convite.", email=invitee.email))
    now = clock.now()
    invitation.accepted_at = now
    membership.accepted_at = now
    record(
        AuditTag.INVITATION_ACCEPTED, actor=Actor(user=invitee, label=invitee.email, ip=actor.ip,
                                                  user_agent=actor.user_agent),
        organization_id=membership.organization_id, subject=f"membership:{membership.id}",
    )
    db.session.commit()
    return invitee


# ---------------------------------------------------------------- organizations (staff)

@dataclass(frozen=True)
class OrganizationData:
    legal_name: str
    trade_name: str
    cnpj: str
    street: str
    number: str
    complement: str
    district: str
    city: str
    state: str
    postal_code: str
    billing_day: int


def _require_staff(actor: Actor, role: StaffRole) -> None:
    user = actor.user
    if user is None or not user.is_staff or not ({role, StaffRole.ADMIN} & user.staff_roles):
        raise PermissionDenied(_("Apenas a equipe autorizada pode fazer isso."))


def create_organization(data: OrganizationData, *, master_email: str, master_name: str, actor: Actor,
                        url_for_token) -> Organization:
    """Staff admin creates a customer organization and invites its first Master."""
    _require_staff(actor, StaffRole.ADMIN)
    organization = _new_organization(data, master_email=master_email, master_name=master_name, actor=actor,
                                     url_for_token=url_for_token)
    db.session.commit()
    return organization


def create_approved_customer(data: OrganizationData, *, master_email: str, master_name: str, actor: Actor,
                             url_for_token) -> Organization:
    """The onboarding approval (financeiro, `pipeline:approve`) creates the customer and invites its first Master.

    Joins the caller's transaction: the approval commits it together with the subscriptions and the stage change.
    """
    user = actor.user
    if user is None or not user.is_staff or StaffPermission.PIPELINE_APPROVE not in staff_permissions_for(
            user.staff_roles):
        raise PermissionDenied(_("Apenas a equipe autorizada pode fazer isso."))
    return _new_organization(data, master_email=master_email, master_name=master_name, actor=actor,
                             url_for_token=url_for_token)


def _new_organization(data: OrganizationData, *, master_email: str, master_name: str, actor: Actor,
                      url_for_token) -> Organization:
    """The organization, its first Master's membership and invitation, and their audit events (not committed)."""
    number = cnpj.compact(data.cnpj)
    if not cnpj.is_valid(number):
        raise ServiceError(_("CNPJ inválido."), field="cnpj")
    if db.session.execute(select(Organization.id).where(Organization.cnpj == number)).first():
        raise ServiceError(_("Já existe uma organização com este CNPJ."), field="cnpj")
    if not 1 <= data.billing_day <= 31:
        raise ServiceError(_("O dia de faturamento vai de 1 a 31."), field="billing_day")
    organization = Organization(
        legal_name=data.legal_name.strip(), trade_name=data.trade_name.strip(), cnpj=number,
        street=data.street.strip(), number=data.number.strip(), complement=data.complement.strip(),
        district=data.district.strip(), city=data.city.strip(), state=data.state.strip().upper(),
        postal_code="".join(c for c in data.postal_code if c.isdigit()), billing_day=data.billing_day,
    )
    db.session.add(organization)
    try:
        db.session.flush()
    except IntegrityError as exc:  # a concurrent creation with the same CNPJ
        db.session.rollback()
        raise ServiceError(_("Já existe uma organização com este CNPJ."), field="cnpj") from exc
    user = _find_or_create_invitee(master_email, master_name)
    membership = Membership(user=user, organization=organization, active=True)
    membership.role_rows = [MembershipRole(role=Role.MASTER)]
    db.session.add(membership)
    db.session.flush()
    record(
        AuditTag.ORGANIZATION_CREATED, actor=actor, organization_id=organization.id,
        subject=f"organization:{organization.id}",
        after={"legal_name": organization.legal_name, "cnpj": organization.cnpj, "master": user.email},
    )
    _issue_invitation(membership, invited_by=actor.user, url_for_token=url_for_token)
    record(
        AuditTag.INVITATION_SENT, actor=actor, organization_id=organization.id,
        subject=f"membership:{membership.id}", after={"email": user.email, "roles": [Role.MASTER.value]},
    )
    return organization


def create_staff_user(*, email: str, name: str, roles: set[StaffRole], password: str, actor: Actor) -> User:
    """A staff user (no organization). Used by staff admin and by `flask staff create` (system actor)."""
    if actor.user is not None:
        _require_staff(actor, StaffRole.ADMIN)
    if not roles:
        raise ServiceError(_("Escolha pelo menos um papel."), field="roles")
    email = normalize_email(email)
    if db.session.execute(select(User.id).where(User.email == email)).first():
        raise ServiceError(_("Já existe um usuário com este e-mail."), field="email")
    user = User(email=email, name=name.strip(), is_staff=True)
    user.staff_role_rows = [StaffRoleGrant(role=str(r)) for r in sorted(roles)]
    _set_password(user, password)
    db.session.add(user)
    db.session.flush()
    record(AuditTag.STAFF_USER_CREATED, actor=actor, subject=f"user:{user.id}",
           after={"email": email, "roles": sorted(roles)})
    db.session.commit()
    return user


def get_membership_in(organization: Organization, membership_id: int) -> Membership:
    """A membership of `organization`; another organization's (or none) is NotFound."""
    membership = db.session.execute(
        select(Membership).where(Membership.id == membership_id, Membership.organization_id == organization.id)
    ).scalar_one_or_none()
    if membership is None:
        raise NotFound(_("Usuário não encontrado."))
    return membership


def set_microsoft_tenant(organization: Organization, tenant_id: str, *, actor: Actor) -> None:
    """Record the customer's Microsoft tenant (its Partner Center customer id, a GUID); empty clears it."""
    _require_staff(actor, StaffRole.ADMIN)
    value = (tenant_id or "").strip().lower()
    if value:
        try:
            value = str(uuid.UUID(value))
        except ValueError as exc:
            raise ServiceError(_("Informe o ID do tenant no formato GUID (8-4-4-4-12 caracteres hexadecimais)."),
                               field="tenant_id") from exc
        taken = db.session.scalar(select(Organization.id).where(Organization.microsoft_tenant_id == value,
                                                                Organization.id != organization.id))
        if taken:
            raise ServiceError(_("Este tenant já está ligado a outra organização."), field="tenant_id")
    before = organization.microsoft_tenant_id
    if before == (value or None):
        return
    organization.microsoft_tenant_id = value or None
    record(AuditTag.ORGANIZATION_TENANT_CHANGED, actor=actor, organization_id=organization.id,
           subject=f"organization:{organization.id}", before={"microsoft_tenant_id": before},
           after={"microsoft_tenant_id": organization.microsoft_tenant_id})
    db.session.commit()


IBGE_STATE_CODES = frozenset({11, 12, 13, 14, 15, 16, 17, 21, 22, 23, 24, 25, 26, 27, 28, 29, 31, 32, 33, 35, 41,
                              42, 43, 50, 51, 52, 53})


def valid_city_code(code: str) -> bool:
    """An IBGE município code: 7 digits starting with a state's code (11 Rondônia … 53 Distrito Federal)."""
    return len(code) == 7 and code.isdigit() and int(code[:2]) in IBGE_STATE_CODES


def set_city_code(organization: Organization, city_code: str, *, actor: Actor,
                  actor_membership: Membership | None = None) -> None:
    """The organization's city as its IBGE code (the NFS-e's cMun): staff finance or admin, or the organization's
    Master (`actor_membership`); commits."""
    if actor_membership is not None:
        _require_manager(actor_membership, organization)
    else:
        _require_staff(actor, StaffRole.FINANCEIRO)
    value = (city_code or "").strip()
    if value and not valid_city_code(value):
        raise ServiceError(_("Código IBGE inválido: são 7 dígitos, começando pelo código do estado (35 para SP)."),
                           field="city_code")
    before = organization.city_code or ""
    if before == value:
        return
    organization.city_code = value
    record(AuditTag.ORGANIZATION_CITY_CODE_CHANGED, actor=actor, organization_id=organization.id,
           subject=f"organization:{organization.id}", before={"city_code": before}, after={"city_code": value})
    db.session.commit()


# ---------------------------------------------------------------- reads for the pages

def get_user(user_id: int) -> User | None:
    return db.session.get(User, user_id)


def users_by_id(user_ids: set[int]) -> dict[int, User]:
    """The users with these ids, by id (one query, also for an empty set)."""
    return {user.id: user for user in db.session.scalars(select(User).where(User.id.in_(user_ids)))}


def get_organization(organization_id: int) -> Organization | None:
    return db.session.get(Organization, organization_id)


def organization_memberships(organization_id: int, *, invitations: bool = True) -> list[Membership]:
    """Every seat of the organization with its user, roles and (unless told not to) invitations, all in one
    statement (a seat has a role or a few and an invitation or a few: the joined rows stay few)."""
    statement = _SEATS_WITH_INVITATIONS if invitations else _SEATS
    return list(db.session.execute(statement, {"organization_id": organization_id}).unique().scalars().all())


# Built once: "Usuários" reads them on every request (a statement built per call costs as much again as running it).
_SEATS = (select(Membership).where(Membership.organization_id == bindparam("organization_id", type_=Integer))
          .options(joinedload(Membership.user), joinedload(Membership.role_rows)))
_SEATS_WITH_INVITATIONS = _SEATS.options(joinedload(Membership.invitations))


def staff_home_counts() -> dict[str, int | None]:
    """The staff home's numbers: organizations, customer users, staff users."""
    return {
        "organizations": db.session.scalar(select(func.count(Organization.id))),
        "customer_users": db.session.scalar(select(func.count(User.id)).where(User.is_staff.is_(False))),
        "staff_users": db.session.scalar(select(func.count(User.id)).where(User.is_staff.is_(True))),
    }


def search_organizations(query: str, *, page: int, per_page: int) -> list[Organization]:
    """Organizations by legal name, those matching `query` (name or CNPJ) when given; up to `per_page + 1`."""
    statement = select(Organization).order_by(Organization.legal_name)
    if query:
        statement = statement.where(Organization.matching(query))
    return list(db.session.execute(statement.limit(per_page + 1).offset((page - 1) * per_page)).scalars().all())


def search_users(query: str, *, page: int, per_page: int) -> list[User]:
    """Staff first, then by name; those whose e-mail or name contains `query` (lower case); up to `per_page + 1`,
    with their seats, organizations and roles."""
    statement = (
        select(User)
        .options(selectinload(User.memberships).selectinload(Membership.organization),
                 selectinload(User.memberships).selectinload(Membership.role_rows),
                 selectinload(User.staff_role_rows))
        .order_by(User.is_staff.desc(), User.name)
    )
    if query:
        statement = statement.where(or_(User.email.like(f"%{query}%"), func.lower(User.name).like(f"%{query}%")))
    return list(db.session.execute(statement.limit(per_page + 1).offset((page - 1) * per_page)).scalars().all())
