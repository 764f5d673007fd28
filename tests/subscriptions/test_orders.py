"""Orders: pendente → enviado → concluído / falhou, retries with backoff, nothing dropped, staff hand-offs.

Run against the Partner Center simulator and against the real REST adapter talking to a local fake of
Partner Center (tests/fakes/partner_center_fake.py), through the same job the consumer runs.
"""

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.catalog import cart as carts
from portal.extensions import db
from portal.integrations.partner_center import PartnerCenterClient, PartnerCenterSimulator
from portal.integrations.provisioning import StaticTokenProvider
from portal.shared import clock
from portal.shared.audit import Actor, AuditEvent, AuditTag
from portal.shared.errors import ServiceError
from portal.subscriptions import orders, service
from portal.subscriptions.jobs import sweep_orders
from portal.subscriptions.models import Order, OrderStatus, SubscriptionStatus
from tests import factories
from tests.fakes.partner_center_fake import PartnerCenterFake
from tests.subscriptions.conftest import NOW

TOKEN = "token-de-teste"  # noqa: S105 - the fake's token


@pytest.fixture
def fake():
    server = PartnerCenterFake(token=TOKEN).start()
    yield server
    server.stop()


def actor_of(user) -> Actor:
    return Actor.for_user(user, ip="203.0.113.7")


def change(world, subscription, quantity) -> list[Order]:
    quote = service.quote_quantity_change(organization=world.demo, subscription=subscription, new_quantity=quantity,
                                          actor=actor_of(world.adm))
    return service.confirm_quote(organization=world.demo, token=quote.token, actor=actor_of(world.adm))


def events(order) -> list[tuple[str, str]]:
    db.session.refresh(order)
    return [(event.status, event.message) for event in order.events]


def sweep() -> int:
    """What the consumer's every-minute job does; the job has its own session, so ours is refreshed after."""
    count = sweep_orders.call_local()
    db.session.expire_all()
    return count


def subjects(outbox) -> list[str]:
    return [message["Subject"] for message in outbox]


def test_a_slow_provider_is_polled_until_done(setting, world, use_provisioner, outbox):
    use_provisioner(PartnerCenterSimulator(delay_seconds=90))
    subscription = factories.subscription(world.demo, quantity=10)
    [order] = change(world, subscription, 12)
    assert order.status == OrderStatus.SENT and order.operation_url.startswith("simulator://")
    setting.advance(timedelta(seconds=30))
    assert sweep() == 1
    assert order.status == OrderStatus.SENT  # still working at the provider
    setting.advance(timedelta(seconds=61))
    sweep()
    assert order.status == OrderStatus.DONE and order.completed_at == clock.now()
    assert [status for status, _message in events(order)] == ["pending", "sent", "sent", "done"]
    assert "Pedido de licenças concluído" in subjects(outbox)


def test_a_temporary_failure_is_retried_with_backoff(setting, world, use_provisioner, outbox):
    simulator = use_provisioner(PartnerCenterSimulator(failure_rate=1.0, seed=1))
    subscription = factories.subscription(world.demo, quantity=10)
    [order] = change(world, subscription, 12)
    assert (order.status, order.attempts, order.error_code) == (OrderStatus.PENDING, 1, "simulated")
    assert order.next_attempt_at == NOW + timedelta(minutes=1)
    assert sweep() == 0  # not due yet
    setting.advance(timedelta(minutes=1))
    sweep()
    assert order.attempts == 2 and order.next_attempt_at == clock.now() + timedelta(minutes=2)
    simulator.failure_rate = 0.0
    setting.advance(timedelta(minutes=2))
    sweep()
    assert order.status == OrderStatus.DONE and order.attempts == 3
    assert sum(1 for _s, message in events(order) if message.startswith("attempt")) == 2


def test_after_the_last_attempt_staff_is_told_and_nothing_is_lost(setting, world, use_provisioner, outbox):
    use_provisioner(PartnerCenterSimulator(failure_rate=1.0, seed=1))
    subscription = factories.subscription(world.demo, quantity=10)
    [order] = change(world, subscription, 12)
    for attempt in range(1, orders.MAX_ATTEMPTS):
        setting.advance(orders.retry_delay(attempt))
        sweep()
    assert (order.status, order.attempts, order.needs_staff) == (OrderStatus.FAILED, orders.MAX_ATTEMPTS, True)
    assert "simulated" in order.error_message.lower()
    # Nothing the customer can do: staff get the staff message, the customer hears the order is late.
    assert f"Pedido nº {order.id} falhou e precisa da equipe — Demo Tecnologia" in subjects(outbox)
    assert "Seu pedido de licenças está atrasado" in subjects(outbox)
    assert "Não conseguimos concluir seu pedido de licenças" not in subjects(outbox)
    assert orders.health_counts(clock.now())["orders_needing_staff"] == 1
    assert subscription.quantity == 12  # the customer's change stands; staff carries it out
    setting.advance(timedelta(hours=1))
    assert sweep() == 0  # a failed order is not retried behind staff's back


def test_staff_retries_a_failed_order(setting, world, use_provisioner):
    simulator = use_provisioner(PartnerCenterSimulator(failure_rate=1.0, seed=1))
    subscription = factories.subscription(world.demo, quantity=10)
    [order] = change(world, subscription, 12)
    order.attempts = orders.MAX_ATTEMPTS - 1  # skip to the last attempt
    db.session.commit()
    setting.advance(timedelta(hours=1))
    sweep()
    assert order.status == OrderStatus.FAILED
    simulator.failure_rate = 0.0
    orders.retry_by_staff(order, actor=actor_of(world.staff_suporte))
    assert order.status == OrderStatus.DONE and order.attempts == 1  # the queued job ran inline
    assert {AuditTag.ORDER_RETRIED_BY_STAFF, AuditTag.ORDER_FAILED} <= set(
        db.session.scalars(select(AuditEvent.tag)))
    with pytest.raises(ServiceError):
        orders.retry_by_staff(order, actor=actor_of(world.staff_suporte))


def test_an_own_service_goes_to_the_implantacao_queue(setting, world, outbox):
    product = factories.own_service_product(name="Backup em Nuvem 500 GB")
    subscription = factories.subscription(world.demo, product=product, quantity=1,
                                          provider_subscription_id=None)
    [order] = change(world, subscription, 2)
    assert (order.status, order.needs_staff, order.attempts) == (OrderStatus.SENT, True, 0)
    assert sweep() == 0
    with pytest.raises(ServiceError) as no_note:
        orders.complete_by_staff(order, actor=actor_of(world.staff_suporte), note="ok")
    assert no_note.value.field == "note"
    with pytest.raises(ServiceError):
        orders.retry_by_staff(order, actor=actor_of(world.staff_suporte))
    orders.complete_by_staff(order, actor=actor_of(world.staff_suporte), note="Agente instalado no servidor.")
    assert (order.status, order.needs_staff) == (OrderStatus.DONE, False)
    assert "Pedido de licenças concluído" in subjects(outbox)
    assert events(order)[-1][1].startswith(f"completed by {world.staff_suporte.email}")


def test_a_purchase_activates_the_subscription_when_done(setting, world, use_provisioner):
    use_provisioner(PartnerCenterSimulator(delay_seconds=60))
    product = factories.ProductFactory()
    carts.set_cart_quantity(organization=world.demo, user=world.adm, product_id=product.id, quantity=5)
    quote = service.quote_checkout(organization=world.demo, user=world.adm, actor=actor_of(world.adm))
    [order] = service.confirm_quote(organization=world.demo, token=quote.token, actor=actor_of(world.adm))
    subscription = order.subscription
    assert subscription.status == SubscriptionStatus.PROVISIONING and order.status == OrderStatus.SENT
    setting.advance(timedelta(seconds=61))
    sweep()
    assert subscription.status == SubscriptionStatus.ACTIVE and subscription.provider_subscription_id


def test_orders_of_one_subscription_run_in_the_order_they_were_made(setting, world, use_provisioner):
    use_provisioner(PartnerCenterSimulator(delay_seconds=60))
    subscription = factories.subscription(world.demo, quantity=10)
    [first] = change(world, subscription, 12)
    [second] = change(world, subscription, 14)
    assert first.status == OrderStatus.SENT and second.status == OrderStatus.PENDING and second.attempts == 0
    setting.advance(timedelta(seconds=61))
    sweep()  # the first completes; the second waits for the next sweep
    setting.advance(timedelta(seconds=61))
    sweep()
    setting.advance(timedelta(seconds=61))
    sweep()
    assert (first.status, second.status) == (OrderStatus.DONE, OrderStatus.DONE)
    assert first.completed_at < second.completed_at


def test_overdue_orders_are_counted(setting, world, use_provisioner):
    use_provisioner(PartnerCenterSimulator(delay_seconds=3600))
    change(world, factories.subscription(world.demo, quantity=10), 12)
    assert orders.health_counts(clock.now())["orders_overdue"] == 0
    setting.advance(timedelta(minutes=31))
    assert orders.health_counts(clock.now()) == {"orders_open": 1, "orders_overdue": 1, "orders_needing_staff": 0}


# ---------------------------------------------------------------- the real adapter, against the local fake

@pytest.fixture
def rest(setting, use_provisioner, fake):
    return use_provisioner(PartnerCenterClient(fake.url, StaticTokenProvider(TOKEN), timeout=5))


def _at_microsoft(fake, subscription, quantity, refundable_until=None):
    fake.add_subscription("tenant-demo", subscription.product.offer_id, quantity,
                          cancellation_allowed_until=refundable_until,
                          subscription_id=subscription.provider_subscription_id)


def test_rest_increase(rest, fake, world):
    subscription = factories.subscription(world.demo, quantity=10)
    _at_microsoft(fake, subscription, 10)
    [order] = change(world, subscription, 13)
    assert order.status == OrderStatus.DONE
    assert fake.subscription("tenant-demo", subscription.provider_subscription_id)["quantity"] == 13
    [patch] = fake.requests_to("PATCH")
    assert patch.headers["Ms-Correlationid"] == order.correlation_id


def test_rest_accepted_then_polled(rest, fake, world, setting):
    subscription = factories.subscription(world.demo, quantity=10)
    _at_microsoft(fake, subscription, 10)
    fake.respond_async(True, pending_polls=1)
    [order] = change(world, subscription, 11)
    assert order.status == OrderStatus.SENT and order.operation_url.startswith(fake.url)
    setting.advance(timedelta(seconds=31))
    sweep()
    assert order.status == OrderStatus.SENT
    setting.advance(timedelta(seconds=31))
    sweep()
    assert order.status == OrderStatus.DONE


def test_rest_server_error_then_retry(rest, fake, world, setting):
    subscription = factories.subscription(world.demo, quantity=10)
    _at_microsoft(fake, subscription, 10)
    fake.fail_next(status=503, times=1)
    [order] = change(world, subscription, 12)
    assert (order.status, order.error_code) == (OrderStatus.PENDING, "503")
    setting.advance(timedelta(minutes=1))
    sweep()
    assert order.status == OrderStatus.DONE and order.attempts == 2


def test_rest_nce_refusal_fails_for_staff(rest, fake, world, outbox):
    # The portal thinks the licenses are in their window (recent lot); Microsoft says the window is over.
    subscription = factories.subscription(world.demo, quantity=10, added_at=clock.now() - timedelta(hours=1))
    _at_microsoft(fake, subscription, 10, refundable_until=clock.now() - timedelta(minutes=1))
    [order] = change(world, subscription, 8)
    assert (order.status, order.needs_staff, order.attempts) == (OrderStatus.FAILED, True, 1)
    assert order.error_code == "800090" and order.error_message
    assert f"Pedido nº {order.id} falhou e precisa da equipe — Demo Tecnologia" in subjects(outbox)
    assert "Não conseguimos concluir seu pedido de licenças" not in subjects(outbox)


def test_without_a_microsoft_tenant_the_order_goes_to_staff(setting, world, outbox):
    world.demo.microsoft_tenant_id = None
    db.session.commit()
    [order] = change(world, factories.subscription(world.demo, quantity=10), 12)
    assert (order.status, order.needs_staff, order.error_code) == (OrderStatus.FAILED, True, "no_tenant")
    assert f"Pedido nº {order.id} falhou e precisa da equipe — Demo Tecnologia" in subjects(outbox)
    assert "Não conseguimos concluir seu pedido de licenças" not in subjects(outbox)  # staff-side: not the customer's


# ---------------------------------------------------------------- a failing order does not hold the others (point 19e)

def kinds(orders_) -> list[tuple[str, int]]:
    return [(order.kind, order.quantity) for order in orders_]


def at_provider(simulator, subscription) -> dict:
    return simulator.get_subscription("tenant-demo", subscription.provider_subscription_id).subscription


def test_an_order_of_another_kind_does_not_wait_for_a_retrying_one(setting, world, use_provisioner):
    simulator = use_provisioner(PartnerCenterSimulator(failure_rate=1.0, seed=1))
    subscription = factories.subscription(world.demo, quantity=10)  # bought 60 days ago: no seat refundable
    [renewal] = change(world, subscription, 8)  # 8 from the renewal on
    assert kinds([renewal]) == [("renewal_quantity", 8)]
    assert (renewal.status, renewal.attempts, renewal.error_code) == (OrderStatus.PENDING, 1, "simulated")
    simulator.failure_rate = 0.0
    increase, undo = change(world, subscription, 11)  # 11 now, and no decrease at the renewal any more
    assert kinds([increase, undo]) == [("quantity_change", 11), ("renewal_quantity", 11)]
    # The increase went at once: it used to wait ~31 minutes behind the retrying renewal order.
    assert increase.status == OrderStatus.DONE and at_provider(simulator, subscription).quantity == 11
    assert not any("waiting" in message for _status, message in events(increase))
    # The newer renewal quantity says everything the retrying one said: that one is withdrawn, never sent.
    assert undo.status == OrderStatus.DONE and at_provider(simulator, subscription).scheduled_quantity is None
    db.session.refresh(renewal)
    assert renewal.status == OrderStatus.WITHDRAWN
    setting.advance(timedelta(minutes=1))
    assert sweep() == 0 and at_provider(simulator, subscription).scheduled_quantity is None  # 8 never lands


def test_a_newer_quantity_supersedes_a_retrying_one_of_the_same_kind(setting, world, use_provisioner):
    simulator = use_provisioner(PartnerCenterSimulator(failure_rate=1.0, seed=1))
    subscription = factories.subscription(world.demo, quantity=10)
    [first] = change(world, subscription, 12)
    assert first.status == OrderStatus.PENDING and first.next_attempt_at == NOW + timedelta(minutes=1)
    simulator.failure_rate = 0.0
    [second] = change(world, subscription, 14)  # the absolute target says everything the first one said
    assert second.status == OrderStatus.DONE and at_provider(simulator, subscription).quantity == 14
    db.session.refresh(first)
    assert (first.status, first.next_attempt_at, first.needs_staff) == (OrderStatus.WITHDRAWN, None, False)
    assert events(first)[-1] == ("withdrawn", f"superseded by order {second.id} (same subscription and kind, "
                                              "absolute quantity 14); not sent")
    assert AuditTag.ORDER_SUPERSEDED in set(db.session.scalars(select(AuditEvent.tag)))
    setting.advance(timedelta(hours=1))
    assert sweep() == 0 and at_provider(simulator, subscription).quantity == 14  # 12 is never sent


def test_a_newer_order_waits_while_an_older_one_of_its_kind_is_at_the_provider(setting, world, use_provisioner):
    simulator = use_provisioner(PartnerCenterSimulator(delay_seconds=60))
    subscription = factories.subscription(world.demo, quantity=10)
    [first] = change(world, subscription, 12)
    [second] = change(world, subscription, 14)
    assert first.status == OrderStatus.SENT and second.status == OrderStatus.PENDING and second.attempts == 0
    assert events(second)[-1][1].startswith("waiting for the subscription's earlier order of the same kind")
    setting.advance(timedelta(seconds=61))
    sweep()
    setting.advance(timedelta(seconds=61))
    sweep()
    setting.advance(timedelta(seconds=61))
    sweep()
    assert (first.status, second.status) == (OrderStatus.DONE, OrderStatus.DONE)
    assert at_provider(simulator, subscription).quantity == 14


def test_staff_retrying_an_order_a_newer_one_replaced_sends_nothing(setting, world, use_provisioner):
    simulator = use_provisioner(PartnerCenterSimulator(failure_rate=1.0, seed=1))
    subscription = factories.subscription(world.demo, quantity=10)
    [stale] = change(world, subscription, 12)
    stale.attempts = orders.MAX_ATTEMPTS - 1
    db.session.commit()
    setting.advance(timedelta(hours=1))
    sweep()
    assert stale.status == OrderStatus.FAILED
    simulator.failure_rate = 0.0
    [newer] = change(world, subscription, 13)
    assert newer.status == OrderStatus.DONE and at_provider(simulator, subscription).quantity == 13
    orders.retry_by_staff(stale, actor=actor_of(world.staff_suporte))
    db.session.refresh(stale)
    assert stale.status == OrderStatus.WITHDRAWN
    assert at_provider(simulator, subscription).quantity == 13  # not rolled back to the stale 12


def test_a_newer_order_not_tried_yet_supersedes_nothing(setting, world, use_provisioner):
    """A rescission's orders are held for its grace period and a Master may withdraw them unsent: until a newer
    order is tried, the older one is still the customer's word and goes to the provider."""
    from tests.backoffice.routes_orders import make_order

    simulator = use_provisioner(PartnerCenterSimulator(failure_rate=1.0, seed=1))
    subscription = factories.subscription(world.demo, quantity=10)
    [renewal] = change(world, subscription, 8)
    assert (renewal.kind, renewal.status) == ("renewal_quantity", OrderStatus.PENDING)
    held = make_order(world.demo, subscription=subscription, kind="renewal_quantity", quantity=0,
                      next_attempt_at=NOW + timedelta(days=7))  # as a rescission leaves it
    simulator.failure_rate = 0.0
    setting.advance(timedelta(minutes=1))
    sweep()
    db.session.refresh(renewal)
    assert renewal.status == OrderStatus.DONE and at_provider(simulator, subscription).scheduled_quantity == 8
    assert held.status == OrderStatus.PENDING and held.attempts == 0  # still withdrawable, untouched
