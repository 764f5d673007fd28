"""The OpenAPI 3.1 document (generated from the code) validates and documents every operation with an example; the
reference page is the vendored Redoc under a strict CSP; Schemathesis, against the live API on a real HTTP server
(both engines, fixed seed, 10 examples per operation), finds no 5xx, no answer off its schema or content type, and
nothing of the other organization."""

import json

import requests
from hypothesis import HealthCheck, Phase, given, seed, settings
from openapi_spec_validator import validate
from schemathesis import openapi as schemathesis_openapi
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from portal.extensions import db
from portal.shared import clock
from portal.shared.audit import Actor
from portal.subscriptions import quotes
from tests import factories
from tests.api.helpers import bearer, token_for
from tests.fakes.externals import LoopbackServer

EXAMPLES_PER_OPERATION = 10


def test_the_document_is_valid_openapi_3_1_with_an_example_per_operation(app_ctx, client):
    document = client.get("/api/v1/openapi.json").get_json()
    validate(document)
    assert document["openapi"] == "3.1.0"
    operations = [(path, method, operation) for path, methods in document["paths"].items()
                  for method, operation in methods.items()]
    assert len(operations) == 28
    for path, method, operation in operations:
        assert operation.get("operationId") and operation.get("summary"), (path, method)
        success = next(answer for code, answer in operation["responses"].items() if code.startswith("2"))
        media = next(iter(success["content"].values()))
        assert "example" in media or {"application/pdf", "application/xml", "*/*"} & set(success["content"]), \
            (path, method)
        for code in ("401", "403", "429"):
            assert "application/problem+json" in operation["responses"][code]["content"], (path, method, code)
    assert document["components"]["securitySchemes"]["BearerAuth"]["scheme"].lower() == "bearer"


def test_the_reference_page_uses_the_vendored_renderer(app_ctx, client):
    page = client.get("/api/v1/docs")
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'src="/static/vendor/redoc/redoc.standalone.js"' in body and 'spec-url="/api/v1/openapi.json"' in body
    assert "http" not in body.split("<body>")[1]  # nothing from a CDN
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "unsafe-eval" not in policy
    script = client.get("/static/vendor/redoc/redoc.standalone.js")
    assert script.status_code == 200
    script.close()


def _seed_two_organizations():
    """Two organizations with subscriptions, a quote, an order, invoices with documents and tickets; → (the token's
    headers, the other organization's words that must never appear in an answer)."""
    demo = factories.OrganizationFactory(legal_name="Demo Tecnologia Ltda", trade_name="Demo Tecnologia")
    other = factories.OrganizationFactory(legal_name="Segredo Alheio S.A.", trade_name="Segredo Alheio")
    master = factories.MembershipFactory(organization=demo, roles=["master"])
    stranger = factories.MembershipFactory(organization=other, roles=["master"], user__name="Pessoa Alheia")
    for organization, member, subject in ((demo, master, "Teams não abre"), (other, stranger, "Chamado alheio")):
        product = factories.ProductFactory()  # the catalog is everyone's: its names are no secret
        sub = factories.subscription(organization, product=product, quantity=5)
        quote = quotes.quote_quantity_change(organization=organization, subscription=sub, new_quantity=4,
                                             actor=Actor.for_user(member.user))
        quotes.new_order(sub, "quantity_change", 4, quote, Actor.for_user(member.user), clock.now())
        factories.invoice(organization, with_documents=True)
        factories.ticket(organization, member.user, subject=subject)
    db.session.commit()
    text = token_for(master, ["master"], name="Schemathesis")
    foreign = [other.legal_name, other.trade_name, other.cnpj, stranger.user.email, "Pessoa Alheia",
               "Chamado alheio"]
    return bearer(text), foreign


def test_schemathesis_finds_no_server_error_no_schema_violation_and_no_other_organizations_data(engine_name,
                                                                                                make_app):
    app = make_app(engine_name, API_RATE_LIMIT="100000 per minute")
    with app.app_context():
        headers, foreign = _seed_two_organizations()
    server = LoopbackServer(app).start()
    try:
        document = requests.get(f"{server.url}/api/v1/openapi.json", timeout=30).json()
        schema = schemathesis_openapi.from_dict(document)

        def no_other_organizations_data(ctx, response, case):
            text = response.text if "pdf" not in (response.headers.get("Content-Type") or "") else ""
            leaked = [word for word in foreign if word in text or json.dumps(word)[1:-1] in text]
            if leaked:
                raise AssertionError(f"{case.method} {case.formatted_path}: another organization's data {leaked}")

        checks = [not_a_server_error, response_schema_conformance, content_type_conformance,
                  no_other_organizations_data]
        calls = 0
        for result in schema.get_all_operations():
            operation = result.ok()

            @seed(18)
            @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                      phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy())
            def exercise(case):
                nonlocal calls
                response = case.call(base_url=server.url, headers=headers)
                calls += 1
                case.validate_response(response, checks=checks)

            exercise()
        assert calls >= 20
    finally:
        server.stop()
