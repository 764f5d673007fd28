"""Every endpoint declares who may use it, and every customer route answers each role as the matrix says.

Adding a customer route without adding it to CUSTOMER_ROUTES below fails `test_every_customer_route_is_covered`,
so the route-by-role check cannot silently miss it.
"""

import pytest

from portal.accounts.roles import ROLE_PERMISSIONS, STAFF_ROLE_PERMISSIONS, Role, StaffRole
from portal.shared.permissions import access_of


# endpoint → (method, URL arguments for an object of the signed-in user's organization,
#             URL arguments for another organization's object, or None when the route has no object)
def _own_membership(w):
    return {"membership_id": w.suporte_membership.id}


def _other_membership(w):
    return {"membership_id": w.other_master_membership.id}


CUSTOMER_ROUTES = {
    "accounts.users": ("GET", lambda w: {}, None),
    "accounts.invite": ("GET", lambda w: {}, None),
    "accounts.edit_user": ("GET", _own_membership, _other_membership),
    "accounts.deactivate_user": ("POST", _own_membership, _other_membership),
    "accounts.reactivate_user": ("POST", _own_membership, _other_membership),
    "accounts.resend_invitation": ("POST", _own_membership, _other_membership),
    "accounts.organization_security": ("POST", lambda w: {}, None),
    "accounts.history": ("GET", lambda w: {}, None),
}

STAFF_ROUTES = {
    "backoffice.index": {},
    "backoffice.organizations": {},
    "backoffice.organization": {"organization_id": "demo"},
    "backoffice.create_organization": {},
    "backoffice.users": {},
}


def _endpoints_by_kind(app):
    kinds: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        access = access_of(app.view_functions[rule.endpoint])
        kinds.setdefault(access.kind if access else "undeclared", set()).add(rule.endpoint)
    return kinds


def test_every_endpoint_declares_its_permission(app):
    undeclared = _endpoints_by_kind(app).get("undeclared", set())
    assert not undeclared, f"endpoints without @public/@authenticated/@requires/@staff_requires: {undeclared}"


def test_every_customer_route_is_covered(app):
    assert _endpoints_by_kind(app)["customer"] == set(CUSTOMER_ROUTES)


def test_every_staff_route_is_covered(app):
    assert _endpoints_by_kind(app)["staff"] == set(STAFF_ROUTES)


def _url(app, endpoint, kwargs):
    with app.test_request_context():
        from flask import url_for

        return url_for(endpoint, **kwargs)


def _call(client, method, url):
    return client.open(url, method=method)


@pytest.mark.parametrize("endpoint", sorted(CUSTOMER_ROUTES))
@pytest.mark.parametrize("role", [r.value for r in Role])
def test_customer_route_by_role(app_ctx, world, login_as, endpoint, role):
    method, own, _other = CUSTOMER_ROUTES[endpoint]
    permission = access_of(app_ctx.view_functions[endpoint]).permission
    client = login_as(role)
    response = _call(client, method, _url(app_ctx, endpoint, own(world)))
    if permission in ROLE_PERMISSIONS[Role(role)]:
        assert response.status_code in (200, 302), response.status_code
    else:
        assert response.status_code == 403


@pytest.mark.parametrize("endpoint", sorted(e for e, (_m, _o, other) in CUSTOMER_ROUTES.items() if other))
def test_another_organizations_object_is_404(app_ctx, world, login_as, endpoint):
    method, _own, other = CUSTOMER_ROUTES[endpoint]
    response = _call(login_as("master"), method, _url(app_ctx, endpoint, other(world)))
    assert response.status_code == 404


@pytest.mark.parametrize("endpoint", sorted(CUSTOMER_ROUTES))
def test_customer_routes_send_strangers_to_login_and_staff_to_404(app_ctx, world, login_as, endpoint):
    method, own, _other = CUSTOMER_ROUTES[endpoint]
    url = _url(app_ctx, endpoint, own(world))
    anonymous = app_ctx.test_client().open(url, method=method)
    assert anonymous.status_code == 302 and "/entrar" in anonymous.headers["Location"]
    assert _call(login_as("staff_admin"), method, url).status_code == 404


def _staff_kwargs(world, kwargs):
    return {k: (world.demo.id if v == "demo" else v) for k, v in kwargs.items()}


@pytest.mark.parametrize("endpoint", sorted(STAFF_ROUTES))
@pytest.mark.parametrize("role", [r.value for r in StaffRole])
def test_staff_route_by_role(app_ctx, world, login_as, endpoint, role):
    permission = access_of(app_ctx.view_functions[endpoint]).permission
    url = _url(app_ctx, endpoint, _staff_kwargs(world, STAFF_ROUTES[endpoint]))
    response = login_as(f"staff_{role}").get(url)
    if permission in STAFF_ROLE_PERMISSIONS[StaffRole(role)]:
        assert response.status_code == 200
    else:
        assert response.status_code == 403


@pytest.mark.parametrize("endpoint", sorted(STAFF_ROUTES))
@pytest.mark.parametrize("role", ["master", "adm", "cobranca", "suporte"])
def test_customers_get_404_in_the_backoffice(app_ctx, world, login_as, endpoint, role):
    url = _url(app_ctx, endpoint, _staff_kwargs(world, STAFF_ROUTES[endpoint]))
    assert login_as(role).get(url).status_code == 404


def test_authenticated_routes_send_strangers_to_login(app):
    client = app.test_client()
    for endpoint in _endpoints_by_kind(app)["authenticated"]:
        rule = next(app.url_map.iter_rules(endpoint))
        kwargs = {arg: 1 for arg in rule.arguments}
        method = "GET" if "GET" in rule.methods else "POST"
        response = client.open(_url(app, endpoint, kwargs), method=method)
        assert response.status_code == 302, endpoint
        assert "/entrar" in response.headers["Location"], endpoint


@pytest.mark.parametrize(
    ("role", "visible", "hidden"),
    [
        ("master", ["/usuarios", "/historico"], []),
        ("adm", [], ["/usuarios", "/historico"]),
        ("cobranca", [], ["/usuarios", "/historico"]),
        ("suporte", [], ["/usuarios", "/historico"]),
    ],
)
def test_navigation_shows_only_what_the_role_may_use(app_ctx, login_as, role, visible, hidden):
    body = login_as(role).get("/").get_data(as_text=True)
    nav = body[body.index('data-testid="nav"'):body.index("</ul>", body.index('data-testid="nav"'))]
    for href in visible:
        assert f'href="{href}"' in nav
    for href in hidden:
        assert f'href="{href}"' not in nav
