"""`url_pattern` gives the same URLs as `url_for`, for every id a route accepts."""

import pytest
from flask import url_for

from portal.shared.urls import url_pattern


@pytest.mark.parametrize(("endpoint", "argument", "values"), [
    ("subscriptions.detail", "subscription_id", {}),
    ("subscriptions.order", "order_id", {}),
    ("cancellations.cancel", "subscription_id", {}),
    ("billing.invoice", "invoice_id", {}),
    ("subscriptions.change", "subscription_id", {"orcamento": "abc"}),  # with a query string after the id
    ("billing.invoices", "pagina", {"ano": 2026}),  # not in the route: a query parameter
])
def test_the_pattern_builds_what_url_for_builds(app, endpoint, argument, values):
    with app.test_request_context("/", base_url="http://portal.example.com/raiz"):
        build = url_pattern(endpoint, argument, **values)
        for value in (1, 7, 10, 123, 2_147_483_647):
            assert build(value) == url_for(endpoint, **{argument: value}, **values)
        assert build(42).startswith("/raiz/")  # SCRIPT_NAME kept, as url_for keeps it



@pytest.mark.parametrize(("endpoint", "values"), [
    ("static", {"filename": "css/portal.css"}),
    ("accounts.home", {}),
    ("accounts.logout", {}),
    ("billing.invoices", {}),
])
def test_a_fixed_url_is_what_url_for_builds_under_each_script_root(app, endpoint, values):
    fixed_url = app.jinja_env.globals["fixed_url"]
    for root in ("", "/raiz", "/outra/raiz", ""):  # kept per script root: a second root never gets the first's URL
        with app.test_request_context("/", base_url=f"http://portal.example.com{root}"):
            assert fixed_url(endpoint, **values) == url_for(endpoint, **values)
            assert fixed_url(endpoint, **values).startswith(f"{root}/")
