"""Who is told about a failed order, with which template (issue 13 point 5).

Each failure cause has one audience (portal/subscriptions/failures.py): causes only staff can fix go to staff
role "suporte" with the staff template, and the customer hears only that the order is late; causes the customer
can fix go to the customer with what to do. No staff address ever receives a customer template, and no customer
address a staff one. The failures are real answers: the Partner Center REST adapter talking to the local fake
(tests/fakes/partner_center_fake.py), or the simulator.
"""


import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.integrations.partner_center import PartnerCenterClient, PartnerCenterSimulator
from portal.integrations.provisioning import QuantityChange, StaticTokenProvider
from portal.notifications.models import EmailDelivery
from portal.shared.audit import Actor
from portal.subscriptions import failures, service
from portal.subscriptions.failures import Audience
from portal.subscriptions.models import OrderStatus
from tests import factories
from tests.fakes.partner_center_fake import PartnerCenterFake, error_body

TOKEN = "token-de-teste"  # noqa: S105 - the fake's token
CUSTOMER_TEMPLATES = {"order_received", "order_finished", "order_delayed", "order_action_needed"}
STAFF_TEMPLATES = {"order_failed_staff"}


@pytest.fixture
def fake(setting, use_provisioner):
    server = PartnerCenterFake(token=TOKEN).start()
    use_provisioner(PartnerCenterClient(server.url, StaticTokenProvider(TOKEN), timeout=5))
    yield server
    server.stop()


def change(world, subscription, quantity, user=None):
    actor = Actor.for_user(user or world.adm, ip="203.0.113.7")
    quote = service.quote_quantity_change(organization=world.demo, subscription=subscription, new_quantity=quantity,
                                          actor=actor)
    return service.confirm_quote(organization=world.demo, token=quote.token, actor=actor)


def sent() -> set[tuple[str, str]]:
    """(template, address) of every e-mail the portal logged."""
    return {(d.template, d.to_address) for d in db.session.scalars(select(EmailDelivery))}


def staff_addresses(app, world) -> set[str]:
    return {getattr(world, f"staff_{role}").email
            for role in ("comercial", "financeiro", "suporte", "compliance", "admin")} | {app.config["MAIL_STAFF_TO"]}


def customer_addresses(world) -> set[str]:
    return {getattr(world, role).email for role in ("master", "adm", "cobranca", "suporte", "other_master")}


def assert_never_crossed(app, world):
    for template, address in sent():
        if address in staff_addresses(app, world):
            assert template in STAFF_TEMPLATES, f"staff {address} got the customer template {template}"
        else:
            assert address in customer_addresses(world) and template in CUSTOMER_TEMPLATES, (template, address)


def failed_messages() -> set[tuple[str, str]]:
    return {(template, address) for template, address in sent() if template != "order_received"}


def staff_side(world) -> set[tuple[str, str]]:
    """A staff-side failure: suporte staff get the staff template; the requester (Adm) and the Master, "atrasado"."""
    return {("order_failed_staff", world.staff_suporte.email),
            ("order_delayed", world.adm.email), ("order_delayed", world.master.email)}


def customer_side(world) -> set[tuple[str, str]]:
    return {("order_action_needed", world.adm.email), ("order_action_needed", world.master.email)}


# ---------------------------------------------------------------- the table itself

def test_every_cause_has_one_audience_and_customer_causes_say_what_to_do():
    for code, cause in failures.CAUSES.items():
        assert cause.audience in (Audience.STAFF, Audience.CUSTOMER), code
        assert (cause.customer_action is not None) == (cause.audience == Audience.CUSTOMER), code
    assert failures.cause_of("no_tenant").audience == Audience.STAFF
    assert failures.cause_of("503").audience == Audience.STAFF  # the provider's trouble
    assert failures.cause_of("something nobody classified").audience == Audience.STAFF
    assert failures.cause_of(None).audience == Audience.STAFF


# ---------------------------------------------------------------- each cause, to the right people

def test_no_tenant_goes_to_staff_and_the_customer_only_hears_it_is_late(app_ctx, setting, world, outbox):
    world.demo.microsoft_tenant_id = None
    db.session.commit()
    [order] = change(world, factories.subscription(world.demo, quantity=10), 12)
    assert (order.status, order.needs_staff, order.error_code) == (OrderStatus.FAILED, True, "no_tenant")
    assert failed_messages() == staff_side(world)
    assert_never_crossed(app_ctx, world)
    delayed = next(m for m in outbox if m["To"] == world.master.email and "atrasado" in m["Subject"])
    body = delayed.get_body(("plain",)).get_content()
    assert "Nossa equipe já está cuidando dele. Você não precisa fazer nada" in body
    for internal in ("no_tenant", "tenant", "Microsoft tenant", "Não conseguimos"):
        assert internal not in body and internal not in delayed["Subject"]
    staff = next(m for m in outbox if m["To"] == world.staff_suporte.email)
    staff_body = staff.get_body(("plain",)).get_content()
    assert staff["Subject"] == f"Pedido nº {order.id} falhou e precisa da equipe — Demo Tecnologia"
    assert "no_tenant" in staff_body and f"/backoffice/pedidos/{order.id}" in staff_body
    assert "Adm Demo" in staff_body  # who asked


@pytest.mark.parametrize(("status", "code"), [
    (401, None),  # Partner Center refuses the portal's token: credentials, staff
    (403, None),  # the partner is not authorized: configuration, staff
    (400, "800002"),  # invalid request input: the portal sent something wrong
    (400, "800090"),  # Microsoft's cancellation window disagrees with the portal's: staff reconcile
    (400, "20003"),  # the subscription id the portal holds does not exist at Microsoft
    (400, "987654"),  # a code nobody classified: staff, never the customer
])
def test_staff_side_provider_refusals_go_to_staff(app_ctx, fake, world, status, code):
    subscription = factories.subscription(world.demo, quantity=10)
    fake.add_subscription("tenant-demo", subscription.product.offer_id, 10,
                          subscription_id=subscription.provider_subscription_id)
    body = error_body(code, "Refused for a reason of the partner's.", "Refused") if code else None
    fake.fail_next(status=status, body=body, when="/subscriptions/")
    [order] = change(world, subscription, 8 if code == "800090" else 12)
    assert order.status == OrderStatus.FAILED and order.error_code == (code or str(status))
    assert failed_messages() == staff_side(world)
    assert_never_crossed(app_ctx, world)


def test_a_quantity_microsoft_refuses_goes_to_the_customer_with_what_to_do(app_ctx, fake, world, outbox):
    subscription = factories.subscription(world.demo, quantity=10)
    fake.add_subscription("tenant-demo", subscription.product.offer_id, 10,
                          subscription_id=subscription.provider_subscription_id)
    fake.fail_next(status=400, body=error_body(
        "2002", "Subscription quantity isn't within minimum and maximum allowed quantity.", "QuantityOutOfRange"),
        when="/subscriptions/")
    [order] = change(world, subscription, 12)
    assert (order.status, order.error_code) == (OrderStatus.FAILED, "2002")
    assert failed_messages() == customer_side(world)
    assert_never_crossed(app_ctx, world)
    message = next(m for m in outbox
                   if m["To"] == world.adm.email and m["Subject"] != "Recebemos seu pedido de licenças")
    assert message["Subject"] == "Não conseguimos concluir seu pedido de licenças"
    body = message.get_body(("plain",)).get_content()
    assert "Escolha outra quantidade em Licenças" in body
    assert "2002" not in body and "minimum" not in body  # the provider's words stay with staff


def test_a_subscription_already_cancelled_at_microsoft_goes_to_the_customer(app_ctx, setting, world,
                                                                            use_provisioner):
    simulator = use_provisioner(PartnerCenterSimulator())
    subscription = factories.subscription(world.demo, quantity=10)
    simulator.change_quantity(QuantityChange(customer_id="tenant-demo",  # cancelled in Partner Center directly
                                             subscription_id=subscription.provider_subscription_id, quantity=0,
                                             correlation_id="cancelled-outside-the-portal"))
    [order] = change(world, subscription, 12)
    assert (order.status, order.error_code) == (OrderStatus.FAILED, "subscription_deleted")
    assert failed_messages() == customer_side(world)
    assert_never_crossed(app_ctx, world)
    [delivery] = [d for d in db.session.scalars(select(EmailDelivery).where(
        EmailDelivery.template == "order_action_needed", EmailDelivery.to_address == world.master.email))]
    assert "contrate-o de novo em “Adicionar novos produtos”" in delivery.body_text


def test_retries_exhausted_go_to_staff(app_ctx, setting, world, use_provisioner):
    from datetime import timedelta

    from portal.subscriptions import orders
    from portal.subscriptions.jobs import sweep_orders

    use_provisioner(PartnerCenterSimulator(failure_rate=1.0, seed=1))
    [order] = change(world, factories.subscription(world.demo, quantity=10), 12)
    for attempt in range(1, orders.MAX_ATTEMPTS):
        setting.advance(orders.retry_delay(attempt))
        sweep_orders.call_local()
        db.session.expire_all()
    assert order.status == OrderStatus.FAILED and order.error_code == "simulated"
    assert failed_messages() == staff_side(world)  # once, after the last attempt (not one per retry)
    assert_never_crossed(app_ctx, world)
    setting.advance(timedelta(hours=1))
    assert sweep_orders.call_local() == 0


# ---------------------------------------------------------------- who asked

def test_a_staff_member_who_ordered_for_the_customer_never_gets_a_customer_template(app_ctx, setting, world):
    """The reported case: the onboarding approval (financeiro) bought for a customer without a tenant; financeiro
    received "Não conseguimos concluir seu pedido de licenças"."""
    world.demo.microsoft_tenant_id = None
    db.session.commit()
    product = factories.ProductFactory()
    orders = service.purchase_for_new_customer(organization=world.demo, items=[(product, 3)],
                                               actor=Actor.for_user(world.staff_financeiro, ip="203.0.113.9"))
    db.session.commit()  # the approval's commit sends the order
    db.session.expire_all()
    [order] = orders
    assert order.requested_by_id == world.staff_financeiro.id
    assert (order.status, order.error_code) == (OrderStatus.FAILED, "no_tenant")
    assert {address for _template, address in sent()} >= {world.staff_suporte.email, world.master.email}
    assert world.staff_financeiro.email not in {address for _template, address in sent()}
    assert failed_messages() == {("order_failed_staff", world.staff_suporte.email),
                                 ("order_delayed", world.master.email)}
    assert_never_crossed(app_ctx, world)


def test_without_staff_suporte_the_staff_mailbox_gets_the_staff_template(app_ctx, setting, world):
    world.staff_suporte.active = False
    world.demo.microsoft_tenant_id = None
    db.session.commit()
    change(world, factories.subscription(world.demo, quantity=10), 12)
    assert ("order_failed_staff", app_ctx.config["MAIL_STAFF_TO"]) in failed_messages()
    assert ("order_failed_staff", world.staff_suporte.email) not in failed_messages()
    assert_never_crossed(app_ctx, world)


def test_staff_suporte_read_the_staff_message_in_their_language(app_ctx, setting, world, outbox):
    world.staff_suporte.language = "en"
    world.demo.microsoft_tenant_id = None
    db.session.commit()
    [order] = change(world, factories.subscription(world.demo, quantity=10), 12)
    staff = next(m for m in outbox if m["To"] == world.staff_suporte.email)
    assert staff["Subject"] == f"Order #{order.id} failed and needs the team — Demo Tecnologia"


def test_a_done_order_tells_the_customer_people_only(app_ctx, setting, world, use_provisioner):
    use_provisioner(PartnerCenterSimulator())
    [order] = change(world, factories.subscription(world.demo, quantity=10), 12)
    assert order.status == OrderStatus.DONE
    assert failed_messages() == {("order_finished", world.adm.email), ("order_finished", world.master.email)}
    assert_never_crossed(app_ctx, world)
