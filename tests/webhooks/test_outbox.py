"""Each announcing service writes its event in its own transaction: the billing run (invoice.issued), an order
that finishes (order.completed) or fails for good (order.failed), a confirmed quantity change (subscription.changed),
a renewal reminder (subscription.renewal_due) and a staff reply on a ticket (ticket.replied) — and only for an
organization with an endpoint that subscribes to the event.

Several of these run under a frozen clock far from today: the receiver then cannot accept the signature's timestamp
(Standard Webhooks refuses one older than 5 minutes), so these tests read the payloads; signatures are checked in
test_delivery.py."""

import uuid
from datetime import date

import pytest
from sqlalchemy import select

from portal.billing.run import invoice_organization
from portal.billing.settings import BillingSettings
from portal.extensions import db
from portal.integrations.provisioning import Outcome, ProviderError, ProvisioningResult
from portal.shared import clock
from portal.shared.audit import Actor
from portal.subscriptions import orders, reminders
from portal.subscriptions.models import Order, OrderStatus
from portal.support import service as support
from portal.support.models import TicketStatus
from portal.webhooks import service
from portal.webhooks.models import WebhookEvent
from tests import factories
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.subscriptions.test_reminders import TODAY, annual, noon
from tests.support.test_service import RULES


@pytest.fixture
def receiver():
    fake = WebhookReceiver().start()
    yield fake
    fake.stop()


def subscribe(world, receiver, *events):
    endpoint, secret = service.create_endpoint(world.demo, url=receiver.url, description="", events=list(events),
                                               actor=Actor.for_user(world.master))
    receiver.secret = secret
    return endpoint


def types(receiver) -> list[str]:
    return [payload["type"] for payload in receiver.payloads()]


def test_the_billing_run_announces_each_issued_invoice(app_ctx, world, receiver, monkeypatch):
    import portal.billing.run as billing

    monkeypatch.setattr(billing, "_queue_documents", lambda invoice: None)  # the run alone
    subscribe(world, receiver, "invoice.issued")
    world.demo.billing_day = 1
    world.demo.microsoft_tenant_id = "tenant-demo"
    db.session.commit()
    factories.subscription(world.demo, quantity=2, added_at=noon(date(2026, 1, 1)))
    with clock.frozen(noon(date(2026, 4, 1))):
        issued = invoice_organization(world.demo.id, on=date(2026, 4, 1),
                                      settings=BillingSettings.from_config(app_ctx.config),
                                      actor=Actor.system("tests"))
        db.session.commit()
    (payload,) = receiver.payloads()
    assert payload["type"] == "invoice.issued"
    assert payload["data"]["invoice"]["id"] == issued.invoice.id
    assert payload["data"]["invoice"]["total_cents"] == 2 * 7890
    assert payload["data"]["invoice"]["due_date"] == "2026-04-13"


def test_a_confirmed_change_is_announced(app_ctx, world, receiver):
    from tests.subscriptions.test_orders import change

    subscribe(world, receiver, "subscription.changed")
    subscription = factories.subscription(world.demo, quantity=3)
    db.session.commit()
    change(world, subscription, 5)
    (payload,) = receiver.verified()
    assert payload["type"] == "subscription.changed" and payload["data"]["reason"] == "quantity_change"
    assert payload["data"]["subscription"]["id"] == subscription.id
    assert payload["data"]["subscription"]["quantity"] == 5


def _order(world, subscription) -> Order:
    order = Order(organization_id=world.demo.id, kind="quantity_change", subscription_id=subscription.id, quantity=4,
                  status=OrderStatus.SENT, correlation_id=str(uuid.uuid4()))
    db.session.add(order)
    db.session.commit()
    return order


def test_an_order_done_is_announced(app_ctx, world, receiver):
    subscribe(world, receiver, "order.completed")
    subscription = factories.subscription(world.demo, quantity=3)
    order = _order(world, subscription)
    orders._done(order, subscription, ProvisioningResult(outcome=Outcome.DONE), clock.now())
    db.session.commit()
    (payload,) = receiver.verified()
    assert payload["type"] == "order.completed"
    assert payload["data"]["order"] == {"id": order.id, "kind": "quantity_change", "status": "done",
                                        "subscription_id": subscription.id, "quantity": 4,
                                        "url": f"http://portal.test/pedidos/{order.id}"}


def test_an_order_that_fails_for_good_is_announced(app_ctx, world, receiver, monkeypatch):
    subscribe(world, receiver, "order.failed")
    order = _order(world, factories.subscription(world.demo, quantity=3))
    refusal = ProvisioningResult(outcome=Outcome.FAILED, error=ProviderError(code="denied", message="refused",
                                                                             retryable=False))
    orders._failed(order, refusal, clock.now())
    db.session.commit()
    (payload,) = receiver.payloads()
    assert payload["type"] == "order.failed" and payload["data"]["order"]["error_code"] == "denied"


def test_a_renewal_reminder_announces_renewal_due(app_ctx, world, receiver):
    subscribe(world, receiver, "subscription.renewal_due")
    subscription = annual(world.demo, 30)
    with clock.frozen(noon(TODAY)):
        assert reminders.send_due(today=TODAY) == 1
    (payload,) = receiver.payloads()
    assert payload["type"] == "subscription.renewal_due"
    assert payload["data"]["subscription"]["id"] == subscription.id
    assert payload["data"]["renewal"]["renews_on"] == subscription.term_end.isoformat()
    assert payload["data"]["renewal"]["reminder"] == "d30"


def test_a_staff_reply_is_announced_without_its_text(app_ctx, world, receiver):
    subscribe(world, receiver, "ticket.replied")
    ticket = factories.ticket(world.demo, world.suporte)
    message = support.staff_reply(ticket, actor=Actor.for_user(world.staff_suporte), body="Reinstale o Teams.",
                                  status=TicketStatus.WAITING_CUSTOMER, uploads=[], rules=RULES)
    (payload,) = receiver.verified()
    assert payload["type"] == "ticket.replied"
    assert payload["data"]["ticket"]["message_id"] == message.id
    assert "Reinstale" not in str(payload)


def test_another_organizations_change_reaches_no_endpoint_of_this_one(app_ctx, world, receiver):
    subscribe(world, receiver, "ticket.replied")
    ticket = factories.ticket(world.other, world.other_master)
    support.staff_reply(ticket, actor=Actor.for_user(world.staff_suporte), body="Oi", status=TicketStatus.IN_PROGRESS,
                        uploads=[], rules=RULES)
    assert receiver.received == []
    assert db.session.scalar(select(WebhookEvent.id)) is None
