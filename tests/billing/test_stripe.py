"""Stripe end to end: the portal on a real HTTP server, localstripe calling its /webhooks/stripe with signed
events, and Stripe boleto through a recorded-fixture stub plus self-signed events (localstripe has no boleto).

Every request here crosses a real socket: the portal verifies signatures with the real `stripe` library,
in its own threads and database sessions, as in production.
"""

import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from portal.billing import payments
from portal.billing.models import GatewayEvent, GatewayPayment, Invoice, InvoiceStatus, Payment
from portal.extensions import db
from portal.integrations.payments import StripeGateway
from portal.shared.audit import Actor, AuditEvent, AuditTag
from tests import factories
from tests.fakes.localstripe import (  # noqa: F401 - `localstripe` is a fixture
    API_KEY,
    event_payload,
    localstripe,
    signature_header,
)

SECRET = "whsec_portal_e2e"
WEBHOOK = "portal-e2e"  # localstripe's name for our endpoint (re-registered by each engine's server)


def _serve(app) -> tuple:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, f"http://127.0.0.1:{server.server_port}"


@pytest.fixture(scope="module")
def portal(engine_name, make_app, localstripe):  # noqa: F811 - the fixture imported above
    """The portal with PAYMENTS_BACKEND=stripe on a live server; localstripe sends it every event."""
    app = make_app(engine_name, PAYMENTS_BACKEND="stripe", STRIPE_API_KEY=API_KEY, STRIPE_API_BASE=localstripe.url,
                   STRIPE_WEBHOOK_SECRET=SECRET, WTF_CSRF_ENABLED=True)  # the webhook is exempt, nothing else
    server, url = _serve(app)
    localstripe.webhook(WEBHOOK, f"{url}/webhooks/stripe", SECRET)
    yield SimpleNamespace(app=app, url=url)
    localstripe.webhook(WEBHOOK, "http://127.0.0.1:9/", "whsec_nobody")  # the port is about to close
    server.shutdown()
    server.server_close()


@pytest.fixture
def invoice_id(portal):
    """A fresh organization with one open invoice of R$ 941,71 (committed in the live portal's database)."""
    with portal.app.app_context():
        organization = factories.OrganizationFactory()
        db.session.commit()
        invoice = factories.invoice(organization, total_cents=94_171, billing_date=date(2026, 3, 10))
        return invoice.id


def read(portal, fn):
    """`fn()` in an app context of its own (the server writes in other threads and connections)."""
    with portal.app.app_context():
        return fn()


def wait_for(portal, fn, timeout=15.0):
    """Poll `fn` until it returns something truthy (localstripe posts its webhook about 1 s later)."""
    deadline = time.monotonic() + timeout
    while True:
        value = read(portal, fn)
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def post_event(url, body: bytes, signature: str) -> tuple[int, dict]:
    request = urllib.request.Request(f"{url}/webhooks/stripe", data=body, method="POST",  # noqa: S310
                                     headers={"Content-Type": "application/json", "Stripe-Signature": signature})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - the loopback portal
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def invoice_state(invoice_id):
    invoice = db.session.get(Invoice, invoice_id)
    return invoice.status, [(p.amount_cents, p.method, p.source, p.external_id) for p in invoice.payments]


def start_card(portal, invoice_id, payment_method):
    def run():
        invoice = db.session.get(Invoice, invoice_id)
        row = payments.start_card_payment_for(invoice, gateway=portal.app.extensions["payment_gateway"],
                                              actor=Actor.system("tests"), payment_method=payment_method,
                                              customer_email="cobranca@demo.example.com")
        return row.external_id, row.status
    return read(portal, run)


# ---------------------------------------------------------------- card, localstripe → the portal's webhook

def test_a_card_payment_is_confirmed_by_the_signed_webhook(portal, invoice_id):
    intent_id, status = start_card(portal, invoice_id, "pm_card_visa")
    assert status == "succeeded"
    paid = wait_for(portal, lambda: invoice_state(invoice_id)[0] == InvoiceStatus.PAID)
    assert paid, "localstripe's payment_intent.succeeded did not mark the invoice paid"
    assert read(portal, lambda: invoice_state(invoice_id)) == (InvoiceStatus.PAID,
                                                               [(94_171, "card", "stripe", intent_id)])
    stored = read(portal, lambda: db.session.scalar(select(GatewayEvent).where(
        GatewayEvent.event_type == "payment_intent.succeeded",
        GatewayEvent.payload["data"]["object"]["id"].as_string() == intent_id)))
    assert stored is not None
    assert read(portal, lambda: db.session.scalar(
        select(GatewayPayment.status).where(GatewayPayment.external_id == intent_id))) == "succeeded"
    tags = read(portal, lambda: list(db.session.scalars(
        select(AuditEvent.tag).where(AuditEvent.subject == f"invoice:{invoice_id}").order_by(AuditEvent.seq))))
    assert tags[-2:] == [AuditTag.PAYMENT_RECORDED, AuditTag.INVOICE_PAID]

    # Stripe delivers the same event again (a timeout on its side): acknowledged, nothing recorded twice.
    body = json.dumps(stored.payload).encode()
    status_code, answer = post_event(portal.url, body, signature_header(body, SECRET))
    assert (status_code, answer["outcome"]) == (200, "duplicate")
    assert read(portal, lambda: db.session.scalar(
        select(func.count(Payment.id)).where(Payment.invoice_id == invoice_id))) == 1


def test_a_declined_card_leaves_the_invoice_open(portal, invoice_id):
    from portal.shared.errors import ServiceError

    with pytest.raises(ServiceError, match="recusado"):
        start_card(portal, invoice_id, "pm_card_chargeCustomerFail")

    def failed_event_arrived():
        return db.session.scalar(select(func.count(GatewayEvent.id)).where(
            GatewayEvent.event_type == "payment_intent.payment_failed",
            GatewayEvent.payload["data"]["object"]["metadata"]["portal_invoice_id"].as_string() == str(invoice_id)))

    assert wait_for(portal, failed_event_arrived), "localstripe's payment_intent.payment_failed did not arrive"
    assert read(portal, lambda: invoice_state(invoice_id)) == (InvoiceStatus.OPEN, [])
    assert read(portal, lambda: db.session.scalar(
        select(GatewayPayment.status).where(GatewayPayment.invoice_id == invoice_id))) == "failed"


# ---------------------------------------------------------------- forged and replayed events over HTTP

def test_forged_and_replayed_events_get_400(portal, invoice_id):
    number = read(portal, lambda: db.session.get(Invoice, invoice_id).display_number)
    intent = {"id": "pi_forged", "object": "payment_intent", "amount": 94_171, "currency": "brl",
              "status": "succeeded", "metadata": {"portal_invoice_id": str(invoice_id),
                                                  "portal_invoice_number": number}}
    body = event_payload("payment_intent.succeeded", intent)
    assert post_event(portal.url, body, signature_header(body, "whsec_attacker"))[0] == 400
    old = int(time.time()) - 3600
    replayed = event_payload("payment_intent.succeeded", intent, created=old)
    status_code, answer = post_event(portal.url, replayed, signature_header(replayed, SECRET, timestamp=old))
    assert status_code == 400 and "replay" in answer["error"]
    assert post_event(portal.url, body, "")[0] == 400
    assert post_event(portal.url, b"x" * (600 * 1024), signature_header(b"x", SECRET))[0] == 413
    assert read(portal, lambda: invoice_state(invoice_id)) == (InvoiceStatus.OPEN, [])


# ---------------------------------------------------------------- Stripe boleto: recorded fixture + self-signed event

def boleto_intent(form, intent_id: str) -> dict:
    """What Stripe answers to a confirmed boleto PaymentIntent (recorded from test mode; ids and URLs anonymised)."""
    expires = int(datetime(2030, 1, 4, 2, 59, 59, tzinfo=UTC).timestamp())
    return {
        "id": intent_id, "object": "payment_intent", "amount": int(form["amount"]),
        "amount_received": 0, "capture_method": "automatic", "client_secret": f"{intent_id}_secret_x",
        "confirmation_method": "automatic", "created": int(time.time()), "currency": "brl", "livemode": False,
        "metadata": {"portal_invoice_id": form["metadata[portal_invoice_id]"],
                     "portal_invoice_number": form["metadata[portal_invoice_number]"]},
        "next_action": {"type": "boleto_display_details", "boleto_display_details": {
            "expires_at": expires,
            "hosted_voucher_url": "https://payments.stripe.com/boleto/voucher/test_YWNjdF8xTmJB",
            "number": "01010101010101010101010101010101010101010101010",
            "pdf": "https://payments.stripe.com/boleto/voucher/test_YWNjdF8xTmJB/pdf"}},
        "payment_method": "pm_1BoletoTestE2E", "payment_method_options": {"boleto": {"expires_after_days": 3}},
        "payment_method_types": ["boleto"], "status": "requires_action",
    }


@pytest.fixture
def boleto_stub():
    """A tiny Stripe: POST /v1/payment_intents answers the recorded boleto PaymentIntent; keeps what it got and
    what it answered."""
    received, answered = [], []

    @Request.application
    def app(request):
        if request.method != "POST" or request.path != "/v1/payment_intents":
            return Response(json.dumps({"error": {"message": "not recorded", "type": "invalid_request_error"}}),
                            404, content_type="application/json")
        received.append({"form": request.form.to_dict(), "headers": dict(request.headers)})
        answered.append(boleto_intent(request.form, f"pi_3Boleto{uuid.uuid4().hex[:14]}"))
        return Response(json.dumps(answered[-1]), 200, content_type="application/json")

    server, url = _serve(app)
    yield SimpleNamespace(url=url, received=received, answered=answered)
    server.shutdown()
    server.server_close()


def test_a_stripe_boleto_is_issued_and_paid_by_a_signed_event(portal, invoice_id, boleto_stub):
    gateway = StripeGateway(API_KEY, boleto_stub.url, SECRET)

    def issue():
        invoice = db.session.get(Invoice, invoice_id)
        row = payments.start_boleto_payment_for(invoice, gateway=gateway, actor=Actor.system("tests"),
                                                customer_email="cobranca@demo.example.com")
        return row.external_id, row.status, row.detail, invoice.organization.cnpj, invoice.display_number

    intent_id, status, voucher, cnpj, number = read(portal, issue)
    assert (intent_id, status) == (boleto_stub.answered[0]["id"], "requires_action")
    assert voucher["number"] == "01010101010101010101010101010101010101010101010"
    assert voucher["hosted_voucher_url"].startswith("https://payments.stripe.com/boleto/voucher/")
    assert voucher["pdf"].endswith("/pdf") and voucher["expires_at"] == "2030-01-04T02:59:59+00:00"
    [request] = boleto_stub.received
    form = request["form"]
    assert form["payment_method_types[0]"] == "boleto" and form["confirm"] == "true"
    assert (form["amount"], form["currency"]) == ("94171", "brl")
    assert form["payment_method_data[type]"] == "boleto"
    assert form["payment_method_data[boleto][tax_id]"] == cnpj
    assert form["payment_method_data[billing_details][email]"] == "cobranca@demo.example.com"
    assert form["payment_method_data[billing_details][address][country]"] == "BR"
    assert form["payment_method_data[billing_details][address][postal_code]"] == "01304000"
    assert (form["metadata[portal_invoice_id]"], form["metadata[portal_invoice_number]"]) == (str(invoice_id), number)
    assert "description" not in form  # the parameter subset localstripe accepts, unless full_params
    assert request["headers"]["Idempotency-Key"] == f"portal-invoice-{invoice_id}-boleto-94171-1"

    # Days later the customer pays the voucher: Stripe sends payment_intent.succeeded, signed.
    paid_intent = {**boleto_stub.answered[0], "status": "succeeded", "amount_received": 94_171, "next_action": None}
    body = event_payload("payment_intent.succeeded", paid_intent)
    status_code, answer = post_event(portal.url, body, signature_header(body, SECRET))
    assert (status_code, answer["outcome"]) == (200, "recorded")
    assert read(portal, lambda: invoice_state(invoice_id)) == (InvoiceStatus.PAID,
                                                               [(94_171, "boleto", "stripe", intent_id)])
    assert post_event(portal.url, body, signature_header(body, SECRET))[1]["outcome"] == "duplicate"


def test_an_expired_stripe_boleto_is_marked_failed(portal, invoice_id, boleto_stub):
    gateway = StripeGateway(API_KEY, boleto_stub.url, SECRET)
    read(portal, lambda: payments.start_boleto_payment_for(db.session.get(Invoice, invoice_id), gateway=gateway,
                                                           actor=Actor.system("tests"),
                                                           customer_email="cobranca@demo.example.com"))
    expired = {**boleto_stub.answered[0], "status": "requires_payment_method",
               "next_action": None, "last_payment_error": {"code": "payment_intent_payment_attempt_expired",
                                                           "message": "The boleto expired."}}
    body = event_payload("payment_intent.payment_failed", expired)
    assert post_event(portal.url, body, signature_header(body, SECRET)) == (200, {"received": True,
                                                                                  "outcome": "marked failed"})
    assert read(portal, lambda: invoice_state(invoice_id)) == (InvoiceStatus.OPEN, [])
