"""Payments: partial, exact and over-payments, the 2ª via rule, idempotent gateway ids, cancelled invoices,
webhook events processed once, online payments started through a gateway, and "inadimplência" (blocking
purchases and increases, never decreases).

Unless a test says otherwise, the invoice is R$ 1.000,00, issued 2026-03-10, due 2026-03-20, and the clock
is 2026-03-25 12:00 in São Paulo.
"""

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from portal.billing import jobs as billing_jobs
from portal.billing import payments
from portal.billing.boletos import new_boleto
from portal.billing.models import (
    BillingException,
    CreditEntry,
    ExceptionKind,
    GatewayEvent,
    GatewayPayment,
    Invoice,
    InvoiceStatus,
    Payment,
)
from portal.billing.service import credit_balance
from portal.billing.settings import BillingSettings
from portal.catalog import cart
from portal.extensions import db
from portal.integrations.payments import GatewayPaymentResult, ManualGateway, WebhookEvent
from portal.shared import clock
from portal.shared.audit import Actor, AuditEvent, AuditTag
from portal.shared.errors import ServiceError
from portal.subscriptions import service as subscriptions
from tests import factories

MARCH_25 = datetime(2026, 3, 25, 15, 0, tzinfo=UTC)
BLOCKED = "Sua organização tem faturas vencidas"


@pytest.fixture(autouse=True)
def settings(app_ctx, monkeypatch):
    """Inadimplente after more than 15 days overdue (the daily job reads the app's config)."""
    monkeypatch.setitem(app_ctx.config, "BILLING_DELINQUENT_AFTER_DAYS", 15)
    return BillingSettings.from_config(app_ctx.config)


@pytest.fixture
def march(app_ctx, world):
    world.demo.microsoft_tenant_id = "tenant-demo"
    db.session.commit()
    with clock.frozen(MARCH_25):
        yield clock


@pytest.fixture
def invoice(march, world) -> Invoice:
    return factories.invoice(world.demo, total_cents=100_000, billing_date=date(2026, 3, 10),
                             due_date=date(2026, 3, 20))


@pytest.fixture
def finance(world) -> Actor:
    return Actor.for_user(world.staff_financeiro, ip="203.0.113.9", user_agent="pytest")


def pay(invoice, amount, *, on=date(2026, 3, 19), actor=None, **kwargs):
    return payments.record_payment(invoice, amount_cents=amount, method=kwargs.pop("method", "deposito"), paid_on=on,
                                   actor=actor or Actor.system("tests"), **kwargs)


def fresh(invoice) -> Invoice:
    db.session.expire_all()
    return db.session.get(Invoice, invoice.id)


def events(tag, subject=None) -> list[AuditEvent]:
    statement = select(AuditEvent).where(AuditEvent.tag == tag).order_by(AuditEvent.seq)
    if subject:
        statement = statement.where(AuditEvent.subject == subject)
    return list(db.session.scalars(statement))


def credits(organization) -> list[CreditEntry]:
    return list(db.session.scalars(select(CreditEntry).where(CreditEntry.organization_id == organization.id)
                                   .order_by(CreditEntry.id)))


# ---------------------------------------------------------------- partial, exact, over-payment

def test_a_partial_payment_keeps_the_invoice_open_with_its_balance(invoice, finance):
    payment = pay(invoice, 40_000, actor=finance, note="TED 123")
    found = fresh(invoice)
    assert found.status == InvoiceStatus.OPEN and found.paid_at is None
    assert (payment.amount_cents, payment.method, payment.source, payment.note) == (40_000, "deposito", "manual",
                                                                                    "TED 123")
    assert payment.recorded_by_id == finance.user_id
    assert payments.balance(found, date(2026, 3, 19)).open_cents == 60_000
    [event] = events(AuditTag.PAYMENT_RECORDED, f"invoice:{invoice.id}")
    assert event.actor_id == finance.user_id and event.organization_id == invoice.organization_id
    assert (event.after["amount_cents"], event.after["balance_cents"]) == (40_000, 60_000)
    assert events(AuditTag.INVOICE_PAID) == []


def test_partial_payments_that_reach_the_total_pay_the_invoice(invoice):
    pay(invoice, 40_000, method="pix")
    pay(invoice, 60_000, method="boleto")
    found = fresh(invoice)
    assert found.status == InvoiceStatus.PAID and found.paid_at == MARCH_25
    assert [p.amount_cents for p in found.payments] == [40_000, 60_000]
    [paid] = events(AuditTag.INVOICE_PAID, f"invoice:{invoice.id}")
    assert (paid.after["paid_cents"], paid.after["credit_cents"]) == (100_000, 0)
    assert credits(found.organization) == []


def test_an_exact_payment_pays_the_invoice(invoice):
    pay(invoice, 100_000)
    found = fresh(invoice)
    assert found.status == InvoiceStatus.PAID
    assert payments.balance(found, clock.today()).open_cents == 0


def test_an_over_payment_pays_and_the_excess_becomes_credit(invoice, world):
    pay(invoice, 100_050)
    found = fresh(invoice)
    assert found.status == InvoiceStatus.PAID
    [credit] = credits(world.demo)
    assert credit.amount_cents == 50 and found.display_number in credit.description
    assert credit_balance(world.demo.id) == 50
    assert payments.balance(found, clock.today()).credit_cents == 50
    assert events(AuditTag.INVOICE_PAID)[0].after["credit_cents"] == 50


def test_money_for_an_invoice_already_paid_is_credit_in_full(invoice, world):
    pay(invoice, 100_000)
    pay(invoice, 100_000, note="boleto pago duas vezes")
    assert fresh(invoice).status == InvoiceStatus.PAID
    assert [c.amount_cents for c in credits(world.demo)] == [100_000]
    assert len(events(AuditTag.INVOICE_PAID)) == 1


# ---------------------------------------------------------------- the 2ª via rule

@pytest.fixture
def second_copy(invoice, settings):
    """A 2ª via asked on 03-25, due 03-30: multa R$ 20,00 (2%) and juros R$ 3,33 (10 days at 1% a.m.)."""
    boleto = new_boleto(invoice, settings, due=date(2026, 3, 30), amount_cents=102_333, sequence=2,
                        fine_cents=2_000, interest_cents=333)
    db.session.commit()
    return boleto


def test_after_the_due_date_the_second_copy_amount_is_owed(invoice, second_copy):
    pay(invoice, 100_000, on=date(2026, 3, 25))
    found = fresh(invoice)
    assert found.status == InvoiceStatus.OPEN
    assert payments.balance(found, date(2026, 3, 25)).open_cents == 2_333
    pay(invoice, 2_333, on=date(2026, 3, 25))
    assert fresh(invoice).status == InvoiceStatus.PAID


def test_the_second_copy_amount_paid_at_once_settles_it(invoice, second_copy, world):
    pay(invoice, 102_333, on=date(2026, 3, 25), method="boleto")
    assert fresh(invoice).status == InvoiceStatus.PAID
    assert credits(world.demo) == []


def test_paid_by_the_original_due_date_no_multa_is_owed(invoice, second_copy, world):
    pay(invoice, 100_000, on=date(2026, 3, 20))
    assert fresh(invoice).status == InvoiceStatus.PAID
    assert credits(world.demo) == []


def test_without_a_second_copy_a_late_payment_owes_the_total(invoice):
    assert payments.amount_due(invoice, date(2026, 4, 30)) == 100_000
    pay(invoice, 100_000, on=date(2026, 3, 25))
    assert fresh(invoice).status == InvoiceStatus.PAID


# ---------------------------------------------------------------- refusals and idempotency

def test_a_repeated_gateway_payment_is_ignored(invoice):
    first = pay(invoice, 30_000, source="stripe", external_id="pi_123", method="card")
    again = pay(invoice, 30_000, source="stripe", external_id="pi_123", method="card")
    assert again.id == first.id
    assert db.session.scalar(select(func.count(Payment.id)).where(Payment.invoice_id == invoice.id)) == 1
    assert len(events(AuditTag.PAYMENT_RECORDED)) == 1
    # The same id from another source, and manual payments without one, are different payments.
    pay(invoice, 10_000, source="manual", external_id="pi_123")
    pay(invoice, 10_000)
    pay(invoice, 10_000)
    assert fresh(invoice).paid_cents == 60_000


def test_a_cancelled_invoice_takes_no_payment(march, world):
    cancelled = factories.invoice(world.demo, status=InvoiceStatus.CANCELLED, total_cents=100_000,
                                  billing_date=date(2026, 3, 10))
    with pytest.raises(ServiceError, match="cancelada"):
        pay(cancelled, 100_000)
    assert fresh(cancelled).payments == [] and events(AuditTag.PAYMENT_RECORDED) == []


@pytest.mark.parametrize(("amount", "on", "field"), [
    (0, date(2026, 3, 19), "amount"),
    (-5, date(2026, 3, 19), "amount"),
    (2**31, date(2026, 3, 19), "amount"),
    (100, date(2026, 3, 26), "paid_on"),  # tomorrow
])
def test_bad_input_is_refused_on_its_field(invoice, amount, on, field):
    with pytest.raises(ServiceError) as refused:
        pay(invoice, amount, on=on)
    assert refused.value.field == field
    assert fresh(invoice).payments == []


def test_an_unknown_method_is_refused(invoice):
    with pytest.raises(ServiceError) as refused:
        pay(invoice, 100, method="cheque")
    assert refused.value.field == "method"


# ---------------------------------------------------------------- inadimplência

def test_more_than_the_setting_overdue_makes_the_organization_delinquent(invoice, world, settings):
    actor = Actor.system("tests")
    # Due 03-20; 15 days later (04-04) it is not yet "more than 15 days" overdue.
    assert payments.refresh_delinquency(world.demo, date(2026, 4, 4), settings, actor) is None
    assert world.demo.delinquent_since is None
    assert payments.refresh_delinquency(world.demo, date(2026, 4, 5), settings, actor) == "delinquent"
    db.session.commit()
    assert fresh(invoice).organization.delinquent_since == date(2026, 4, 5)
    [event] = events(AuditTag.ORGANIZATION_DELINQUENT)
    assert event.after["invoices"] == [invoice.display_number] and event.organization_id == world.demo.id
    assert payments.refresh_delinquency(world.demo, date(2026, 4, 6), settings, actor) is None  # once


def test_the_daily_job_marks_and_clears(invoice, world):
    with clock.frozen(datetime(2026, 4, 5, 13, 0, tzinfo=UTC)):
        assert billing_jobs.daily_delinquency.call_local()["delinquent"] == 1
        db.session.expire_all()
        assert world.demo.delinquent_since == date(2026, 4, 5)
        assert billing_jobs.daily_delinquency.call_local() == {"delinquent": 0, "good_standing": 0, "unchanged": 1,
                                                           "failed": 0}
        db.session.get(Invoice, invoice.id).status = InvoiceStatus.CANCELLED  # e.g. replaced by a corrected one
        db.session.commit()
        assert billing_jobs.daily_delinquency.call_local()["good_standing"] == 1
        db.session.expire_all()
        assert world.demo.delinquent_since is None
        assert len(events(AuditTag.ORGANIZATION_GOOD_STANDING)) == 1


def test_a_delinquent_organization_cannot_buy_or_increase_but_can_decrease(invoice, world, settings):
    subscription = factories.subscription(world.demo, quantity=10)
    product = factories.ProductFactory(name="Defender")
    cart.set_cart_quantity(organization=world.demo, user=world.adm, product_id=product.id, quantity=2)
    db.session.commit()
    payments.refresh_delinquency(world.demo, date(2026, 4, 5), settings, Actor.system("tests"))
    db.session.commit()
    adm = Actor.for_user(world.adm)
    with pytest.raises(ServiceError, match=BLOCKED) as refused:
        subscriptions.quote_quantity_change(organization=world.demo, subscription=subscription, new_quantity=11,
                                            actor=adm)
    assert "reduções e cancelamentos continuam disponíveis" in refused.value.message
    with pytest.raises(ServiceError, match=BLOCKED):
        subscriptions.quote_checkout(organization=world.demo, user=world.adm, actor=adm)
    decrease = subscriptions.quote_quantity_change(organization=world.demo, subscription=subscription,
                                                   new_quantity=8, actor=adm)
    assert decrease.new_quantity == 8


def test_paying_the_overdue_invoice_lifts_the_block(invoice, world, settings):
    subscription = factories.subscription(world.demo, quantity=10)
    payments.refresh_delinquency(world.demo, date(2026, 4, 5), settings, Actor.system("tests"))
    db.session.commit()
    with clock.frozen(datetime(2026, 4, 6, 15, 0, tzinfo=UTC)):
        pay(invoice, 100_000, on=date(2026, 4, 6), settings=settings)
        db.session.expire_all()
        assert world.demo.delinquent_since is None
        [event] = events(AuditTag.ORGANIZATION_GOOD_STANDING)
        assert event.before == {"delinquent_since": "2026-04-05"}
        quote = subscriptions.quote_quantity_change(organization=world.demo, subscription=subscription,
                                                    new_quantity=12, actor=Actor.for_user(world.adm))
        assert quote.new_quantity == 12


def test_a_partial_payment_keeps_the_block(invoice, world, settings):
    payments.refresh_delinquency(world.demo, date(2026, 4, 5), settings, Actor.system("tests"))
    db.session.commit()
    with clock.frozen(datetime(2026, 4, 6, 15, 0, tzinfo=UTC)):
        pay(invoice, 50_000, on=date(2026, 4, 6), settings=settings)
    db.session.expire_all()
    assert world.demo.delinquent_since == date(2026, 4, 5)


def test_another_organizations_overdue_invoice_does_not_block_this_one(march, world, settings):
    factories.invoice(world.other, due_date=date(2026, 3, 1), total_cents=100_000, billing_date=date(2026, 3, 10))
    payments.refresh_delinquency(world.demo, date(2026, 4, 5), settings, Actor.system("tests"))
    assert world.demo.delinquent_since is None
    payments.ensure_not_delinquent(world.demo)


# ---------------------------------------------------------------- webhook events (the service side)

def intent(invoice, *, pi="pi_abc", amount=100_000, **fields) -> dict:
    return {"id": pi, "object": "payment_intent", "amount": amount, "currency": "brl", "status": "succeeded",
            "payment_method_types": ["card"],
            "metadata": {"portal_invoice_id": str(invoice.id), "portal_invoice_number": invoice.display_number},
            **fields}


def event(kind, data, event_id="evt_1") -> WebhookEvent:
    payload = {"id": event_id, "type": kind, "data": {"object": data}}
    return WebhookEvent(id=event_id, type=kind, created=MARCH_25, object=data, payload=payload)


def handle(found_event):
    return payments.handle_webhook_event(found_event, actor=Actor.system("webhook:stripe"))


def test_a_succeeded_intent_pays_the_invoice_once(invoice):
    assert handle(event("payment_intent.succeeded", intent(invoice))) == "recorded"
    found = fresh(invoice)
    assert found.status == InvoiceStatus.PAID
    [payment] = found.payments
    assert (payment.source, payment.external_id, payment.method, payment.paid_on) == ("stripe", "pi_abc", "card",
                                                                                      date(2026, 3, 25))
    assert handle(event("payment_intent.succeeded", intent(invoice))) == "duplicate"
    # Another event about the same PaymentIntent (Stripe may send several) records nothing either.
    assert handle(event("payment_intent.succeeded", intent(invoice), event_id="evt_2")) == "already recorded"
    assert len(fresh(invoice).payments) == 1
    assert db.session.scalar(select(func.count(GatewayEvent.id))) == 3 - 1  # the duplicate is not stored twice


def test_a_card_payment_on_a_cancelled_invoice_becomes_credit_and_an_exception_once(march, world):
    cancelled = factories.invoice(world.demo, status=InvoiceStatus.CANCELLED, total_cents=100_000,
                                  billing_date=date(2026, 3, 10))
    assert handle(event("payment_intent.succeeded", intent(cancelled))) == "credited: cancelled invoice"
    # Another event about the same PaymentIntent: the money is not credited twice.
    assert handle(event("payment_intent.succeeded", intent(cancelled), event_id="evt_2")) == "already reported"
    assert fresh(cancelled).payments == [] and db.session.scalar(select(func.count(GatewayEvent.id))) == 2
    assert [c.amount_cents for c in credits(world.demo)] == [100_000]
    [exception] = db.session.scalars(select(BillingException)).all()
    assert exception.kind == ExceptionKind.PAID_CANCELLED and exception.invoice_id == cancelled.id
    assert "Pagamento stripe pi_abc" in exception.message and "virou crédito" in exception.message


def test_a_boleto_intent_is_recorded_as_boleto(invoice):
    handle(event("payment_intent.succeeded", intent(invoice, payment_method_types=["boleto"], amount_received=100_000)))
    assert fresh(invoice).payments[0].method == "boleto"


@pytest.mark.parametrize("metadata", [
    {},
    {"portal_invoice_id": "999999", "portal_invoice_number": "2026/999999"},
    {"portal_invoice_id": "abc"},
    {"portal_invoice_id": "99999999999999999999"},
])
def test_an_event_about_no_invoice_of_ours_is_acknowledged_without_effect(invoice, metadata):
    assert handle(event("payment_intent.succeeded", intent(invoice, metadata=metadata))) == "unknown invoice"
    assert fresh(invoice).payments == []


def test_the_invoice_number_must_match_its_id(invoice):
    data = intent(invoice, metadata={"portal_invoice_id": str(invoice.id), "portal_invoice_number": "2025/000001"})
    assert handle(event("payment_intent.succeeded", data)) == "unknown invoice"
    assert fresh(invoice).status == InvoiceStatus.OPEN


def test_a_failed_intent_marks_the_gateway_payment_failed(invoice):
    db.session.add(GatewayPayment(invoice_id=invoice.id, gateway="stripe", external_id="pi_abc", method="card",
                                  amount_cents=100_000, status="requires_payment_method"))
    db.session.commit()
    data = intent(invoice, status="requires_payment_method",
                  last_payment_error={"code": "card_declined", "message": "Your card was declined."})
    assert handle(event("payment_intent.payment_failed", data)) == "marked failed"
    row = db.session.scalar(select(GatewayPayment))
    assert row.status == "failed" and row.detail["error"] == "Your card was declined."
    assert fresh(invoice).status == InvoiceStatus.OPEN


def test_other_events_are_stored_and_ignored(invoice):
    assert handle(event("customer.created", {"id": "cus_1", "object": "customer"})) == "ignored"


# ---------------------------------------------------------------- starting an online payment

class FakeGateway:
    """Answers like Stripe would; records what it was asked."""

    name = "stripe"
    online_methods = frozenset({"card", "boleto"})

    def __init__(self, status="requires_payment_method", error=None):
        self.calls, self.status, self.error = [], status, error

    def start_card_payment(self, invoice, *, customer_email, payment_method=None):
        self.calls.append((invoice, customer_email, payment_method))
        return GatewayPaymentResult(external_id=f"pi_{len(self.calls)}", method="card",
                                    amount_cents=invoice.amount_cents, status=self.status,
                                    client_secret=f"pi_{len(self.calls)}_secret_x", error=self.error)

    def start_boleto_payment(self, invoice, *, payer):
        self.calls.append((invoice, payer))
        return GatewayPaymentResult(external_id=f"pi_b{len(self.calls)}", method="boleto",
                                    amount_cents=invoice.amount_cents, status="requires_action",
                                    detail={"number": "23790.00000 00000.000000 00000.000000 1 00000000100000",
                                            "expires_at": "2026-03-28T02:59:59+00:00"})


def test_a_card_payment_waits_for_the_browser_and_is_reused(invoice, world):
    gateway = FakeGateway()
    actor = Actor.for_user(world.cobranca)
    row = payments.start_card_payment_for(invoice, gateway=gateway, actor=actor)
    assert (row.external_id, row.status, row.amount_cents) == ("pi_1", "requires_payment_method", 100_000)
    assert row.detail["client_secret"] == "pi_1_secret_x"
    charge, email, method = gateway.calls[0]
    assert (charge.invoice_id, charge.number, email, method) == (invoice.id, invoice.display_number,
                                                                 world.cobranca.email, None)
    again = payments.start_card_payment_for(invoice, gateway=gateway, actor=actor)
    assert again.id == row.id and len(gateway.calls) == 1  # one PaymentIntent per invoice and method


def test_a_partly_paid_invoice_is_charged_its_balance(invoice, world):
    pay(invoice, 30_000)
    gateway = FakeGateway(status="succeeded")
    row = payments.start_card_payment_for(invoice, gateway=gateway, actor=Actor.for_user(world.cobranca),
                                          payment_method="pm_card_visa")
    assert row.amount_cents == 70_000 and row.status == "succeeded"
    assert fresh(invoice).status == InvoiceStatus.OPEN  # paid only when the webhook arrives
    with pytest.raises(ServiceError, match="em processamento"):
        payments.start_card_payment_for(invoice, gateway=gateway, actor=Actor.for_user(world.cobranca),
                                        payment_method="pm_card_visa")


def test_a_declined_card_is_recorded_and_explained(invoice, world):
    gateway = FakeGateway(status="failed", error="Your card was declined.")
    with pytest.raises(ServiceError, match="recusado: Your card was declined"):
        payments.start_card_payment_for(invoice, gateway=gateway, actor=Actor.for_user(world.cobranca),
                                        payment_method="pm_card_chargeCustomerFail")
    row = db.session.scalar(select(GatewayPayment))
    assert row.status == "failed" and row.detail["error"] == "Your card was declined."
    gateway.status, gateway.error = "succeeded", None
    retry = payments.start_card_payment_for(invoice, gateway=gateway, actor=Actor.for_user(world.cobranca),
                                            payment_method="pm_card_visa")
    assert retry.status == "succeeded" and gateway.calls[-1][0].attempt == 2


def test_a_stripe_boleto_is_issued_to_the_organization(invoice, world):
    gateway = FakeGateway()
    row = payments.start_boleto_payment_for(invoice, gateway=gateway, actor=Actor.for_user(world.cobranca))
    assert row.method == "boleto" and row.detail["number"].startswith("23790")
    _charge, payer = gateway.calls[0]
    assert (payer.name, payer.tax_id, payer.email, payer.state) == (world.demo.legal_name, world.demo.cnpj,
                                                                    world.cobranca.email, "SP")
    again = payments.start_boleto_payment_for(invoice, gateway=gateway, actor=Actor.for_user(world.cobranca))
    assert again.id == row.id
    with clock.frozen(datetime(2026, 3, 28, 12, 0, tzinfo=UTC)):  # the voucher expired: a new one
        assert payments.start_boleto_payment_for(invoice, gateway=gateway,
                                                 actor=Actor.for_user(world.cobranca)).id != row.id


def test_what_takes_no_online_payment(invoice, world):
    actor = Actor.for_user(world.cobranca)
    with pytest.raises(ServiceError, match="não está disponível"):
        payments.start_card_payment_for(invoice, gateway=ManualGateway(), actor=actor)
    pay(invoice, 100_000)
    with pytest.raises(ServiceError, match="já está paga"):
        payments.start_card_payment_for(fresh(invoice), gateway=FakeGateway(), actor=actor)
    cancelled = factories.invoice(world.demo, billing_date=date(2026, 2, 10), status=InvoiceStatus.CANCELLED,
                                  total_cents=100_000)
    with pytest.raises(ServiceError, match="cancelada"):
        payments.start_card_payment_for(cancelled, gateway=FakeGateway(), actor=actor)


def test_the_period_since_due_is_counted_in_business_days_not_hours(invoice, settings):
    """Overdue is by business date: 23:30 in São Paulo on 04-04 is still 04-04 there (02:30 UTC on 04-05)."""
    late_evening = datetime(2026, 4, 5, 2, 30, tzinfo=UTC)
    with clock.frozen(late_evening):
        assert clock.today() == date(2026, 4, 4)
        assert billing_jobs.daily_delinquency.call_local()["delinquent"] == 0
    with clock.frozen(late_evening + timedelta(hours=1)):
        assert billing_jobs.daily_delinquency.call_local()["delinquent"] == 1


def test_with_manual_payments_the_webhook_refuses_everything(client):
    from tests.fakes.localstripe import event_payload, signature_header

    body = event_payload("payment_intent.succeeded", {"id": "pi_1", "object": "payment_intent"})
    response = client.post("/webhooks/stripe", data=body, headers={"Stripe-Signature": signature_header(body, "x")},
                           content_type="application/json")
    assert response.status_code == 400 and "manual" in response.get_json()["error"]
    assert db.session.scalar(select(func.count(GatewayEvent.id))) == 0
