"""Renewals (issue 17 points 4 and 5): "decidir até", the calendar, changes scheduled for the next term (schedule,
edit, withdraw, too late), what reaches the provider (the simulator and the REST adapter against the Partner Center
fake, request bodies checked), the renewal applying each kind, and the warning + re-send after a mid-term change."""

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from portal.cancellations import service as cancellations
from portal.catalog.models import Product
from portal.extensions import db
from portal.integrations.partner_center import PartnerCenterClient, PartnerCenterSimulator
from portal.integrations.provisioning import StaticTokenProvider
from portal.shared import clock
from portal.shared.audit import Actor, AuditEvent, AuditTag
from portal.shared.errors import ServiceError
from portal.subscriptions import next_term, next_term_changes, presenters, renewal_calendar, service
from portal.subscriptions.models import NextTermChange, NextTermStatus, Order, OrderKind, OrderStatus
from portal.subscriptions.renewals import renew_due
from tests import factories
from tests.fakes.partner_center_fake import PartnerCenterFake
from tests.subscriptions.conftest import NOW

TOKEN = "token-de-teste"  # noqa: S105 - the fake's token
BASIC = "CFQ7TTC0LH18:0001:CFQ7TTC0LCHC"
BASIC_MONTHLY_TERM = "CFQ7TTC0LH18:0001:CFQ7TTC0LCHM"
STANDARD = "CFQ7TTC0LDPB:0001:CFQ7TTC0LDQ6"


def adm(world) -> Actor:
    return Actor.for_user(world.adm, ip="203.0.113.7")


@pytest.fixture
def catalog(app_ctx):
    """Business Basic (annual term, monthly billing) with its monthly-term sibling and an upgrade to Standard."""
    basic = factories.ProductFactory(name="Business Basic", sku="BASIC", offer_id=BASIC, price=3600,
                                     upgrade_to=["STANDARD"])
    monthly = factories.ProductFactory(name="Business Basic (mensal)", sku="BASIC-M", offer_id=BASIC_MONTHLY_TERM,
                                       term="monthly", price=4320)
    standard = factories.ProductFactory(name="Business Standard", sku="STANDARD", offer_id=STANDARD, price=7890)
    factories.ProductFactory(name="Outro produto", sku="OTHER", price=1000)  # neither a sibling nor an upgrade
    db.session.flush()
    return {"basic": basic, "monthly": monthly, "standard": standard}


def renewing_soon(world, product, quantity=10, days=40):
    """An annual subscription whose term renews `days` after NOW (its lots' window long closed)."""
    start = clock.to_business(NOW).date() + timedelta(days=days) - timedelta(days=365)
    started = datetime(start.year, start.month, start.day, 15, tzinfo=UTC)
    return factories.subscription(world.demo, product=product, quantity=quantity, added_at=started,
                                  term_start=start)


def provider_id(subscription) -> tuple[str, str]:
    return "tenant-demo", subscription.provider_subscription_id


# ---------------------------------------------------------------- "decidir até"

def test_decide_by_is_2359_in_sao_paulo_two_days_before_the_term_end():
    # term_end 2027-03-11 is the new term's first day; Partner Center's renewal date is 2027-03-10 (its last day).
    assert next_term.decide_by(date(2027, 3, 11)) == datetime(2027, 3, 10, 2, 59, tzinfo=UTC)  # 09/03 23:59 BRT
    assert next_term.decide_by_day(date(2027, 3, 11)) == date(2027, 3, 9)


# ---------------------------------------------------------------- the calendar

def test_the_calendar_lists_long_terms_with_value_deadline_and_windows(setting, world, catalog):
    annual = renewing_soon(world, catalog["basic"], quantity=10, days=40)
    monthly = factories.subscription(world.demo, product=catalog["monthly"], quantity=3,
                                     added_at=NOW - timedelta(days=10))
    # A lot added yesterday is still inside its 168 h window.
    factories.subscription(world.demo, product=catalog["standard"], quantity=2, added_at=NOW - timedelta(days=1))
    factories.subscription(world.other, product=catalog["basic"])  # another organization's: never listed
    rows = renewal_calendar.upcoming_renewals(world.demo, clock.today())
    assert [r.subscription_id for r in rows][0] == annual.id
    assert monthly.id not in [r.subscription_id for r in rows]
    first = rows[0]
    assert (first.renews_on, first.quantity, first.renewal_quantity, first.value_cents) == (
        annual.term_end, 10, 10, 36000)
    assert first.decide_by == next_term.decide_by(annual) and first.decision_open and first.windows == ()
    windowed = rows[1]
    assert windowed.windows == ((2, NOW - timedelta(days=1) + timedelta(hours=168)),)
    with_monthly = renewal_calendar.upcoming_renewals(world.demo, clock.today(), include_monthly=True)
    assert monthly.id in [r.subscription_id for r in with_monthly]
    assert [r.subscription_id for r in renewal_calendar.upcoming_renewals(world.demo, clock.today(), days=60)] == [
        annual.id]


def test_the_calendar_shows_the_scheduled_change_and_its_value(setting, world, catalog, use_provisioner):
    use_provisioner(PartnerCenterSimulator())
    subscription = renewing_soon(world, catalog["basic"], quantity=10)
    next_term_changes.schedule(organization=world.demo, subscription=subscription,
                               product_id=catalog["standard"].id, quantity=8, actor=adm(world))
    [row] = renewal_calendar.upcoming_renewals(world.demo, clock.today())
    assert (row.scheduled, row.renewal_quantity, row.next_product_name, row.value_cents) == (
        True, 8, "Business Standard", 8 * 7890)


# ---------------------------------------------------------------- scheduling, both ways

def test_options_are_the_same_sku_in_other_terms_and_the_marked_upgrades(setting, world, catalog):
    subscription = renewing_soon(world, catalog["basic"])
    assert [p.sku for p in next_term.options(subscription)] == ["BASIC", "BASIC-M", "STANDARD"]


def test_schedule_edit_and_withdraw_reach_the_simulator(setting, world, catalog, use_provisioner, outbox):
    simulator = use_provisioner(PartnerCenterSimulator())
    subscription = renewing_soon(world, catalog["basic"], quantity=10)
    simulator.add_subscription("tenant-demo", BASIC, 10, subscription_id=subscription.provider_subscription_id)
    simulator.allow_upgrade(BASIC, STANDARD)

    first = next_term_changes.schedule(organization=world.demo, subscription=subscription,
                                       product_id=catalog["basic"].id, quantity=7, actor=adm(world))
    assert (first.status, first.quantity, first.term_end, subscription.renewal_quantity) == (
        NextTermStatus.SCHEDULED, 7, subscription.term_end, 7)
    seen = simulator.get_subscription(*provider_id(subscription)).subscription
    assert (seen.quantity, seen.scheduled_quantity, seen.scheduled_offer_id, seen.auto_renew) == (10, 7, BASIC, True)

    edited = next_term_changes.schedule(organization=world.demo, subscription=subscription,
                                        product_id=catalog["standard"].id, quantity=9, actor=adm(world))
    db.session.refresh(first)
    assert first.status == NextTermStatus.REPLACED and edited.status == NextTermStatus.SCHEDULED
    seen = simulator.get_subscription(*provider_id(subscription)).subscription
    assert (seen.scheduled_quantity, seen.scheduled_offer_id) == (9, STANDARD)

    next_term_changes.withdraw(organization=world.demo, subscription=subscription, actor=adm(world))
    db.session.refresh(edited)
    assert edited.status == NextTermStatus.WITHDRAWN and subscription.renewal_quantity is None
    seen = simulator.get_subscription(*provider_id(subscription)).subscription
    assert (seen.scheduled_quantity, seen.scheduled_offer_id, seen.auto_renew) == (None, None, True)
    orders = db.session.scalars(select(Order).where(Order.subscription_id == subscription.id)
                                .order_by(Order.id)).all()
    assert [(o.kind, o.quantity, o.product_id, o.status) for o in orders] == [
        (OrderKind.RENEWAL_QUANTITY, 7, catalog["basic"].id, OrderStatus.DONE),
        (OrderKind.RENEWAL_QUANTITY, 9, catalog["standard"].id, OrderStatus.DONE),
        (OrderKind.RENEWAL_QUANTITY, 10, catalog["basic"].id, OrderStatus.DONE)]
    assert presenters.order_summary(orders[1]) == (
        "Business Basic: 9 licenças de Business Standard a partir da renovação")
    assert presenters.order_summary(orders[2]) == "Business Basic: 10 licenças a partir da renovação"
    # the e-mails ("Recebemos seu pedido", "Pedido concluído", HTML and text) name the next term's product too
    mailed = [(part.get_content_type(), part.get_content()) for message in outbox for part in message.walk()
              if part.get_content_type() in ("text/plain", "text/html")]
    assert {kind for kind, m in mailed if "Business Basic: 9 licenças de Business Standard a partir da renovação em"
            in m} == {"text/plain", "text/html"}
    assert any("Business Basic: 7 licenças a partir da renovação em" in m for _kind, m in mailed)
    tags = db.session.scalars(select(AuditEvent.tag).where(AuditEvent.tag.like("subscriptions:next_term:%"))).all()
    assert tags == [AuditTag.NEXT_TERM_SCHEDULED, AuditTag.NEXT_TERM_SCHEDULED, AuditTag.NEXT_TERM_WITHDRAWN]
    assert db.session.scalar(select(func.count(NextTermChange.id)).where(
        NextTermChange.status == NextTermStatus.SCHEDULED)) == 0


@pytest.mark.parametrize(("product", "quantity", "field"), [
    ("other", 5, "product_id"),  # not offered for this subscription
    ("basic", 0, "quantity"),  # not renewing is a cancellation, not this
    ("basic", 301, "quantity"),
    ("basic", 10, "quantity"),  # nothing changes
])
def test_what_cannot_be_scheduled_is_refused_on_its_field(setting, world, catalog, product, quantity, field):
    subscription = renewing_soon(world, catalog["basic"], quantity=10)
    other = db.session.scalar(select(Product).where(Product.sku == "OTHER"))
    product_id = other.id if product == "other" else catalog[product].id
    with pytest.raises(ServiceError) as refused:
        next_term_changes.schedule(organization=world.demo, subscription=subscription, product_id=product_id,
                                   quantity=quantity, actor=adm(world))
    assert refused.value.field == field
    assert db.session.scalar(select(func.count(NextTermChange.id))) == 0


def test_an_inadimplente_organization_may_schedule_fewer_licences_but_not_more(setting, world, catalog,
                                                                             use_provisioner):
    use_provisioner(PartnerCenterSimulator())
    subscription = renewing_soon(world, catalog["basic"], quantity=10)
    world.demo.delinquent_since = clock.today() - timedelta(days=20)
    db.session.commit()
    with pytest.raises(ServiceError, match="faturas vencidas"):
        next_term_changes.schedule(organization=world.demo, subscription=subscription,
                                   product_id=catalog["basic"].id, quantity=12, actor=adm(world))
    next_term_changes.schedule(organization=world.demo, subscription=subscription, product_id=catalog["basic"].id,
                               quantity=8, actor=adm(world))
    assert next_term.current_change(subscription).quantity == 8


def test_after_decide_by_scheduling_and_withdrawing_are_refused(setting, world, catalog, use_provisioner):
    use_provisioner(PartnerCenterSimulator())
    subscription = renewing_soon(world, catalog["basic"], quantity=10, days=5)
    next_term_changes.schedule(organization=world.demo, subscription=subscription, product_id=catalog["basic"].id,
                               quantity=8, actor=adm(world))
    setting.advance(next_term.decide_by(subscription) - clock.now() + timedelta(minutes=1))
    for attempt in (lambda: next_term_changes.schedule(organization=world.demo, subscription=subscription,
                                                       product_id=catalog["basic"].id, quantity=6, actor=adm(world)),
                    lambda: next_term_changes.withdraw(organization=world.demo, subscription=subscription,
                                                       actor=adm(world))):
        with pytest.raises(ServiceError) as late:
            attempt()
        assert "O prazo para mudar a renovação" in late.value.message
    assert next_term.current_change(subscription).quantity == 8


# ---------------------------------------------------------------- the REST adapter against the Partner Center fake

@pytest.fixture
def fake():
    server = PartnerCenterFake(token=TOKEN).start()
    yield server
    server.stop()


def test_the_rest_adapter_sends_the_next_term_instructions(setting, world, catalog, use_provisioner, fake):
    use_provisioner(PartnerCenterClient(fake.url, StaticTokenProvider(TOKEN), timeout=5))
    subscription = renewing_soon(world, catalog["basic"], quantity=10)
    fake.add_subscription("tenant-demo", BASIC, 10, subscription_id=subscription.provider_subscription_id)
    fake.allow_upgrade(BASIC, STANDARD)
    next_term_changes.schedule(organization=world.demo, subscription=subscription, product_id=catalog["standard"].id,
                               quantity=12, actor=adm(world))
    [patch] = fake.requests_to("PATCH", subscription.provider_subscription_id)
    assert patch.json["autoRenewEnabled"] is True
    assert patch.json["scheduledNextTermInstructions"] == {
        "product": {"productId": "CFQ7TTC0LDPB", "skuId": "0001", "availabilityId": "CFQ7TTC0LDQ6",
                    "billingCycle": "monthly", "termDuration": "P1Y"},
        "quantity": 12}
    assert patch.json["quantity"] == 10  # the licenses now are untouched
    # A term change: the same productId:skuId in the monthly term's availability.
    next_term_changes.schedule(organization=world.demo, subscription=subscription, product_id=catalog["monthly"].id,
                               quantity=10, actor=adm(world))
    sent = fake.requests_to("PATCH", subscription.provider_subscription_id)[-1].json["scheduledNextTermInstructions"]
    assert sent["product"]["availabilityId"] == "CFQ7TTC0LCHM" and sent["product"]["termDuration"] == "P1M"
    assert fake.subscription(*provider_id(subscription))["scheduledNextTermInstructions"] == sent
    # Withdrawn: the instructions go back to null.
    next_term_changes.withdraw(organization=world.demo, subscription=subscription, actor=adm(world))
    last = fake.requests_to("PATCH", subscription.provider_subscription_id)[-1].json
    assert last["scheduledNextTermInstructions"] is None and last["autoRenewEnabled"] is True
    assert "scheduledNextTermInstructions" not in fake.subscription(*provider_id(subscription))


def test_an_upgrade_partner_center_does_not_list_fails_for_staff(setting, world, catalog, use_provisioner, fake):
    use_provisioner(PartnerCenterClient(fake.url, StaticTokenProvider(TOKEN), timeout=5))
    subscription = renewing_soon(world, catalog["basic"], quantity=10)
    fake.add_subscription("tenant-demo", BASIC, 10, subscription_id=subscription.provider_subscription_id)
    next_term_changes.schedule(organization=world.demo, subscription=subscription, product_id=catalog["standard"].id,
                               quantity=10, actor=adm(world))
    order = db.session.scalar(select(Order).where(Order.subscription_id == subscription.id))
    assert (order.status, order.error_code, order.needs_staff) == (OrderStatus.FAILED, "800004", True)


# ---------------------------------------------------------------- the warning and the re-send

def _quantity_change(world, subscription, quantity):
    quote = service.quote_quantity_change(organization=world.demo, subscription=subscription, new_quantity=quantity,
                                          actor=adm(world))
    return quote, service.confirm_quote(organization=world.demo, token=quote.token, actor=adm(world))


@pytest.mark.parametrize("backend", ["simulator", "rest"])
def test_a_mid_term_change_erases_the_schedule_at_the_provider_and_it_is_sent_again(
        setting, world, catalog, use_provisioner, fake, backend):
    if backend == "simulator":
        provider = use_provisioner(PartnerCenterSimulator())
        renewing = renewing_soon(world, catalog["basic"], quantity=10)
        provider.add_subscription("tenant-demo", BASIC, 10, subscription_id=renewing.provider_subscription_id)

        def scheduled():
            seen = provider.get_subscription(*provider_id(renewing)).subscription
            return seen.scheduled_quantity, seen.scheduled_offer_id
    else:
        use_provisioner(PartnerCenterClient(fake.url, StaticTokenProvider(TOKEN), timeout=5))
        renewing = renewing_soon(world, catalog["basic"], quantity=10)
        fake.add_subscription("tenant-demo", BASIC, 10, subscription_id=renewing.provider_subscription_id)

        def scheduled():
            instructions = fake.subscription(*provider_id(renewing)).get("scheduledNextTermInstructions")
            if instructions is None:
                return None, None
            product = instructions["product"]
            return instructions["quantity"], f"{product['productId']}:{product['skuId']}:{product['availabilityId']}"
    next_term_changes.schedule(organization=world.demo, subscription=renewing, product_id=catalog["basic"].id,
                               quantity=8, actor=adm(world))
    assert scheduled() == (8, BASIC)
    _quote, [increase] = _quantity_change(world, renewing, 12)
    assert increase.kind == OrderKind.QUANTITY_CHANGE and increase.status == OrderStatus.DONE
    # The provider erased it with the increase; the portal sent it again after the increase was done.
    assert scheduled() == (8, BASIC)
    resent = db.session.scalars(select(Order).where(Order.subscription_id == renewing.id)
                                .order_by(Order.id.desc())).first()
    assert (resent.kind, resent.quantity, resent.product_id, resent.status) == (
        OrderKind.RENEWAL_QUANTITY, 8, catalog["basic"].id, OrderStatus.DONE)
    assert resent.id > increase.id
    assert (renewing.quantity, renewing.renewal_quantity) == (12, 8)
    assert next_term.current_change(renewing).quantity == 8


def test_a_cancellation_withdraws_the_scheduled_change(setting, world, catalog, use_provisioner):
    use_provisioner(PartnerCenterSimulator())
    subscription = renewing_soon(world, catalog["basic"], quantity=10)
    change = next_term_changes.schedule(organization=world.demo, subscription=subscription,
                                        product_id=catalog["standard"].id, quantity=8, actor=adm(world))
    quote = cancellations.preview_cancellation(organization=world.demo, subscription=subscription, actor=adm(world),
                                               actor_membership=world.adm_membership, category="custo",
                                               reason="Não precisamos mais destas licenças.")
    cancellations.cancel(organization=world.demo, token=quote.token, password=factories.PASSWORD, actor=adm(world),
                         actor_membership=world.adm_membership)
    db.session.refresh(change)
    assert change.status == NextTermStatus.WITHDRAWN and subscription.renewal_quantity == 0
    assert renewal_calendar.upcoming_renewals(world.demo, clock.today())[0].ends


# ---------------------------------------------------------------- the renewal applies it

@pytest.mark.parametrize(("target", "quantity"), [("basic", 7), ("basic", 14), ("monthly", 10), ("standard", 9)])
def test_the_renewal_applies_quantity_term_and_product(setting, world, catalog, use_provisioner, target, quantity):
    use_provisioner(PartnerCenterSimulator())
    subscription = renewing_soon(world, catalog["basic"], quantity=10, days=3)
    change = next_term_changes.schedule(organization=world.demo, subscription=subscription,
                                        product_id=catalog[target].id, quantity=quantity, actor=adm(world))
    renews_on = subscription.term_end
    setting.advance(timedelta(days=3))
    assert renew_due(today=clock.today(), actor=Actor.system("renewals")) == 1
    db.session.refresh(subscription)
    db.session.refresh(change)
    product = catalog[target]
    assert (subscription.product_id, subscription.quantity, subscription.renewal_quantity) == (
        product.id, quantity, None)
    months = 1 if target == "monthly" else 12
    assert subscription.term_start == renews_on
    assert subscription.term_end == (date(renews_on.year + (renews_on.month - 1 + months) // 12,
                                          (renews_on.month - 1 + months) % 12 + 1, renews_on.day))
    assert change.status == NextTermStatus.APPLIED
    new_lot = subscription.lots[-1]
    assert (new_lot.quantity, new_lot.unit_price_cents) == (quantity, product.prices[-1].unit_price_cents)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.tag == AuditTag.SUBSCRIPTION_RENEWED))
    assert event.after["quantity"] == quantity
    if target != "basic":
        assert event.after["product_id"] == product.id
