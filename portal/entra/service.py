"""Sign-in with Microsoft: the Master links the organization to its Entra ID tenant (proved by a sign-in of one of its
Global Administrators), sets the policy (just-in-time creation, Microsoft sign-in required); members and staff sign in
through OpenID Connect (code + PKCE, one-time state and nonce kept here); password sign-in refused where required.

Masters never sign in with Microsoft: they keep password + TOTP, so a misconfigured tenant cannot lock the
organization out. The refusals carry the Portuguese message the sign-in page shows (EntraRefusal).
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import delete, select, update

from portal.accounts import service as accounts
from portal.accounts.models import Membership, MembershipRole, Organization, User
from portal.accounts.roles import Permission, Role, permissions_for
from portal.entra.models import EntraLink, EntraSignInState
from portal.extensions import db
from portal.integrations import entra
from portal.shared import clock
from portal.shared.audit import Actor, AuditTag, record
from portal.shared.errors import PermissionDenied, ServiceError

STATE_MAX_AGE = timedelta(minutes=10)  # between leaving for Microsoft and coming back
JIT_ROLES = (Role.ADM, Role.COBRANCA, Role.SUPORTE)  # never Master


class EntraRefusal(Exception):
    """A Microsoft round trip refused: `message` for the page, `purpose` ("signin" or "link") says which page."""

    def __init__(self, message: str, *, purpose: str = "signin") -> None:
        super().__init__(message)
        self.message = message
        self.purpose = purpose


@dataclass(frozen=True)
class SignedIn:
    user: User
    organization_id: int | None  # the organization entered (None: staff)
    session_key: str
    next_url: str = ""  # where the sign-in was asked from (a same-site path)


@dataclass(frozen=True)
class Linked:
    organization: Organization
    tenant_id: str


def client() -> entra.EntraClient:
    return entra.EntraClient(entra.EntraSettings.from_config(current_app.config))


def is_configured() -> bool:
    return entra.EntraSettings.from_config(current_app.config).configured


def link_of(organization: Organization) -> EntraLink | None:
    return db.session.execute(
        select(EntraLink).where(EntraLink.organization_id == organization.id)
    ).scalar_one_or_none()


def _hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def _staff_tenant() -> str:
    return (current_app.config.get("ENTRA_STAFF_TENANT_ID") or "").strip().lower()


# ---------------------------------------------------------------- starting a round trip

def _start(*, purpose: str, tenant: str, redirect_uri: str, next_url: str = "", organization_id: int | None = None,
           user_id: int | None = None, prompt: str | None = None) -> tuple[str, str]:
    """(authorization URL, state): a new one-time state with its nonce and PKCE verifier, kept server-side."""
    now = clock.now()
    db.session.execute(delete(EntraSignInState).where(EntraSignInState.created_at < now - STATE_MAX_AGE * 6))
    state, nonce, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(64)
    try:
        url = client().authorization_url(tenant, redirect_uri=redirect_uri, state=state, nonce=nonce,
                                         code_verifier=verifier, prompt=prompt)
    except entra.EntraError:
        db.session.rollback()
        raise EntraRefusal(_("Não foi possível falar com a Microsoft agora. Tente de novo em alguns minutos."),
                           purpose=purpose) from None
    db.session.add(EntraSignInState(state_hash=_hash(state), nonce=nonce, code_verifier=verifier, purpose=purpose,
                                    tenant=tenant, linking_organization_id=organization_id, user_id=user_id,
                                    next_url=(next_url or "")[:500], created_at=now))
    db.session.commit()
    return url, state


def start_sign_in(*, redirect_uri: str, next_url: str = "") -> tuple[str, str]:
    if not is_configured():
        raise EntraRefusal(_("A entrada com a Microsoft não está configurada neste portal."))
    return _start(purpose="signin", tenant=entra.MULTI_TENANT, redirect_uri=redirect_uri, next_url=next_url,
                  prompt="select_account")


def _require_manager(membership: Membership | None, organization: Organization) -> None:
    if (membership is None or membership.organization_id != organization.id or not membership.is_usable
            or Permission.INTEGRATIONS_MANAGE not in permissions_for(membership.roles)):
        raise PermissionDenied(_("Somente o Master da organização pode fazer isso."))


def normalize_tenant(text: str) -> str:
    """A tenant id (GUID) or a domain, lower-cased; ServiceError on anything else."""
    value = (text or "").strip().lower()
    if not (entra.GUID.match(value) or entra.DOMAIN.match(value)):
        raise ServiceError(_("Informe o ID do tenant (um GUID como 00000000-0000-0000-0000-000000000000) ou um "
                             "domínio do tenant, como empresa.onmicrosoft.com."), field="tenant")
    return value


def start_link(organization: Organization, tenant_text: str, *, actor_membership: Membership,
               redirect_uri: str) -> tuple[str, str]:
    """Resolve the tenant the Master typed and send them to sign in as one of its Global Administrators:
    (authorization URL, state)."""
    _require_manager(actor_membership, organization)
    if not is_configured():
        raise ServiceError(_("A entrada com a Microsoft não está configurada neste portal."), field="tenant")
    value = normalize_tenant(tenant_text)
    try:
        tenant_id = client().tenant_id_for(value)
    except entra.EntraError:
        raise ServiceError(_("Não foi possível falar com a Microsoft agora. Tente de novo em alguns minutos."),
                           field="tenant") from None
    if tenant_id is None:
        raise ServiceError(_("A Microsoft não conhece esse tenant. Confira o ID ou o domínio."), field="tenant")
    _check_tenant_free(tenant_id, organization, field="tenant")
    try:
        return _start(purpose="link", tenant=tenant_id, redirect_uri=redirect_uri,
                      organization_id=organization.id, user_id=actor_membership.user_id, prompt="select_account")
    except EntraRefusal as refusal:
        raise ServiceError(refusal.message, field="tenant") from None


def _check_tenant_free(tenant_id: str, organization: Organization, *, field: str | None = None) -> None:
    if tenant_id == _staff_tenant():
        raise ServiceError(_("Esse tenant é o da nossa equipe e não pode ser vinculado a uma organização."),
                           field=field)
    taken = db.session.execute(
        select(EntraLink.organization_id).where(EntraLink.tenant_id == tenant_id)
    ).scalar_one_or_none()
    if taken is not None and taken != organization.id:
        raise ServiceError(_("Esse tenant já está vinculado a outra organização do portal."), field=field)


# ---------------------------------------------------------------- coming back

def _consume(state: str, purpose_hint: str) -> EntraSignInState:
    """The state row, marked used by this request alone (a conditional UPDATE: under concurrency one wins)."""
    now = clock.now()
    result = db.session.execute(
        update(EntraSignInState)
        .where(EntraSignInState.state_hash == _hash(state), EntraSignInState.used_at.is_(None),
               EntraSignInState.created_at >= now - STATE_MAX_AGE)
        .values(used_at=now)
    )
    if result.rowcount != 1:
        db.session.rollback()
        raise EntraRefusal(_("Este retorno da Microsoft já foi usado ou expirou. Comece de novo."),
                           purpose=purpose_hint)
    row = db.session.execute(select(EntraSignInState).where(EntraSignInState.state_hash == _hash(state))).scalar_one()
    db.session.commit()
    return row


def _claims(row: EntraSignInState, code: str, redirect_uri: str) -> dict:
    try:
        return client().redeem(row.tenant, code=code, code_verifier=row.code_verifier, redirect_uri=redirect_uri,
                               nonce=row.nonce, now=int(clock.now().timestamp()))
    except entra.EntraError as error:
        messages = {
            "audience": _("O token da Microsoft foi emitido para outro aplicativo. Entrada recusada."),
            "expired": _("O token da Microsoft expirou. Entre de novo."),
            "nonce": _("O token da Microsoft é de outra entrada (repetido). Entrada recusada."),
            "issuer": _("O token da Microsoft não foi emitido pelo tenant que informa. Entrada recusada."),
            "signature": _("A assinatura do token da Microsoft não confere. Entrada recusada."),
            "network": _("Não foi possível falar com a Microsoft agora. Tente de novo em alguns minutos."),
        }
        raise EntraRefusal(messages.get(error.reason, _("A Microsoft não confirmou a entrada. Tente de novo.")),
                           purpose=row.purpose) from None


def finish(*, state: str, expected_state: str | None, code: str, redirect_uri: str, actor: Actor,
           signed_in_user: User | None, current_membership: Membership | None) -> SignedIn | Linked:
    """The browser came back from Microsoft with `code` and `state`; `expected_state` is the one this browser was
    sent with (kept in its session). Either a sign-in (returns SignedIn, the session opened) or a link proof."""
    if not state or not expected_state or not secrets.compare_digest(state, expected_state):
        raise EntraRefusal(_("O retorno da Microsoft não corresponde à entrada começada neste navegador. "
                             "Comece de novo."), purpose="link" if signed_in_user is not None else "signin")
    row = _consume(state, "link" if signed_in_user is not None else "signin")
    if not code:
        raise EntraRefusal(_("A Microsoft não confirmou a entrada. Tente de novo."), purpose=row.purpose)
    claims = _claims(row, code, redirect_uri)
    if row.purpose == "link":
        return _finish_link(row, claims, actor=actor, signed_in_user=signed_in_user,
                            current_membership=current_membership)
    signed = _finish_sign_in(claims, actor=actor)
    return SignedIn(user=signed.user, organization_id=signed.organization_id, session_key=signed.session_key,
                    next_url=row.next_url)


def _finish_link(row: EntraSignInState, claims: dict, *, actor: Actor, signed_in_user: User | None,
                 current_membership: Membership | None) -> Linked:
    organization = db.session.get(Organization, row.linking_organization_id)
    if signed_in_user is None or signed_in_user.id != row.user_id or organization is None:
        raise EntraRefusal(_("Entre no portal como o Master que começou o vínculo e tente de novo."), purpose="link")
    try:
        _require_manager(current_membership, organization)
    except PermissionDenied as denied:
        raise EntraRefusal(denied.message, purpose="link") from None
    tid = claims["tid"].lower()
    if tid != row.tenant:
        raise EntraRefusal(_("A conta Microsoft usada é de outro tenant, não do informado. Entre com um "
                             "administrador global do tenant %(tenant)s.", tenant=row.tenant), purpose="link")
    if not entra.is_global_administrator(claims):
        raise EntraRefusal(_("A conta Microsoft usada não é administrador global do tenant. Entre com um "
                             "administrador global para comprovar que o tenant é da organização."), purpose="link")
    try:
        _check_tenant_free(tid, organization)
    except ServiceError as error:
        raise EntraRefusal(error.message, purpose="link") from None
    link = link_of(organization)
    before = {"tenant_id": link.tenant_id} if link else None
    if link is None:
        link = EntraLink(organization_id=organization.id)
        db.session.add(link)
    link.tenant_id = tid
    link.verified_at = clock.now()
    link.verified_by_id = signed_in_user.id
    link.admin_email = entra.email_of(claims)
    record(AuditTag.ENTRA_LINKED, actor=actor, organization_id=organization.id,
           subject=f"organization:{organization.id}", before=before,
           after={"tenant_id": tid, "admin_email": link.admin_email})
    db.session.commit()
    return Linked(organization=organization, tenant_id=tid)


def _refuse(message: str, *, actor: Actor, email: str, organization_id: int | None, reason: str,
            user: User | None = None):
    record(AuditTag.LOGIN_FAILED, actor=actor, organization_id=organization_id,
           subject=f"user:{user.id}" if user else None,
           after={"email": email, "method": "microsoft", "reason": reason})
    db.session.commit()
    raise EntraRefusal(message)


def _finish_sign_in(claims: dict, *, actor: Actor) -> SignedIn:
    tid = claims["tid"].lower()
    email = entra.email_of(claims)
    if not email:
        _refuse(_("A conta Microsoft não informou um e-mail. Entrada recusada."), actor=actor, email="",
                organization_id=None, reason="no_email")
    user = db.session.execute(select(User).where(User.email == email)).scalar_one_or_none()
    if tid == _staff_tenant():
        if user is None or not user.is_staff or not user.active:
            _refuse(_("O e-mail %(email)s não é de ninguém da nossa equipe no portal.", email=email), actor=actor,
                    email=email, organization_id=None, reason="unknown_email")
        key = accounts.complete_login(user, actor=Actor.for_user(user, ip=actor.ip, user_agent=actor.user_agent),
                                      method="microsoft")
        return SignedIn(user=user, organization_id=None, session_key=key)
    link = db.session.execute(select(EntraLink).where(EntraLink.tenant_id == tid)).scalar_one_or_none()
    if link is None:
        _refuse(_("Sua conta Microsoft é de um tenant que não está vinculado a nenhuma organização do portal. "
                  "Peça ao Master da sua organização para vinculá-lo em Minha conta → Entrar com a Microsoft, ou entre "
                  "com e-mail e senha."), actor=actor, email=email, organization_id=None, reason="wrong_tenant")
    organization_id = link.organization_id
    if user is not None and user.is_staff:
        _refuse(_("O e-mail %(email)s não é de um usuário desta organização no portal.", email=email), actor=actor,
                email=email, organization_id=organization_id, reason="unknown_email")
    membership = None
    if user is not None:
        membership = next((m for m in user.memberships if m.organization_id == organization_id), None)
    if membership is None or not membership.is_usable:
        if user is None and link.jit_enabled:
            user, membership = _create_member(link, claims, email, actor=actor)
        else:
            _refuse(_("O e-mail %(email)s não é de um usuário ativo desta organização no portal. Peça um convite "
                      "ao Master da organização.", email=email), actor=actor, email=email,
                    organization_id=organization_id, reason="unknown_email", user=user)
    if Role.MASTER in membership.roles:
        _refuse(_("Quem é Master entra sempre com e-mail, senha e verificação em duas etapas, para que a "
                  "organização nunca fique trancada por um problema no tenant."), actor=actor, email=email,
                organization_id=organization_id, reason="master", user=user)
    if any(m.is_usable and m.organization_id != organization_id for m in user.memberships):
        _refuse(_("Você participa de outras organizações do portal: entre com e-mail e senha."), actor=actor,
                email=email, organization_id=organization_id, reason="other_organizations", user=user)
    key = accounts.complete_login(user, actor=Actor.for_user(user, ip=actor.ip, user_agent=actor.user_agent),
                                  method="microsoft")
    return SignedIn(user=user, organization_id=organization_id, session_key=key)


def _create_member(link: EntraLink, claims: dict, email: str, *, actor: Actor) -> tuple[User, Membership]:
    """Just-in-time: a new user and an accepted membership with the link's default role (never Master)."""
    now = clock.now()
    name = claims.get("name") if isinstance(claims.get("name"), str) and claims["name"].strip() else email
    user = User(email=email, name=name.strip()[:200], password_hash=None, active=True, created_at=now)
    db.session.add(user)
    db.session.flush()
    membership = Membership(user_id=user.id, organization_id=link.organization_id, active=True, created_at=now,
                            accepted_at=now)
    membership.role_rows = [MembershipRole(role=Role(link.jit_role).value)]
    db.session.add(membership)
    db.session.flush()
    db.session.refresh(user)
    record(AuditTag.ENTRA_MEMBER_CREATED, actor=Actor.for_user(user, ip=actor.ip, user_agent=actor.user_agent),
           organization_id=link.organization_id, subject=f"membership:{membership.id}",
           after={"email": email, "roles": [link.jit_role]})
    return user, membership


# ---------------------------------------------------------------- policy

def set_policy(organization: Organization, *, jit_enabled: bool, jit_role: str, require_microsoft: bool,
               actor: Actor, actor_membership: Membership) -> EntraLink:
    _require_manager(actor_membership, organization)
    link = link_of(organization)
    if link is None:
        raise ServiceError(_("Vincule primeiro a organização a um tenant Microsoft."))
    if jit_role not in {role.value for role in JIT_ROLES}:
        raise ServiceError(_("Escolha o papel dos usuários criados automaticamente: Adm, Cobrança ou Suporte."),
                           field="jit_role")
    before = {"jit_enabled": link.jit_enabled, "jit_role": link.jit_role, "require_microsoft": link.require_microsoft}
    after = {"jit_enabled": bool(jit_enabled), "jit_role": jit_role, "require_microsoft": bool(require_microsoft)}
    if before != after:
        link.jit_enabled, link.jit_role, link.require_microsoft = after.values()
        record(AuditTag.ENTRA_POLICY_CHANGED, actor=actor, organization_id=organization.id,
               subject=f"organization:{organization.id}", before=before, after=after)
    db.session.commit()
    return link


def unlink(organization: Organization, *, actor: Actor, actor_membership: Membership) -> None:
    _require_manager(actor_membership, organization)
    link = link_of(organization)
    if link is None:
        return
    record(AuditTag.ENTRA_UNLINKED, actor=actor, organization_id=organization.id,
           subject=f"organization:{organization.id}", before={"tenant_id": link.tenant_id})
    db.session.delete(link)
    db.session.commit()


def password_refused(user: User) -> bool:
    """Password sign-in refused: every organization the user belongs to is one (linked, requiring Microsoft) where
    they are not Master — exactly the users Microsoft sign-in admits. Masters and staff always keep the password."""
    if user.is_staff:
        return False
    usable = [m for m in user.memberships if m.is_usable]
    if len(usable) != 1 or Role.MASTER in usable[0].roles:
        return False
    return db.session.execute(
        select(EntraLink.id).where(EntraLink.organization_id == usable[0].organization_id,
                                   EntraLink.require_microsoft.is_(True))
    ).scalar_one_or_none() is not None
