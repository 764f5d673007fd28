"""Making tokens in tests: `token_for(membership, roles)` → the bearer text; `bearer(text)` → the headers."""

from portal.api import tokens
from portal.shared.audit import Actor


def token_for(membership, roles=None, **kwargs) -> str:
    _row, text = tokens.create_token(organization=membership.organization, membership=membership,
                                     actor=Actor.system("tests"), name=kwargs.pop("name", "ERP"),
                                     roles=roles or [str(role) for role in membership.roles], **kwargs)
    return text


def bearer(text: str, **extra) -> dict:
    return {"Authorization": f"Bearer {text}", **extra}
