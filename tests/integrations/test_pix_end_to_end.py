"""Issue 15, points 5–7 end to end: the portal with PIX_BACKEND=api_pix, served on 127.0.0.1, talking to the fake
PSP (tests/fakes/pix_psp.py: HTTPS with mTLS, OAuth2, bodies checked against the OpenAPI document) — the webhook
registered by the CLI, the cobv made by the job, its copia-e-cola on the invoice page, the Pix paid at the fake and
delivered by the fake over HTTP to the portal's webhook, and the polling job catching a Pix whose webhook was lost."""

import pytest
from sqlalchemy import func, select

from portal import jobs
from portal.accounts.models import User
from portal.billing import jobs as billing_jobs
from portal.billing.models import Invoice, InvoiceStatus, Payment, PaymentReversal, PixCharge, PixChargeStatus
from portal.extensions import db
from tests import factories
from tests.conftest import sign_in
from tests.fakes.externals import LoopbackServer
from tests.fakes.pix_psp import PixPspFake, ThrowawayPki

CLIENT_ID, CLIENT_SECRET = "portal-client", "segredo-do-cliente"
WEBHOOK_SECRET = "c4ll-m3-b4ck"
PROXY_HEADER = "X-SSL-Client-Fingerprint"


@pytest.fixture(scope="module")
def pki():
    made = ThrowawayPki()
    yield made
    made.remove()


@pytest.fixture
def portal(make_app, engine_name, pki):
    """(app, the fake PSP, the portal's base URL): the app on a real HTTP server, its PSP the fake."""
    fake = PixPspFake(pki, CLIENT_ID, CLIENT_SECRET).start()
    psp_fingerprint = ThrowawayPki.fingerprint(pki.client_cert)  # the certificate the PSP presents to the proxy
    app = make_app(engine_name, PIX_BACKEND="api_pix", PIX_API_URL=fake.api_url, PIX_TOKEN_URL=fake.token_url,
                   PIX_CLIENT_ID=CLIENT_ID, PIX_CLIENT_SECRET=CLIENT_SECRET, PIX_CERT_FILE=str(pki.client_cert),
                   PIX_KEY_FILE=str(pki.client_key), PIX_CA_FILE=str(pki.ca_cert), PIX_TIMEOUT=5,
                   PIX_WEBHOOK_SECRET=WEBHOOK_SECRET, PIX_WEBHOOK_CERT_HEADER=PROXY_HEADER,
                   PIX_WEBHOOK_CERT_SHA256=psp_fingerprint)
    server = LoopbackServer(app).start()
    app.config["BASE_URL"] = server.url
    fake.webhook_headers = {PROXY_HEADER: psp_fingerprint}  # what the proxy adds after verifying the PSP's cert
    yield app, fake, server.url
    server.stop()
    fake.stop()
    assert fake.response_violations == []


def new_invoice(app, total_cents):
    with app.app_context():
        organization = factories.OrganizationFactory()
        user = factories.MembershipFactory(organization=organization, roles=["cobranca"]).user
        db.session.commit()
        invoice_id, user_id = factories.invoice(organization, total_cents=total_cents).id, user.id
        db.session.commit()  # no transaction held here (SQLite's BEGIN IMMEDIATE) while the job writes
        jobs.enqueue_now("billing.ensure_pix_charge", invoice_id)  # the job path (inline in tests)
        charge = db.session.scalar(select(PixCharge).where(PixCharge.invoice_id == invoice_id))
        assert charge is not None and charge.status == PixChargeStatus.ACTIVE, charge and charge.last_error
        return invoice_id, user_id, charge.txid, charge.pix_copia_e_cola


def status_of(app, invoice_id):
    with app.app_context():
        return db.session.get(Invoice, invoice_id).status


def payments_of(app, invoice_id):
    with app.app_context():
        return db.session.scalar(select(func.count(Payment.id)).where(Payment.invoice_id == invoice_id))


def test_cobv_by_the_job_paid_at_the_psp_and_reported_by_webhook(portal):
    app, fake, base_url = portal
    result = app.test_cli_runner().invoke(args=["billing", "pix-webhook", "register"])
    assert result.exit_code == 0, result.output
    chave = app.config["PIX_KEY"]
    assert fake.webhooks[chave] == f"{base_url}/webhooks/pix/{WEBHOOK_SECRET}"
    shown = app.test_cli_runner().invoke(args=["billing", "pix-webhook", "show"])
    assert shown.exit_code == 0 and f"{base_url}/webhooks/pix/{WEBHOOK_SECRET}" in shown.output

    invoice_id, user_id, txid, copia_e_cola = new_invoice(app, 123_456)
    assert fake.cobvs[txid]["valor"]["original"] == "1234.56" and fake.cobvs[txid]["status"] == "ATIVA"
    assert copia_e_cola.startswith("000201010212") and fake.cobvs[txid]["loc"]["location"] in copia_e_cola
    client = app.test_client()
    with app.app_context():
        sign_in(client, db.session.get(User, user_id))
        db.session.commit()
    page = client.get(f"/faturas/{invoice_id}").get_data(as_text=True)
    assert copia_e_cola in page and "Pix em preparação" not in page

    pix = fake.pay(txid)  # the payer pays; the fake POSTs {"pix": [...]} to the registered URL + /pix
    [(url, body, status)] = fake.webhook_deliveries
    assert (url, status) == (f"{base_url}/webhooks/pix/{WEBHOOK_SECRET}/pix", 200) and body == {"pix": [pix]}
    assert status_of(app, invoice_id) == InvoiceStatus.PAID and payments_of(app, invoice_id) == 1

    assert fake.send_webhook(chave, [pix]) == 200  # the PSP delivers the same Pix again
    assert payments_of(app, invoice_id) == 1

    fake.refund(pix["endToEndId"], 23_456)  # a devolução, reported by webhook
    with app.app_context():
        assert db.session.scalar(select(func.sum(PaymentReversal.amount_cents))) == 23_456
    assert status_of(app, invoice_id) == InvoiceStatus.OPEN

    removed = app.test_cli_runner().invoke(args=["billing", "pix-webhook", "remove"])
    assert removed.exit_code == 0 and chave not in fake.webhooks


def test_a_delivery_without_the_psps_certificate_records_nothing(portal):
    app, fake, base_url = portal
    assert app.test_cli_runner().invoke(args=["billing", "pix-webhook", "register"]).exit_code == 0
    invoice_id, _user_id, txid, _copia = new_invoice(app, 10_000)
    fake.webhook_headers = {PROXY_HEADER: "00" * 32}  # someone else's certificate, as the proxy reports it
    fake.pay(txid)
    assert fake.webhook_deliveries[-1][2] == 403
    assert status_of(app, invoice_id) == InvoiceStatus.OPEN and payments_of(app, invoice_id) == 0


def test_polling_catches_a_pix_whose_webhook_the_psp_did_not_send(portal):
    app, fake, _base_url = portal
    assert app.test_cli_runner().invoke(args=["billing", "pix-webhook", "register"]).exit_code == 0
    invoice_id, _user_id, txid, _copia = new_invoice(app, 50_000)
    fake.deliver_webhooks = False
    fake.pay(txid)
    assert fake.webhook_deliveries == [] and status_of(app, invoice_id) == InvoiceStatus.OPEN
    with app.app_context():
        assert billing_jobs.poll_pix.call_local()["recorded"] == 1
        assert billing_jobs.poll_pix.call_local()["recorded"] == 0
    assert status_of(app, invoice_id) == InvoiceStatus.PAID and payments_of(app, invoice_id) == 1


def test_the_cli_says_what_is_missing(make_app, engine_name):
    app = make_app(engine_name)  # PIX_BACKEND=static
    result = app.test_cli_runner().invoke(args=["billing", "pix-webhook", "register"])
    assert result.exit_code != 0 and "PIX_BACKEND=static" in result.output
