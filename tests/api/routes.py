"""The "Integrações → Tokens de API" pages' routes, for tests/test_permissions.py (see its _route_tables).

The REST API's own routes (kind "api") are checked role by role with tokens in tests/api/test_permissions_api.py.
"""

from portal.api import tokens
from portal.shared.audit import Actor
from tests import factories


def _token(organization) -> dict:
    membership = factories.MembershipFactory(organization=organization, roles=["master"])
    token, _text = tokens.create_token(organization=organization, membership=membership, actor=Actor.system("tests"),
                                       name="ERP", roles=["cobranca"])
    return {"token_id": token.id}


CUSTOMER_ROUTES = {
    "api_tokens.page": ("GET", lambda w: {}, None),
    "api_tokens.create": ("POST", lambda w: {}, None),
    "api_tokens.revoke": ("POST", lambda w: _token(w.demo), lambda w: _token(w.other)),
}
