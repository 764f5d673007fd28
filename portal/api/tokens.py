"""API tokens: create (shown once), list, revoke, and authenticate a request's bearer token.

A token is "ptk_" followed by 43 URL-safe characters (32 random bytes); only the hex SHA-256 of the whole text is
stored, with its first characters to recognise it. A request is authenticated by that hash alone (a unique index),
then refused when the token is revoked, expired, used from an address outside its networks, or its creator can no
longer use the organization. Its permissions are the matrix's (accounts/roles.py) for the token's roles, narrowed
to the creator's current ones.
"""

import hashlib
import ipaddress
import secrets
from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import Integer, bindparam, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import joinedload, selectinload

from portal.accounts.models import Membership, Organization, User
from portal.accounts.roles import Permission, Role, effective_roles, permissions_for
from portal.api.models import ApiToken, ApiTokenUse
from portal.extensions import db
from portal.shared import clock
from portal.shared import cnpj as cnpj_module
from portal.shared.audit import Actor, AuditTag, record
from portal.shared.errors import NotFound, ServiceError

PREFIX = "ptk_"
MAX_NAME = 80
MAX_NETWORKS = 20


class TokenRefused(Exception):
    """The bearer token does not authenticate this request; `reason` is for the log, never for the caller."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Caller:
    """Who calls the API: the token, its organization, the permissions it carries now, and the audit actor."""

    token: ApiToken
    organization: Organization
    membership: Membership
    permissions: frozenset[Permission]
    actor: Actor


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _clean_networks(text: str | None) -> str:
    """"203.0.113.7, 198.51.100.0/24" → "203.0.113.7/32 198.51.100.0/24"; a clear error for anything else."""
    networks = []
    for part in (text or "").replace(",", " ").replace(";", " ").split():
        try:
            networks.append(str(ipaddress.ip_network(part, strict=False)))
        except ValueError:
            raise ServiceError(_("“%(value)s” não é um endereço IP nem uma rede (por exemplo 203.0.113.7 ou "
                                 "198.51.100.0/24).", value=part[:60]), field="allowed_ips") from None
    if len(networks) > MAX_NETWORKS:
        raise ServiceError(_("Informe no máximo %(num)d endereços ou redes.", num=MAX_NETWORKS), field="allowed_ips")
    joined = " ".join(dict.fromkeys(networks))
    if len(joined) > 500:
        raise ServiceError(_("A lista de endereços é longa demais."), field="allowed_ips")
    return joined


def _clean_roles(roles, creator_roles: frozenset[Role]) -> list[Role]:
    chosen = []
    for value in roles or []:
        try:
            chosen.append(Role(str(value).strip().lower()))
        except ValueError:
            raise ServiceError(_("Papel desconhecido: %(role)s.", role=str(value)[:30]), field="roles") from None
    if not chosen:
        raise ServiceError(_("Escolha ao menos um papel para o token."), field="roles")
    wider = set(chosen) - effective_roles(creator_roles)
    if wider:
        raise ServiceError(_("O token não pode ter um papel que você não tem."), field="roles")
    return sorted(set(chosen), key=list(Role).index)


def create_token(*, organization: Organization, membership: Membership, actor: Actor, name: str | None,
                 roles, expires_at: datetime | None = None, allowed_ips: str | None = None) -> tuple[ApiToken, str]:
    """A new token of `organization` created by `membership` (a Master); → (the row, the token text: shown once)."""
    if membership.organization_id != organization.id or not membership.is_usable:
        raise NotFound(_("Usuário não encontrado."))
    name = (name or "").strip()
    if not name:
        raise ServiceError(_("Dê um nome ao token (por exemplo, o sistema que vai usá-lo)."), field="name")
    if len(name) > MAX_NAME:
        raise ServiceError(_("O nome pode ter no máximo %(num)d caracteres.", num=MAX_NAME), field="name")
    chosen = _clean_roles(roles, membership.roles)
    if expires_at is not None and expires_at <= clock.now():
        raise ServiceError(_("A validade precisa ser uma data futura."), field="expires_at")
    networks = _clean_networks(allowed_ips)
    text = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(organization_id=organization.id, created_by_membership_id=membership.id, name=name,
                     roles=",".join(chosen), token_hash=digest(text), prefix=text[:12], allowed_ips=networks,
                     created_at=clock.now(), expires_at=expires_at)
    db.session.add(token)
    db.session.flush()
    record(AuditTag.API_TOKEN_CREATED, actor=actor, organization_id=organization.id, subject=f"api_token:{token.id}",
           after={"name": name, "roles": [str(role) for role in chosen], "prefix": token.prefix,
                  "expires_at": expires_at.isoformat() if expires_at else None, "allowed_ips": networks})
    db.session.commit()
    return token, text


_TOKENS = (select(ApiToken).where(ApiToken.organization_id == bindparam("organization_id", type_=Integer))
           .options(joinedload(ApiToken.creator).joinedload(Membership.user), joinedload(ApiToken.use))
           .order_by(ApiToken.id.desc()))


def list_tokens(organization: Organization) -> list[ApiToken]:
    """The organization's tokens, newest first, with their creator and last use (one statement, built once)."""
    return list(db.session.scalars(_TOKENS, {"organization_id": organization.id}))


def get_token(organization: Organization, token_id: int) -> ApiToken:
    token = db.session.scalars(select(ApiToken).where(ApiToken.id == token_id,
                                                      ApiToken.organization_id == organization.id)).one_or_none()
    if token is None:
        raise NotFound(_("Token não encontrado."))
    return token


def revoke_token(*, organization: Organization, token_id: int, actor: Actor) -> ApiToken:
    token = get_token(organization, token_id)
    if token.revoked_at is not None:
        raise ServiceError(_("Este token já foi revogado."))
    token.revoked_at = clock.now()
    token.revoked_by_id = actor.user_id
    record(AuditTag.API_TOKEN_REVOKED, actor=actor, organization_id=organization.id, subject=f"api_token:{token.id}",
           before={"name": token.name, "prefix": token.prefix})
    db.session.commit()
    return token


def _allowed(token: ApiToken, ip: str | None) -> bool:
    if not token.networks:
        return True
    try:
        address = ipaddress.ip_address(ip or "")
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(network) for network in token.networks)


def _touch(token: ApiToken, ip: str | None, now: datetime) -> None:
    """Stamp the token's last use (one row per token, written in place by an upsert)."""
    table = ApiTokenUse.__table__
    insert = postgresql_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(table).values(token_id=token.id, last_used_at=now, last_used_ip=ip)
    db.session.execute(statement.on_conflict_do_update(
        index_elements=[table.c.token_id],
        set_={"last_used_at": statement.excluded.last_used_at, "last_used_ip": statement.excluded.last_used_ip},
    ))


def authenticate(text: str | None, *, ip: str | None, user_agent: str | None) -> Caller:
    """The caller of a request bearing `text`; TokenRefused when it does not authenticate. Stamps the last use
    (committed here, before the request's own work)."""
    if not text or not text.startswith(PREFIX) or len(text) > 100:
        raise TokenRefused("malformed")
    token = db.session.scalars(
        select(ApiToken).where(ApiToken.token_hash == digest(text))
        .options(joinedload(ApiToken.creator).joinedload(Membership.user),
                 joinedload(ApiToken.creator).selectinload(Membership.role_rows))
    ).one_or_none()
    now = clock.now()
    if token is None:
        raise TokenRefused("unknown")
    if token.revoked_at is not None:
        raise TokenRefused("revoked")
    if token.expires_at is not None and token.expires_at <= now:
        raise TokenRefused("expired")
    if not _allowed(token, ip):
        raise TokenRefused("address")
    creator = token.creator
    if not creator.is_usable:
        raise TokenRefused("creator")
    roles = {Role(role) for role in token.role_set if role in Role.__members__.values()}
    permissions = permissions_for(roles) & permissions_for(creator.roles)
    organization = db.session.get(Organization, token.organization_id)
    _touch(token, ip, now)
    db.session.commit()
    actor = Actor(user=creator.user, label=f"api:{token.name}"[:254], ip=ip,
                  user_agent=(user_agent or "")[:300] or None,
                  roles=frozenset(str(role) for role in roles if role in creator.roles))
    return Caller(token=token, organization=organization, membership=creator, permissions=permissions, actor=actor)


def create_token_for(email: str, *, cnpj: str, name: str, roles: list[str] | None) -> tuple[ApiToken, str]:
    """The CLI's `flask api token create`: a token for the user `email`'s membership in the organization `cnpj`
    (with or without its mask), with `roles` (default: the member's own)."""
    digits = cnpj_module.compact(cnpj or "")
    organization = db.session.scalars(select(Organization).where(Organization.cnpj == digits)).one_or_none()
    if organization is None:
        raise ServiceError(_("Organização não encontrada: %(cnpj)s.", cnpj=cnpj))
    membership = db.session.scalars(
        select(Membership).join(User, User.id == Membership.user_id)
        .where(Membership.organization_id == organization.id, User.email == (email or "").strip().lower())
        .options(selectinload(Membership.role_rows), joinedload(Membership.user))
    ).one_or_none()
    if membership is None or not membership.is_usable:
        raise ServiceError(_("%(email)s não é um usuário ativo desta organização.", email=email))
    chosen = roles if roles else [str(role) for role in membership.roles]
    return create_token(organization=organization, membership=membership, actor=Actor.system("cli"), name=name,
                        roles=chosen)

