"""POST /webhooks/stripe: an event that cannot be trusted or read is a 400 with a clear error, never a 500."""

import json
import time

import pytest

from portal.integrations.payments import StripeGateway
from tests.fakes.localstripe import signature_header

SECRET = "whsec_portal_view_tests"


@pytest.fixture
def stripe_client(app_ctx):
    """The app's gateway is Stripe with a known webhook secret (verifying a signature calls no server)."""
    original = app_ctx.extensions["payment_gateway"]
    app_ctx.extensions["payment_gateway"] = StripeGateway("sk_test_views", "http://127.0.0.1:9", SECRET)
    yield app_ctx.test_client()
    app_ctx.extensions["payment_gateway"] = original


def post(client, body: bytes, header: str):
    return client.post("/webhooks/stripe", data=body, headers={"Stripe-Signature": header},
                       content_type="application/json")


@pytest.mark.parametrize("body", [b"[]", b'[{"id": "evt_1", "type": "payment_intent.succeeded"}]', b"7",
                                  b'{"id": "evt_1", "type": "payment_intent.succeeded", "data": ["x"]}'])
def test_a_validly_signed_body_that_is_not_an_event_is_a_400(stripe_client, body):
    response = post(stripe_client, body, signature_header(body, SECRET))
    assert response.status_code == 400
    assert "not a Stripe event" in response.get_json()["error"]


def test_a_timestamp_in_the_future_beyond_the_tolerance_is_a_400(stripe_client):
    ahead = int(time.time()) + 3600
    body = json.dumps({"id": "evt_future", "type": "payment_intent.succeeded", "created": ahead,
                       "data": {"object": {"id": "pi_1", "object": "payment_intent", "metadata": {}}}}).encode()
    response = post(stripe_client, body, signature_header(body, SECRET, timestamp=ahead))
    assert response.status_code == 400
    assert "tolerance" in response.get_json()["error"]
