"""Outgoing webhooks end to end against a local receiver that verifies signatures with `standardwebhooks`: a signed
delivery, nothing for a rolled-back change, retries with backoff then the endpoint disabled and the Masters
e-mailed, the secret's rotation, and one claim per attempt under concurrency (both engines)."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from portal.extensions import db
from portal.shared import clock
from portal.shared.audit import Actor, AuditEvent, AuditTag
from portal.webhooks import delivery, outbox, service
from portal.webhooks import jobs as webhook_jobs
from portal.webhooks.models import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from tests import factories
from tests.fakes.concurrency import concurrently
from tests.fakes.webhook_receiver import WebhookReceiver


@pytest.fixture
def receiver():
    fake = WebhookReceiver().start()
    yield fake
    fake.stop()


def _register(world, url: str, events=("invoice.paid",)) -> tuple[WebhookEndpoint, str]:
    return service.create_endpoint(world.demo, url=url, description="ERP", events=list(events),
                                   actor=Actor.for_user(world.master))


def _paid_event(world, invoice_id: int = 7) -> WebhookEvent | None:
    return outbox.emit("invoice.paid", organization_id=world.demo.id,
                       data={"invoice": {"id": invoice_id, "number": "2026/000007", "paid_cents": 12345}})


def test_an_event_is_delivered_signed_and_logged(app_ctx, world, receiver):
    endpoint, secret = _register(world, receiver.url + "/hooks/portal")
    receiver.secret = secret
    event = _paid_event(world)
    db.session.commit()  # the job runs once this commits (inline here)

    assert len(receiver.received) == 1
    got = receiver.received[0]
    assert got.verified, got.error
    assert got.payload["type"] == "invoice.paid"
    assert got.payload["data"]["invoice"] == {"id": 7, "number": "2026/000007", "paid_cents": 12345}
    assert got.headers["webhook-id"] == event.message_id
    row = db.session.scalar(select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id))
    assert (row.status, row.attempts) == (DeliveryStatus.SUCCEEDED, 1)
    (attempt,) = row.attempt_rows
    assert (attempt.number, attempt.status_code, attempt.response_excerpt) == (1, 200, '{"recebido": true}')


def test_an_organization_without_a_subscribing_endpoint_gets_no_event(app_ctx, world, receiver):
    _register(world, receiver.url, events=("ticket.replied",))
    assert _paid_event(world) is None
    db.session.commit()
    assert db.session.scalar(select(func.count(WebhookEvent.id))) == 0
    assert receiver.received == []


def test_a_rolled_back_change_announces_nothing(app_ctx, world, receiver):
    _register(world, receiver.url)
    assert _paid_event(world) is not None
    db.session.rollback()
    assert db.session.scalar(select(func.count(WebhookEvent.id))) == 0
    webhook_jobs.sweep()  # nothing left behind for a consumer either
    assert receiver.received == []


def test_a_payment_that_pays_an_invoice_announces_it(app_ctx, world, receiver):
    from portal.billing import payments

    _endpoint, secret = _register(world, receiver.url)
    receiver.secret = secret
    invoice = factories.invoice(world.demo, total_cents=10_000)
    payments.record_payment(invoice, amount_cents=10_000, method="pix", paid_on=clock.today(),
                            actor=Actor.for_user(world.staff_financeiro), note="")
    payload = receiver.verified()[0]
    assert payload["type"] == "invoice.paid"
    assert payload["data"]["invoice"]["id"] == invoice.id
    assert payload["data"]["invoice"]["paid_cents"] == 10_000
    assert payload["data"]["invoice"]["url"].endswith(f"/faturas/{invoice.id}")


def test_a_receiver_down_is_retried_with_backoff_then_the_endpoint_is_disabled(app_ctx, world, receiver, outbox):
    receiver.stop()  # nothing listens there any more
    start = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    with clock.frozen(start):
        endpoint, _secret = _register(world, receiver.url)
        _paid_event(world)
        db.session.commit()  # first attempt: refused
        row = db.session.scalar(select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id))
        waits = []
        while row.status == DeliveryStatus.PENDING:
            db.session.refresh(row)
            if row.status != DeliveryStatus.PENDING:
                break
            waits.append(row.next_attempt_at - clock.now())
            clock.advance(row.next_attempt_at - clock.now() - timedelta(seconds=1))
            webhook_jobs.sweep()  # not due yet: nothing sent
            db.session.refresh(row)
            assert row.attempts == len(waits)
            clock.advance(timedelta(seconds=1))
            webhook_jobs.sweep()
            db.session.refresh(row)
    assert waits == list(delivery.RETRY_DELAYS)
    assert row.attempts == delivery.MAX_ATTEMPTS == 12
    assert row.status == DeliveryStatus.FAILED
    assert timedelta(days=2, hours=18) < sum(waits, timedelta()) < timedelta(days=3)
    errors = {attempt.error for attempt in row.attempt_rows}
    assert errors == {"connection"}
    db.session.refresh(endpoint)
    assert (endpoint.enabled, endpoint.disabled_reason) == (False, "failures")
    (mail,) = [m for m in outbox if "Webhook desativado" in m["Subject"]]
    assert world.master.email in mail["To"]
    tags = db.session.scalars(select(AuditEvent.tag).where(AuditEvent.subject == f"webhook_endpoint:{endpoint.id}")
                              .order_by(AuditEvent.seq))
    assert list(tags) == [AuditTag.WEBHOOK_ENDPOINT_CREATED, AuditTag.WEBHOOK_ENDPOINT_DISABLED]


def test_an_error_status_is_retried_and_a_later_success_ends_the_streak(app_ctx, world, receiver):
    receiver.status = 503
    endpoint, secret = _register(world, receiver.url)
    receiver.secret = secret
    _paid_event(world)
    db.session.commit()
    row = db.session.scalar(select(WebhookDelivery))
    assert (row.status, row.attempts) == (DeliveryStatus.PENDING, 1)
    assert db.session.get(WebhookEndpoint, endpoint.id).failing_since is not None
    receiver.status = 200
    row.next_attempt_at = clock.now()
    db.session.commit()
    webhook_jobs.sweep()
    db.session.refresh(row)
    assert (row.status, row.attempts) == (DeliveryStatus.SUCCEEDED, 2)
    assert [entry.verified for entry in receiver.received] == [True, True]
    assert len({entry.headers["webhook-id"] for entry in receiver.received}) == 1  # the same message both times
    db.session.refresh(endpoint)
    assert endpoint.failing_since is None and endpoint.enabled


def test_rotation_the_old_secret_no_longer_verifies(app_ctx, world, receiver):
    endpoint, old = _register(world, receiver.url)
    receiver.secret = old
    new = service.rotate_secret(endpoint, actor=Actor.for_user(world.master))
    assert new != old and new.startswith("whsec_")
    service.send_test(endpoint, actor=Actor.for_user(world.master))
    (got,) = receiver.received
    assert not got.verified and "signature" in got.error.lower()
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(got.body, got.headers)
    assert Webhook(new).verify(got.body, got.headers)["type"] == "webhook.test"


def test_resend_sends_the_same_message_again(app_ctx, world, receiver):
    endpoint, secret = _register(world, receiver.url)
    receiver.secret = secret
    _paid_event(world)
    db.session.commit()
    row = db.session.scalar(select(WebhookDelivery))
    service.resend(endpoint, row.id, actor=Actor.for_user(world.master))
    assert [entry.verified for entry in receiver.received] == [True, True]
    assert receiver.received[0].headers["webhook-id"] == receiver.received[1].headers["webhook-id"]
    db.session.refresh(row)
    assert (row.status, row.attempts, [a.number for a in row.attempt_rows]) == (DeliveryStatus.SUCCEEDED, 2, [1, 2])


def test_a_test_event_is_tried_once(app_ctx, world, receiver):
    receiver.status = 500
    endpoint, _secret = _register(world, receiver.url)
    service.send_test(endpoint, actor=Actor.for_user(world.master))
    row = db.session.scalar(select(WebhookDelivery))
    assert (row.status, row.attempts) == (DeliveryStatus.FAILED, 1)
    db.session.refresh(endpoint)
    assert endpoint.enabled and endpoint.failing_since is None


def test_invoice_overdue_is_announced_once(app_ctx, world, receiver):
    from portal.billing.models import InvoiceStatus

    _endpoint, secret = _register(world, receiver.url, events=("invoice.overdue",))
    receiver.secret = secret
    today = clock.today()
    factories.invoice(world.demo, billing_date=today - timedelta(days=11), due_date=today - timedelta(days=1),
                      status=InvoiceStatus.OPEN)
    factories.invoice(world.demo, billing_date=today - timedelta(days=10), due_date=today)  # not overdue yet
    assert service.announce_overdue(today=today) == 1
    assert service.announce_overdue(today=today) == 0
    assert [p["type"] for p in receiver.verified()] == ["invoice.overdue"]


def test_two_consumers_never_send_the_same_attempt(make_app, engine_name, receiver):
    app = make_app(engine_name)
    with app.app_context():
        organization = factories.OrganizationFactory()
        endpoint = WebhookEndpoint(organization_id=organization.id, url=receiver.url, description="",
                                   events=["invoice.paid"], secret=service.new_secret(), enabled=True)
        db.session.add(endpoint)
        db.session.flush()
        event = WebhookEvent(organization_id=organization.id, type="invoice.paid",
                             message_id=outbox.new_message_id(), payload=outbox.payload("invoice.paid", {}),
                             fanned_out_at=clock.now())
        db.session.add(event)
        db.session.flush()
        row = WebhookDelivery(event_id=event.id, endpoint_id=endpoint.id, status=DeliveryStatus.PENDING,
                              next_attempt_at=clock.now())
        db.session.add(row)
        db.session.commit()
        delivery_id = row.id

    def consume(_index):
        with app.app_context():
            try:
                return delivery.send(delivery_id)
            finally:
                db.session.remove()

    results, errors = concurrently(6, consume)
    assert errors == []
    assert sorted(results) == ["not claimed"] * 5 + ["succeeded"]
    assert len(receiver.received) == 1
    with app.app_context():
        assert db.session.scalar(select(func.count(WebhookAttempt.id))) == 1
        assert db.session.get(WebhookDelivery, delivery_id).attempts == 1


def test_a_consumer_that_died_while_sending_leaves_a_claim_that_lapses(app_ctx, world, receiver):
    endpoint, secret = _register(world, receiver.url)
    receiver.secret = secret
    event = _paid_event(world)
    event.fanned_out_at = clock.now()  # as if the fan-out had run; its job then died with the claim taken
    db.session.add(WebhookDelivery(event_id=event.id, endpoint_id=endpoint.id, status=DeliveryStatus.SENDING,
                                   attempts=1, next_attempt_at=clock.now(),
                                   claimed_until=clock.now() + timedelta(minutes=5)))
    db.session.commit()
    assert receiver.received == []  # the fan-out found it taken; the claim still holds
    webhook_jobs.sweep()
    assert receiver.received == []
    with clock.frozen(clock.now() + timedelta(minutes=5, seconds=1)):
        webhook_jobs.sweep()
    row = db.session.scalar(select(WebhookDelivery))
    db.session.refresh(row)
    assert (row.status, row.attempts) == (DeliveryStatus.SUCCEEDED, 2)
    assert len(receiver.received) == 1


def test_a_binary_answer_is_logged_without_what_the_database_cannot_hold(app_ctx, world, receiver):
    receiver.answer = b"ok\x00\xff\xfe" + b"x" * 5000
    endpoint, _secret = _register(world, receiver.url)
    service.send_test(endpoint, actor=Actor.for_user(world.master))
    (attempt,) = db.session.scalars(select(WebhookAttempt))
    assert attempt.status_code == 200
    assert attempt.response_excerpt.startswith("ok\ufffd\ufffd") and len(attempt.response_excerpt) == 500
