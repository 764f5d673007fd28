"""Every endpoint declares who may use it, and every customer route answers each role as the matrix says.

Each room lists its routes in tests/<room>/routes*.py. Adding a route without listing it fails
`test_every_customer_route_is_covered` / `test_every_staff_route_is_covered`, so the route-by-role check
cannot silently miss it.
"""

import importlib
from pathlib import Path

import pytest

from portal.accounts.roles import ROLE_PERMISSIONS, STAFF_ROLE_PERMISSIONS, Role, StaffRole
from portal.shared.permissions import access_of


def _route_tables():
    """Every room lists its routes in tests/<room>/routes*.py: CUSTOMER_ROUTES and/or STAFF_ROUTES."""
    customer, staff = {}, {}
    for path in sorted(Path(__file__).parent.glob("*/routes*.py")):
        module = importlib.import_module(f"tests.{path.parent.name}.{path.stem}")
        for table, found in ((customer, getattr(module, "CUSTOMER_ROUTES", {})),
                             (staff, getattr(module, "STAFF_ROUTES", {}))):
            duplicated = set(table) & set(found)
            assert not duplicated, f"{path}: routes listed twice: {duplicated}"
            table.update(found)
    return customer, staff


# Customer: endpoint → (method, URL arguments for an object of the signed-in user's organization,
#                       URL arguments for another organization's object, or None when the route has no object).
# Staff: endpoint → (method, URL arguments) — arguments are a dict or a function of the `world` fixture.
CUSTOMER_ROUTES, STAFF_ROUTES = _route_tables()


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
        assert response.status_code in (200, 302, 422), response.status_code  # 422: allowed, input refused
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


def _staff_request(world, endpoint):
    method, kwargs = STAFF_ROUTES[endpoint]
    return method, (kwargs(world) if callable(kwargs) else kwargs)


@pytest.mark.parametrize("endpoint", sorted(STAFF_ROUTES))
@pytest.mark.parametrize("role", [r.value for r in StaffRole])
def test_staff_route_by_role(app_ctx, world, login_as, endpoint, role):
    permission = access_of(app_ctx.view_functions[endpoint]).permission
    method, kwargs = _staff_request(world, endpoint)
    response = _call(login_as(f"staff_{role}"), method, _url(app_ctx, endpoint, kwargs))
    if permission in STAFF_ROLE_PERMISSIONS[StaffRole(role)]:
        assert response.status_code in (200, 302, 422), response.status_code  # 422: allowed, input refused
    else:
        assert response.status_code == 403


@pytest.mark.parametrize("endpoint", sorted(STAFF_ROUTES))
@pytest.mark.parametrize("role", ["master", "adm", "cobranca", "suporte"])
def test_customers_get_404_in_the_backoffice(app_ctx, world, login_as, endpoint, role):
    method, kwargs = _staff_request(world, endpoint)
    assert _call(login_as(role), method, _url(app_ctx, endpoint, kwargs)).status_code == 404


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
        ("master", ["/licencas", "/produtos", "/usuarios", "/historico"], []),
        ("adm", ["/licencas", "/produtos"], ["/usuarios", "/historico"]),
        ("cobranca", ["/licencas"], ["/produtos", "/usuarios", "/historico"]),
        ("suporte", [], ["/licencas", "/produtos", "/usuarios", "/historico"]),
    ],
)
def test_navigation_shows_only_what_the_role_may_use(app_ctx, login_as, role, visible, hidden):
    body = login_as(role).get("/").get_data(as_text=True)
    nav = body[body.index('data-testid="nav"'):body.index("</ul>", body.index('data-testid="nav"'))]
    for href in visible:
        assert f'href="{href}"' in nav
    for href in hidden:
        assert f'href="{href}"' not in nav


# Routes no session opens: a scraper's bearer token (METRICS_TOKEN), or nothing at all (the load balancer's checks).
TOKEN_ROUTES = {"health.metrics": "/metrics"}
PROBE_ROUTES = {"health.liveness": "/saude/vivo", "health.readiness": "/saude/pronto"}


def test_token_and_probe_routes_are_public_and_listed(app):
    assert set(TOKEN_ROUTES) | set(PROBE_ROUTES) <= _endpoints_by_kind(app)["public"]


@pytest.mark.parametrize("endpoint", sorted(TOKEN_ROUTES))
@pytest.mark.parametrize("who", [None, "master", "suporte", "staff_admin", "staff_compliance"])
def test_token_routes_ignore_the_session(app_ctx, world, login_as, monkeypatch, endpoint, who):
    monkeypatch.setitem(app_ctx.config, "METRICS_TOKEN", "route-by-role-token")
    client = login_as(who) if who else app_ctx.test_client()
    url = TOKEN_ROUTES[endpoint]
    assert client.get(url).status_code == 404  # a session, even staff's, opens nothing
    assert client.get(url, headers={"Authorization": "Bearer route-by-role-token"}).status_code == 200


@pytest.mark.parametrize("endpoint", sorted(PROBE_ROUTES))
def test_probe_routes_answer_anyone(app_ctx, endpoint):
    assert app_ctx.test_client().get(PROBE_ROUTES[endpoint]).status_code == 200
