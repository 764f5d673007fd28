"""Dynamic Pix (issue 15, points 5–6): a cobv per invoice at the PSP (the simulator), and the Pix it reports by
webhook or polling recorded once per endToEndId as a payment of the invoice."""

from datetime import timedelta

import pytest
from flask import current_app
from sqlalchemy import func, select

from portal.billing import jobs as billing_jobs
from portal.billing import pix_charges
from portal.billing.models import (
    BillingException,
    CreditEntry,
    Invoice,
    InvoiceStatus,
    Payment,
    PixCharge,
    PixChargeStatus,
    PixReceipt,
)
from portal.extensions import db
from portal.integrations.pix import PixError, ReceivedPix, SimulatedPixProvider, txid_for
from portal.shared import clock
from portal.shared import documents as stored_documents
from tests import factories
from tests.fakes import pdf
from tests.fakes.concurrency import concurrently

SECRET = "w3bh00k-s3cret"


class FlakyPsp(SimulatedPixProvider):
    """The simulator, failing `create_cobv` while `down` (a timeout: retryable, no status)."""

    down = True

    def create_cobv(self, request):
        if self.down:
            raise PixError("timed out", retryable=True)
        return super().create_cobv(request)


@pytest.fixture
def psp(app_ctx, monkeypatch):
    simulator = FlakyPsp(app_ctx.config["PIX_KEY"], "PORTAL CLOUD", "SAO PAULO")
    simulator.down = False
    monkeypatch.setitem(app_ctx.extensions, "pix_provider", simulator)
    monkeypatch.setitem(app_ctx.config, "PIX_WEBHOOK_SECRET", SECRET)
    return simulator


@pytest.fixture
def invoice(app_ctx, world) -> Invoice:
    return factories.invoice(world.demo, total_cents=78_900)


def payments_of(invoice) -> list[Payment]:
    return list(db.session.scalars(select(Payment).where(Payment.invoice_id == invoice.id)))


def webhook(client, body, secret=SECRET, **kwargs):
    return client.post(f"/webhooks/pix/{secret}/pix", json=body, **kwargs)


def test_the_charge_is_created_with_a_deterministic_txid_and_its_pix_is_the_boletos(psp, invoice):
    charge = pix_charges.ensure_charge(invoice)
    expected = txid_for(invoice.id, 1, current_app.config.get("PIX_TXID_SECRET") or current_app.config["SECRET_KEY"])
    assert charge.txid == expected and charge.status == PixChargeStatus.ACTIVE and charge.last_error is None
    cobv = psp.get_cobv(expected)
    assert cobv.amount_cents == 78_900 and cobv.due_date == invoice.current_boleto.due_date
    assert invoice.current_boleto.pix_payload == cobv.pix_copia_e_cola == charge.pix_copia_e_cola
    assert charge.location == cobv.location
    again = pix_charges.ensure_charge(invoice)  # nothing new
    assert again.id == charge.id and psp.get_cobv(expected).revision == 0
    assert db.session.scalar(select(func.count(PixCharge.id))) == 1


def test_the_payers_cnpj_name_multa_and_juros_go_to_the_psp(psp, invoice, billing_settings):
    charge = pix_charges.ensure_charge(invoice)
    body = psp.body_of(charge.txid)
    assert body["devedor"] == {"cnpj": invoice.organization.cnpj, "nome": invoice.organization.legal_name}
    assert body["valor"]["original"] == "789.00"
    if billing_settings.fine_bp:
        assert body["valor"]["multa"]["modalidade"] == 2
    if billing_settings.interest_monthly_bp:
        assert body["valor"]["juros"]["modalidade"] == 3


def test_without_a_provider_nothing_changes(app_ctx, invoice):
    static = invoice.current_boleto.pix_payload
    assert app_ctx.extensions.get("pix_provider") is None
    assert pix_charges.ensure_charge(invoice) is None
    assert invoice.current_boleto.pix_payload == static
    assert db.session.scalar(select(func.count(PixCharge.id))) == 0


def test_a_psp_error_leaves_the_charge_pending_and_the_job_retries_it(psp, invoice):
    static = invoice.current_boleto.pix_payload
    psp.down = True
    with pytest.raises(PixError):
        pix_charges.ensure_charge(invoice)
    charge = db.session.scalar(select(PixCharge))
    assert charge.status == PixChargeStatus.PENDING and "timed out" in charge.last_error
    assert invoice.current_boleto.pix_payload == static
    assert billing_jobs.ensure_pix_charge.retries > 0  # huey tries again later
    psp.down = False
    assert billing_jobs.ensure_pix_charge.call_local(invoice.id) == PixChargeStatus.ACTIVE
    db.session.expire_all()  # the job ran in a session of its own
    charge = db.session.scalar(select(PixCharge))
    assert charge.status == PixChargeStatus.ACTIVE and charge.last_error is None
    assert invoice.current_boleto.pix_payload == charge.pix_copia_e_cola != static


def test_the_webhook_records_the_payment_once_and_the_invoice_is_paid(psp, invoice, client):
    charge = pix_charges.ensure_charge(invoice)
    paid = psp.pay(charge.txid)
    response = webhook(client, psp.webhook_body(paid))
    assert response.status_code == 200 and response.get_json()["recorded"] == 1
    again = webhook(client, psp.webhook_body(paid))  # the PSP delivers it again
    assert again.status_code == 200
    assert again.get_json() == {"recorded": 0, "duplicate": 1, "unmatched": 0, "reversed": 0}
    [payment] = payments_of(invoice)
    assert (payment.amount_cents, payment.method, payment.source, payment.external_id) == (
        78_900, "pix", "pix", paid.end_to_end_id)
    assert db.session.get(Invoice, invoice.id).status == InvoiceStatus.PAID
    receipt = db.session.scalar(select(PixReceipt))
    assert receipt.payment_id == payment.id and receipt.received_via == "webhook"
    assert db.session.scalar(select(PixCharge)).status == PixChargeStatus.PAID


def test_a_wrong_secret_is_a_404_and_records_nothing(psp, invoice, client):
    charge = pix_charges.ensure_charge(invoice)
    body = psp.webhook_body(psp.pay(charge.txid))
    assert webhook(client, body, secret="wrong").status_code == 404
    assert webhook(client, body, secret=SECRET + "x").status_code == 404
    assert payments_of(invoice) == []


def test_no_secret_configured_refuses_every_call(psp, invoice, client, monkeypatch):
    monkeypatch.setitem(current_app.config, "PIX_WEBHOOK_SECRET", "")
    assert client.post("/webhooks/pix//pix", json={"pix": []}).status_code == 404
    assert webhook(client, {"pix": []}, secret="anything").status_code == 404


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"pix": {}}', b'{"pix": [{"txid": "x"}]}',
                                  b'{"pix": [{"endToEndId": "E1", "valor": "1,00", "horario": "2026-01-01"}]}',
                                  b'{"pix": [{"endToEndId": "E1", "valor": "1.00", "horario": "ontem"}]}',
                                  b"\xff\xfe"])
def test_a_bad_body_is_a_400_problem_never_a_500(psp, client, body):
    response = client.post(f"/webhooks/pix/{SECRET}/pix", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.content_type == "application/problem+json"
    assert response.get_json()["status"] == 400


def test_polling_records_a_pix_the_webhook_missed(psp, invoice):
    charge = pix_charges.ensure_charge(invoice)
    paid = psp.pay(charge.txid)
    outcome = billing_jobs.poll_pix.call_local()
    db.session.expire_all()
    assert outcome == {"recorded": 1, "duplicate": 0, "unmatched": 0, "reversed": 0}
    assert billing_jobs.poll_pix.call_local() == {"recorded": 0, "duplicate": 1, "unmatched": 0, "reversed": 0}
    [payment] = payments_of(invoice)
    assert payment.external_id == paid.end_to_end_id
    assert db.session.scalar(select(PixReceipt.received_via)) == "polling"


def test_a_pix_of_an_unknown_txid_is_kept_unmatched_and_pays_nothing(psp, invoice, client):
    stranger = ReceivedPix(end_to_end_id="E99999999202612061200abcdefghijk", txid="f" * 32, amount_cents=5_000,
                           paid_at=clock.now())
    response = webhook(client, psp.webhook_body(stranger))
    assert response.status_code == 200 and response.get_json()["unmatched"] == 1
    receipt = db.session.scalar(select(PixReceipt))
    assert receipt.payment_id is None and receipt.txid == "f" * 32 and receipt.amount_cents == 5_000
    assert db.session.scalar(select(func.count(Payment.id))) == 0


def test_a_cancelled_invoice_has_its_cobv_removed(psp, invoice):
    charge = pix_charges.ensure_charge(invoice)
    invoice.status = InvoiceStatus.CANCELLED
    db.session.commit()
    assert pix_charges.ensure_charge(invoice) is None
    assert db.session.get(PixCharge, charge.id).status == PixChargeStatus.REMOVED
    assert psp.get_cobv(charge.txid).status.startswith("REMOVIDA")


def test_a_2a_via_gets_a_new_cobv_and_the_previous_one_is_removed(psp, invoice, billing_settings):
    first = pix_charges.ensure_charge(invoice)
    from portal.billing.boletos import new_boleto
    new_boleto(invoice, billing_settings, due=invoice.due_date + timedelta(days=20), amount_cents=80_000, sequence=2)
    db.session.commit()
    db.session.refresh(invoice)
    second = pix_charges.ensure_charge(invoice)
    assert second.txid == txid_for(invoice.id, 2, pix_charges.txid_secret(current_app.config)) != first.txid
    assert psp.get_cobv(second.txid).amount_cents == 80_000
    assert invoice.current_boleto.pix_payload == second.pix_copia_e_cola
    assert db.session.get(PixCharge, first.id).status == PixChargeStatus.REMOVED


# ---------------------------------------------------------------- real concurrency (committed transactions)

def test_the_same_webhook_delivered_twice_at_once_records_one_payment(make_app, engine_name):
    app = make_app(engine_name, PIX_BACKEND="simulator", PIX_WEBHOOK_SECRET=SECRET)
    with app.app_context():
        organization = factories.OrganizationFactory()
        db.session.commit()
        invoice = factories.invoice(organization, total_cents=50_000)
        charge = pix_charges.ensure_charge(invoice)
        psp = app.extensions["pix_provider"]
        body = psp.webhook_body(psp.pay(charge.txid))
        invoice_id = invoice.id

    def deliver(_index):
        with app.app_context():
            return app.test_client().post(f"/webhooks/pix/{SECRET}/pix", json=body).status_code

    results, errors = concurrently(4, deliver)
    assert not errors and results == [200] * 4
    with app.app_context():
        assert db.session.scalar(select(func.count(Payment.id)).where(Payment.invoice_id == invoice_id)) == 1
        assert db.session.scalar(select(func.count(PixReceipt.id))) == 1
        assert db.session.get(Invoice, invoice_id).status == InvoiceStatus.PAID


# ---------------------------------------------------------------- the client certificate, as the proxy reports it

PSP_FINGERPRINT = "AB:CD:" + ":".join(["0F"] * 30)


@pytest.fixture
def behind_proxy(psp, monkeypatch):
    monkeypatch.setitem(current_app.config, "PIX_WEBHOOK_CERT_HEADER", "X-SSL-Client-Fingerprint")
    monkeypatch.setitem(current_app.config, "PIX_WEBHOOK_CERT_SHA256", f"{'1' * 64}, {PSP_FINGERPRINT}")
    return psp


def test_behind_the_proxy_only_the_psps_certificate_is_accepted(behind_proxy, invoice, client):
    psp = behind_proxy
    body = psp.webhook_body(psp.pay(pix_charges.ensure_charge(invoice).txid))
    for headers in ({}, {"X-SSL-Client-Fingerprint": ""}, {"X-SSL-Client-Fingerprint": "2" * 64},
                    {"X-Other": PSP_FINGERPRINT}):
        refused = webhook(client, body, headers=headers)
        assert refused.status_code == 403 and refused.content_type == "application/problem+json"
    assert payments_of(invoice) == [] and db.session.scalar(select(func.count(PixReceipt.id))) == 0
    # the same fingerprint written without colons and in lowercase is the same certificate
    accepted = webhook(client, body, headers={"X-SSL-Client-Fingerprint": PSP_FINGERPRINT.replace(":", "").lower()})
    assert accepted.status_code == 200 and accepted.get_json()["recorded"] == 1


@pytest.mark.parametrize("setting", ["PIX_WEBHOOK_CERT_HEADER", "PIX_WEBHOOK_CERT_SHA256"])
def test_half_a_certificate_check_refuses_every_delivery(behind_proxy, invoice, client, monkeypatch, setting):
    monkeypatch.setitem(current_app.config, setting, "")
    body = behind_proxy.webhook_body(behind_proxy.pay(pix_charges.ensure_charge(invoice).txid))
    assert webhook(client, body, headers={"X-SSL-Client-Fingerprint": PSP_FINGERPRINT}).status_code == 403
    assert payments_of(invoice) == []


def test_a_pix_on_an_invoice_cancelled_meanwhile_becomes_credit_and_an_exception(psp, invoice):
    """The customer paid the Pix while the invoice was being cancelled: no payment, the money is the organization's
    credit and finance is told; the next Pix of the same report is still recorded."""
    charge = pix_charges.ensure_charge(invoice)
    paid = psp.pay(charge.txid)
    other = factories.invoice(invoice.organization, total_cents=10_000,
                              billing_date=invoice.billing_date - timedelta(days=1))
    other_pix = psp.pay(pix_charges.ensure_charge(other).txid)
    invoice.status = InvoiceStatus.CANCELLED
    db.session.commit()

    outcome = pix_charges.record_received([paid, other_pix], "webhook")

    assert outcome.recorded == 1 and outcome.unmatched == 1
    assert payments_of(invoice) == [] and len(payments_of(other)) == 1
    assert db.session.scalar(select(func.sum(CreditEntry.amount_cents))) == 78_900
    (exception,) = db.session.scalars(select(BillingException))
    assert exception.kind == "pago_fatura_cancelada" and paid.end_to_end_id in exception.message
    assert exception.invoice_id == invoice.id


# ---------------------------------------------------------------- the documents carry the dynamic Pix

def _boleto_pdf_text(invoice: Invoice) -> str:
    """The boleto PDF's text (a copia-e-cola wraps over lines: compare with `_squeezed`)."""
    db.session.expire_all()
    boleto = db.session.get(Invoice, invoice.id).current_boleto
    content, _media_type = stored_documents.load(boleto.pdf_sha256)
    return pdf.flat(pdf.pdf_text(content))


def _squeezed(text: str) -> str:
    return "".join(text.split())


def test_the_invoice_job_makes_the_cobv_first_so_the_pdfs_and_the_e_mail_carry_it(psp, invoice, outbox):
    static = invoice.current_boleto.pix_payload
    assert billing_jobs.complete_invoice.call_local(invoice.id) == "complete"
    charge = db.session.scalar(select(PixCharge))
    assert charge.status == PixChargeStatus.ACTIVE
    text = _boleto_pdf_text(invoice)
    assert _squeezed(charge.pix_copia_e_cola) in _squeezed(text) and _squeezed(static) not in _squeezed(text)
    body = outbox[-1].get_body(("plain",)).get_content()
    assert charge.pix_copia_e_cola in body and "Pix em preparação" not in body


def test_while_the_psp_is_down_the_documents_say_pix_em_preparacao_and_are_made_again_with_it(psp, invoice, outbox):
    static = invoice.current_boleto.pix_payload
    psp.down = True
    assert billing_jobs.complete_invoice.call_local(invoice.id) == "complete"  # the invoice goes out all the same
    text = _boleto_pdf_text(invoice)
    assert "Pix em preparação" in text and _squeezed(static) not in _squeezed(text)
    body = outbox[-1].get_body(("plain",)).get_content()
    assert "Pix em preparação" in body and static not in body
    first_pdf = db.session.get(Invoice, invoice.id).current_boleto.pdf_sha256

    psp.down = False
    assert billing_jobs.ensure_pix_charge.call_local(invoice.id) == PixChargeStatus.ACTIVE
    charge = db.session.scalar(select(PixCharge))
    text = _boleto_pdf_text(invoice)  # made again by the invoice job the charge queued
    assert _squeezed(charge.pix_copia_e_cola) in _squeezed(text) and "Pix em preparação" not in text
    assert db.session.get(Invoice, invoice.id).current_boleto.pdf_sha256 != first_pdf
