"""Payment gateways: the Stripe adapter against localstripe (a real HTTP server speaking Stripe's API), webhook
signatures verified by the real `stripe` library (valid, forged, replayed), and the manual gateway's refusals.

No database here: the adapter only talks to the gateway; the billing service stores what it answers.
"""

import json
import time

import pytest

from portal.integrations import payments
from portal.integrations.payments import (
    GatewayError,
    InvoiceCharge,
    ManualGateway,
    StripeGateway,
    WebhookRejected,
)
from portal.shared.errors import ServiceError
from tests.fakes.localstripe import (  # noqa: F401 - `localstripe` is a fixture
    API_KEY,
    event_payload,
    localstripe,
    signature_header,
)

SECRET = "whsec_portal_tests"


@pytest.fixture
def gateway(localstripe):  # noqa: F811 - the fixture imported above
    return StripeGateway(API_KEY, localstripe.url, SECRET)


def charge(amount=94171, invoice_id=7, number="2026/000007") -> InvoiceCharge:
    return InvoiceCharge(invoice_id=invoice_id, number=number, amount_cents=amount)


def stripe_get(localstripe, path):  # noqa: F811
    return localstripe.request("GET", path)


# ---------------------------------------------------------------- card, against localstripe

def test_a_card_payment_succeeds_and_carries_the_invoice_in_its_metadata(gateway, localstripe):  # noqa: F811
    result = gateway.start_card_payment(charge(), customer_email="cobranca@demo.example.com",
                                        payment_method="pm_card_visa")
    assert result.status == "succeeded" and not result.failed
    assert result.external_id.startswith("pi_") and (result.method, result.amount_cents) == ("card", 94171)
    intent = stripe_get(localstripe, f"/v1/payment_intents/{result.external_id}")
    assert (intent["amount"], intent["currency"], intent["status"]) == (94171, "brl", "succeeded")
    assert intent["metadata"] == {"portal_invoice_id": "7", "portal_invoice_number": "2026/000007"}


def test_a_declined_card_is_a_failed_result_not_an_exception(gateway):
    result = gateway.start_card_payment(charge(), customer_email="", payment_method="pm_card_chargeCustomerFail")
    assert result.failed and result.status == "failed"
    assert "declined" in result.error.lower()
    assert result.external_id.startswith("pi_")  # the declined PaymentIntent, for the record


def test_without_a_payment_method_the_intent_waits_for_the_browser(gateway):
    result = gateway.start_card_payment(charge(), customer_email="")
    assert result.status == "requires_payment_method"
    assert result.client_secret.startswith(result.external_id + "_secret_")


def test_an_unreachable_stripe_is_a_clear_error(localstripe):  # noqa: F811
    from tests.fakes.externals import free_port

    gateway = StripeGateway(API_KEY, f"http://127.0.0.1:{free_port()}", SECRET, network_retries=0)
    with pytest.raises(GatewayError, match="Stripe"):
        gateway.start_card_payment(charge(), customer_email="", payment_method="pm_card_visa")


def test_stripe_needs_an_api_key():
    with pytest.raises(RuntimeError, match="STRIPE_API_KEY"):
        payments.from_config({"PAYMENTS_BACKEND": "stripe", "STRIPE_API_KEY": "", "STRIPE_API_BASE": "",
                              "STRIPE_WEBHOOK_SECRET": ""})


def test_the_backend_is_chosen_by_the_setting():
    assert isinstance(payments.from_config({"PAYMENTS_BACKEND": "manual"}), ManualGateway)
    stripe_gateway = payments.from_config({"PAYMENTS_BACKEND": "stripe", "STRIPE_API_KEY": "sk_test_x1",
                                           "STRIPE_API_BASE": "https://api.stripe.com", "STRIPE_WEBHOOK_SECRET": ""})
    assert isinstance(stripe_gateway, StripeGateway) and stripe_gateway.full_params  # real Stripe gets description
    with pytest.raises(RuntimeError, match="PAYMENTS_BACKEND"):
        payments.from_config({"PAYMENTS_BACKEND": "paypal"})


# ---------------------------------------------------------------- webhook signatures (the real stripe library)

def intent_object(**fields) -> dict:
    return {"id": "pi_test123", "object": "payment_intent", "amount": 94171, "currency": "brl",
            "status": "succeeded", "metadata": {"portal_invoice_id": "7", "portal_invoice_number": "2026/000007"},
            **fields}


def test_a_validly_signed_event_is_read(gateway):
    body = event_payload("payment_intent.succeeded", intent_object(), event_id="evt_valid1")
    event = gateway.parse_webhook(body, signature_header(body, SECRET))
    assert (event.id, event.type) == ("evt_valid1", "payment_intent.succeeded")
    assert event.object["metadata"]["portal_invoice_id"] == "7" and event.object["amount"] == 94171
    assert event.payload["data"]["object"]["id"] == "pi_test123"
    json.dumps(event.payload)  # stored as JSON as it is


def test_a_forged_event_is_rejected(gateway):
    body = event_payload("payment_intent.succeeded", intent_object())
    with pytest.raises(WebhookRejected, match="signature"):
        gateway.parse_webhook(body, signature_header(body, "whsec_someone_else"))


def test_a_tampered_body_is_rejected(gateway):
    body = event_payload("payment_intent.succeeded", intent_object())
    header = signature_header(body, SECRET)
    with pytest.raises(WebhookRejected, match="signature"):
        gateway.parse_webhook(body.replace(b"94171", b"1"), header)


def test_a_replayed_event_is_rejected(gateway):
    old = int(time.time()) - 301  # signed just outside the 300 s tolerance
    body = event_payload("payment_intent.succeeded", intent_object(), created=old)
    with pytest.raises(WebhookRejected, match="replay"):
        gateway.parse_webhook(body, signature_header(body, SECRET, timestamp=old))


def test_an_event_signed_in_the_future_beyond_the_tolerance_is_rejected(gateway):
    # Stripe's own tolerance looks only backwards: a header dated ahead would stay replayable for as long.
    ahead = int(time.time()) + 301
    body = event_payload("payment_intent.succeeded", intent_object(), created=ahead)
    with pytest.raises(WebhookRejected, match="tolerance"):
        gateway.parse_webhook(body, signature_header(body, SECRET, timestamp=ahead))
    almost = int(time.time()) + 250  # a gateway clock a little ahead is within the tolerance
    body = event_payload("payment_intent.succeeded", intent_object(), created=almost)
    assert gateway.parse_webhook(body, signature_header(body, SECRET, timestamp=almost)).type


@pytest.mark.parametrize("body", [b"[]", b'[{"id": "evt_1"}]', b'"evt_1"', b"42", b"null",
                                  b'{"id": "evt_1", "type": "payment_intent.succeeded", "data": []}',
                                  b'{"id": "evt_1", "type": "payment_intent.succeeded", "data": {"object": [1]}}',
                                  b"\xff\xfe not utf-8"])
def test_a_validly_signed_body_that_is_not_an_event_object_is_rejected(gateway, body):
    with pytest.raises(WebhookRejected):
        gateway.parse_webhook(body, signature_header(body, SECRET))


def test_an_event_with_an_absurd_created_is_read_with_the_current_time(gateway):
    body = json.dumps({"id": "evt_big", "type": "payment_intent.succeeded", "created": 10 ** 30,
                       "data": {"object": intent_object()}}).encode()
    assert gateway.parse_webhook(body, signature_header(body, SECRET)).created.year >= 2026


@pytest.mark.parametrize("header", ["", "garbage", "t=abc,v1=def"])
def test_missing_or_malformed_signatures_are_rejected(gateway, header):
    body = event_payload("payment_intent.succeeded", intent_object())
    with pytest.raises(WebhookRejected):
        gateway.parse_webhook(body, header)


def test_a_signed_body_that_is_not_an_event_is_rejected(gateway):
    for body in (b"not json", b'{"id": "evt_1"}'):
        with pytest.raises(WebhookRejected):
            gateway.parse_webhook(body, signature_header(body, SECRET))


def test_without_a_webhook_secret_nothing_is_accepted(localstripe):  # noqa: F811
    gateway = StripeGateway(API_KEY, localstripe.url, "")
    body = event_payload("payment_intent.succeeded", intent_object())
    with pytest.raises(WebhookRejected, match="STRIPE_WEBHOOK_SECRET"):
        gateway.parse_webhook(body, signature_header(body, ""))


# ---------------------------------------------------------------- manual reconciliation

def test_the_manual_gateway_offers_nothing_online():
    gateway = ManualGateway()
    assert gateway.online_methods == frozenset()
    with pytest.raises(ServiceError, match="não está disponível"):
        gateway.start_card_payment(charge(), customer_email="", payment_method="pm_card_visa")
    with pytest.raises(ServiceError, match="não está disponível"):
        gateway.start_boleto_payment(charge(), payer=None)
    body = event_payload("payment_intent.succeeded", intent_object())
    with pytest.raises(WebhookRejected, match="manual"):
        gateway.parse_webhook(body, signature_header(body, SECRET))
