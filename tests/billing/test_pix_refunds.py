"""Pix devoluções (issue 15, point 6): a Pix the PSP reports with `devolucoes[]` DEVOLVIDO reverses that amount
of its payment, once per rtrId; the invoice goes back to open when what remains paid is below what is due."""

from dataclasses import replace

import pytest
from sqlalchemy import func, select

from portal.billing import jobs as billing_jobs
from portal.billing import pix_charges
from portal.billing.models import CreditEntry, Invoice, InvoiceStatus, PaymentReversal
from portal.billing.payments import paid_cents, reverse_payment
from portal.extensions import db
from portal.integrations.pix import Refund, SimulatedPixProvider
from portal.shared import clock
from portal.shared.audit import Actor, AuditEvent, AuditTag
from portal.shared.errors import ServiceError
from tests import factories
from tests.fakes.concurrency import concurrently
from tests.html import text

SECRET = "w3bh00k-s3cret"


@pytest.fixture
def psp(app_ctx, monkeypatch):
    simulator = SimulatedPixProvider(app_ctx.config["PIX_KEY"], "PORTAL CLOUD", "SAO PAULO")
    monkeypatch.setitem(app_ctx.extensions, "pix_provider", simulator)
    monkeypatch.setitem(app_ctx.config, "PIX_WEBHOOK_SECRET", SECRET)
    return simulator


@pytest.fixture
def paid(psp, world, client):
    """An invoice of R$ 789,00 paid by Pix through the webhook: (invoice, the Pix)."""
    invoice = factories.invoice(world.demo, total_cents=78_900)
    charge = pix_charges.ensure_charge(invoice)
    pix = psp.pay(charge.txid)
    assert webhook(client, psp.webhook_body(pix)).get_json()["recorded"] == 1
    assert db.session.get(Invoice, invoice.id).status == InvoiceStatus.PAID
    return invoice, pix


def webhook(client, body):
    return client.post(f"/webhooks/pix/{SECRET}/pix", json=body)


def credits(organization) -> list[CreditEntry]:
    return list(db.session.scalars(select(CreditEntry).where(CreditEntry.organization_id == organization.id)
                                   .order_by(CreditEntry.id)))


def reversals() -> list[PaymentReversal]:
    return list(db.session.scalars(select(PaymentReversal).order_by(PaymentReversal.id)))


def test_a_devolucao_by_webhook_reverses_the_payment_once_and_reopens_the_invoice(psp, paid, client):
    invoice, pix = paid
    refunded = psp.refund(pix.end_to_end_id, 10_000)
    answer = webhook(client, psp.webhook_body(refunded))
    assert answer.status_code == 200 and answer.get_json() == {"recorded": 0, "duplicate": 1, "unmatched": 0,
                                                               "reversed": 1}
    assert webhook(client, psp.webhook_body(refunded)).get_json()["reversed"] == 0  # delivered again: nothing new
    [reversal] = reversals()
    assert (reversal.amount_cents, reversal.source, reversal.external_id) == (10_000, "pix",
                                                                              refunded.refunds[0].rtr_id)
    db.session.expire_all()
    invoice = db.session.get(Invoice, invoice.id)
    assert invoice.status == InvoiceStatus.OPEN and invoice.paid_at is None
    assert paid_cents(invoice.id) == invoice.paid_cents == 68_900
    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.tag == AuditTag.PAYMENT_REVERSED))
    assert event.subject == f"invoice:{invoice.id}" and event.after["reopened"] is True
    assert event.after["balance_cents"] == 10_000 and event.organization_id == invoice.organization_id


def test_the_invoice_pages_list_the_devolucao(psp, paid, client, world, login_as):
    invoice, pix = paid
    webhook(client, psp.webhook_body(psp.refund(pix.end_to_end_id, 10_000)))
    staff = login_as("staff_financeiro")
    page = staff.get(f"/backoffice/faturas/{invoice.id}").get_data(as_text=True)
    assert "−R$ 100,00" in text(page) and "Devolução" in page
    customer = login_as("cobranca")
    page = customer.get(f"/faturas/{invoice.id}").get_data(as_text=True)
    assert "Devolução do pagamento" in page and "−R$ 100,00" in text(page)


def test_polling_reverses_a_devolucao_the_webhook_missed(psp, paid):
    invoice, pix = paid
    psp.refund(pix.end_to_end_id, 78_900)
    assert billing_jobs.poll_pix.call_local()["reversed"] == 1
    assert billing_jobs.poll_pix.call_local()["reversed"] == 0
    db.session.expire_all()
    assert db.session.get(Invoice, invoice.id).status == InvoiceStatus.OPEN
    assert paid_cents(invoice.id) == 0


def test_a_devolucao_in_processing_or_not_made_reverses_nothing(psp, paid, client):
    invoice, pix = paid
    for status in ("EM_PROCESSAMENTO", "NAO_REALIZADO"):
        pending = replace(pix, refunds=(Refund(id="D9", rtr_id="D" + "1" * 31, amount_cents=5_000, status=status),))
        assert webhook(client, psp.webhook_body(pending)).get_json()["reversed"] == 0
    assert reversals() == []
    assert db.session.get(Invoice, invoice.id).status == InvoiceStatus.PAID


def test_an_overpaid_invoice_stays_paid_when_what_remains_covers_it(psp, world, client):
    invoice = factories.invoice(world.demo, total_cents=78_900)
    charge = pix_charges.ensure_charge(invoice)
    pix = psp.pay(charge.txid, amount_cents=80_000)
    webhook(client, psp.webhook_body(pix))
    webhook(client, psp.webhook_body(psp.refund(pix.end_to_end_id, 1_100)))
    db.session.expire_all()
    assert [r.amount_cents for r in reversals()] == [1_100]
    assert db.session.get(Invoice, invoice.id).status == InvoiceStatus.PAID
    # the overpayment had become credit (R$ 11,00): given back, it is taken back from the credit
    assert [c.amount_cents for c in credits(world.demo)] == [1_100, -1_100]


def test_a_whole_overpaid_pix_given_back_takes_back_its_credit_and_reopens_the_invoice(psp, world, client):
    invoice = factories.invoice(world.demo, total_cents=78_900)
    pix = psp.pay(pix_charges.ensure_charge(invoice).txid, amount_cents=80_000)
    webhook(client, psp.webhook_body(pix))
    webhook(client, psp.webhook_body(psp.refund(pix.end_to_end_id, 80_000)))
    db.session.expire_all()
    assert db.session.get(Invoice, invoice.id).status == InvoiceStatus.OPEN
    assert sum(c.amount_cents for c in credits(world.demo)) == 0  # the customer keeps no credit for money returned
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.tag == AuditTag.PAYMENT_REVERSED))
    assert event.after["credit_taken_back_cents"] == 1_100


def test_more_than_was_paid_is_refused(paid):
    invoice, pix = paid
    payment = db.session.get(Invoice, invoice.id).payments[0]
    actor = Actor.system("test")
    with pytest.raises(ServiceError):
        reverse_payment(payment, amount_cents=78_901, actor=actor, source="pix", external_id="D" + "2" * 31,
                        reversed_on=clock.today())
    db.session.rollback()
    reverse_payment(payment, amount_cents=78_900, actor=actor, source="pix", external_id="D" + "3" * 31,
                    reversed_on=clock.today())
    with pytest.raises(ServiceError):
        reverse_payment(payment, amount_cents=1, actor=actor, source="pix", external_id="D" + "4" * 31,
                        reversed_on=clock.today())


# ---------------------------------------------------------------- real concurrency (committed transactions)

def test_the_same_devolucao_reported_twice_at_once_reverses_once(make_app, engine_name):
    app = make_app(engine_name, PIX_BACKEND="simulator", PIX_WEBHOOK_SECRET=SECRET)
    with app.app_context():
        organization = factories.OrganizationFactory()
        db.session.commit()
        invoice = factories.invoice(organization, total_cents=50_000)
        charge = pix_charges.ensure_charge(invoice)
        psp = app.extensions["pix_provider"]
        pix = psp.pay(charge.txid)
        assert pix_charges.record_received([pix], pix_charges.WEBHOOK).recorded == 1
        body = psp.webhook_body(psp.refund(pix.end_to_end_id, 20_000))
        invoice_id = invoice.id

    def deliver(_index):
        with app.app_context():
            return app.test_client().post(f"/webhooks/pix/{SECRET}/pix", json=body).get_json()["reversed"]

    results, errors = concurrently(4, deliver)
    assert not errors and sorted(results) == [0, 0, 0, 1]
    with app.app_context():
        assert db.session.scalar(select(func.count(PaymentReversal.id))) == 1
        assert db.session.scalar(select(func.count(AuditEvent.seq))
                                 .where(AuditEvent.tag == AuditTag.PAYMENT_REVERSED)) == 1
        assert db.session.get(Invoice, invoice_id).status == InvoiceStatus.OPEN
        assert paid_cents(invoice_id) == 30_000
