"""Every page with a form posts each field once (issue 13, point 1).

A field written twice — WTForms' `hidden_tag()` plus a hand-written `<input type=hidden>` of the same name — posts
two values, and WTForms reads the first (empty): the onboarding's "Avançar" answered "Escolha a etapa seguinte."
for every opportunity while the view tests, posting hand-made dicts, passed. This test renders every GET page of
the route tables (tests/<room>/routes*.py, the ones tests/test_permissions.py walks) as a user who may see it, and
the onboarding opportunity at every stage, and parses the forms the HTML carries.
"""

import pytest

from portal.accounts.roles import STAFF_ROLE_PERMISSIONS, StaffRole
from portal.onboarding.models import Stage
from portal.shared.permissions import access_of
from tests import factories
from tests.conftest import sign_in
from tests.html import duplicated_fields
from tests.test_permissions import CUSTOMER_ROUTES, STAFF_ROUTES, _staff_request, _url

CUSTOMER_PAGES = sorted(endpoint for endpoint, (method, _own, _other) in CUSTOMER_ROUTES.items() if method == "GET")
STAFF_PAGES = sorted(endpoint for endpoint, (method, _kwargs) in STAFF_ROUTES.items() if method == "GET")


def _html(response) -> str | None:
    if response.status_code != 200 or response.mimetype != "text/html":
        return None
    return response.get_data(as_text=True)


def test_the_parser_sees_a_field_written_twice():
    page = ('<form method="post" action="/x"><input id="to" name="to" type="hidden" value="">'
            '<input type="hidden" name="to" value="proposta"><input type="checkbox" name="r" value="1">'
            '<input type="checkbox" name="r" value="2"></form>')
    assert duplicated_fields(page) == [("/x", ["to"])]


@pytest.mark.parametrize("endpoint", CUSTOMER_PAGES)
def test_customer_pages_post_each_field_once(app_ctx, world, login_as, endpoint):
    _method, own, _other = CUSTOMER_ROUTES[endpoint]
    page = _html(login_as("master").get(_url(app_ctx, endpoint, own(world))))
    if page is not None:
        assert duplicated_fields(page) == []


@pytest.mark.parametrize("endpoint", STAFF_PAGES)
def test_staff_pages_post_each_field_once(app_ctx, world, client, endpoint):
    permission = access_of(app_ctx.view_functions[endpoint]).permission
    _method, kwargs = _staff_request(world, endpoint)
    url = _url(app_ctx, endpoint, kwargs)
    for role in StaffRole:  # each role sees its own set of forms on the same page
        if permission in STAFF_ROLE_PERMISSIONS[role]:
            page = _html(sign_in(client, getattr(world, f"staff_{role.value}")).get(url))
            if page is not None:
                assert duplicated_fields(page) == [], role


@pytest.mark.parametrize("stage", list(Stage))
def test_the_opportunity_page_posts_each_field_once_at_every_stage(app_ctx, world, client, stage):
    opportunity = factories.opportunity(stage)
    for role in ("comercial", "financeiro", "suporte"):
        response = sign_in(client, getattr(world, f"staff_{role}")).get(f"/backoffice/contratacao/{opportunity.id}")
        assert response.status_code == 200
        assert duplicated_fields(response.get_data(as_text=True)) == [], (stage, role)


def test_the_implantation_queue_posts_each_field_once(app_ctx, world, client):
    factories.opportunity(Stage.HANDOVER)
    factories.opportunity(Stage.IMPLANTATION)
    response = sign_in(client, world.staff_suporte).get("/backoffice/contratacao/implantacao")
    assert response.status_code == 200 and "Implantação concluída" in response.get_data(as_text=True)
    assert duplicated_fields(response.get_data(as_text=True)) == []
