"""Quotes and their confirmation: pró-rata to the centavo, the ledger and lots, credits, stale and double confirmations.

The spec's vectors are exercised through the whole service here (pure vectors: tests/unit/test_prorata.py).
Unless a test says otherwise, the day is 2026-03-11 15:00 UTC (12:00 in São Paulo), the organization is
billed on day 1 (period 2026-03-01 → 2026-04-01, N = 31) and the product costs R$ 78,90 a month.
"""

import threading
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from portal.billing.models import CreditEntry
from portal.cancellations import service as cancellations
from portal.cancellations.models import CancellationRequest
from portal.catalog import cart as carts
from portal.catalog.models import CartItem, ProductPrice
from portal.extensions import db
from portal.shared import clock
from portal.shared.audit import Actor, AuditEvent, AuditTag
from portal.shared.errors import NotFound, ServiceError
from portal.subscriptions import service
from portal.subscriptions.models import (
    ChangeKind,
    Lot,
    Order,
    OrderKind,
    OrderStatus,
    QuantityChange,
    Quote,
    Subscription,
    SubscriptionStatus,
)
from portal.subscriptions.service import StaleQuote
from tests import factories
from tests.fakes.concurrency import concurrently

MARCH_11 = datetime(2026, 3, 11, 15, 0, tzinfo=UTC)
REASON = "Vamos migrar toda a equipe para outro fornecedor."


@pytest.fixture
def march(app_ctx, world):
    """The clock on 2026-03-11 and Demo Tecnologia billed on day 1, with a Microsoft tenant."""
    world.demo.billing_day = 1
    world.demo.microsoft_tenant_id = "tenant-demo"
    db.session.commit()
    with clock.frozen(MARCH_11):
        yield clock


def actor_of(user) -> Actor:
    return Actor.for_user(user, ip="203.0.113.7", user_agent="pytest")


def quote(world, subscription, quantity, **reason):
    return service.quote_quantity_change(organization=world.demo, subscription=subscription, new_quantity=quantity,
                                         actor=actor_of(world.adm), **reason)


def confirm(world, quote_):
    return service.confirm_quote(organization=world.demo, token=quote_.token, actor=actor_of(world.adm))


def change(world, subscription, quantity, **reason):
    return confirm(world, quote(world, subscription, quantity, **reason))


def cancel(world, subscription, **reason):
    """Zero goes through "Cancelar" only (tests/cancellations has the rest of that path)."""
    zero = cancellations.preview_cancellation(organization=world.demo, subscription=subscription,
                                              actor=actor_of(world.adm), actor_membership=world.adm_membership,
                                              **reason)
    return cancellations.cancel(organization=world.demo, token=zero.token, password=factories.PASSWORD,
                                actor=actor_of(world.adm), actor_membership=world.adm_membership)


def ledger(subscription) -> list[tuple[str, int, int]]:
    rows = db.session.scalars(select(QuantityChange).where(QuantityChange.subscription_id == subscription.id)
                              .order_by(QuantityChange.id))
    return [(row.kind, row.delta, row.quantity_after) for row in rows]


def credits(organization) -> int:
    return db.session.scalar(select(func.coalesce(func.sum(CreditEntry.amount_cents), 0))
                             .where(CreditEntry.organization_id == organization.id))


def tags() -> list[str]:
    return list(db.session.scalars(select(AuditEvent.tag).order_by(AuditEvent.seq)))


# ---------------------------------------------------------------- increases

def test_an_increase_is_quoted_to_the_centavo(march, world):
    subscription = factories.subscription(world.demo, quantity=10)
    q = quote(world, subscription, 13)
    [line] = q.lines
    assert line["kind"] == "charge" and line["quantity"] == 3 and line["amount_cents"] == 16035  # E1
    assert (line["period_start"], line["period_end"], line["effective_on"]) == ("2026-03-01", "2026-04-01",
                                                                                 "2026-03-11")
    assert (q.charge_cents, q.credit_cents, q.recurring_cents) == (16035, 0, 13 * 7890)
    assert q.expires_at == datetime(2026, 3, 12, 3, 0, tzinfo=UTC)  # midnight in São Paulo
    assert subscription.quantity == 10  # nothing changes before confirming


def test_confirming_an_increase_applies_it_exactly_as_quoted(march, world, outbox):
    subscription = factories.subscription(world.demo, quantity=10)
    [order] = change(world, subscription, 13)
    assert subscription.quantity == 13
    assert ledger(subscription) == [("initial", 10, 10), ("increase", 3, 13)]
    increase = db.session.scalar(select(QuantityChange).where(QuantityChange.kind == ChangeKind.INCREASE))
    assert (increase.charge_cents, increase.period_start, increase.effective_on) == (16035, date(2026, 3, 1),
                                                                                     date(2026, 3, 11))
    newest = max(subscription.lots, key=lambda lot: lot.id)
    assert (newest.quantity, newest.unit_price_cents, newest.billed_cents) == (3, 7890, 16035)
    assert newest.window_end == MARCH_11 + timedelta(hours=168)
    assert (order.kind, order.quantity, order.status) == (OrderKind.QUANTITY_CHANGE, 13, OrderStatus.DONE)
    assert {AuditTag.QUOTE_CONFIRMED, AuditTag.QUANTITY_INCREASED, AuditTag.ORDER_CREATED,
            AuditTag.ORDER_DONE} <= set(tags())
    subjects = [m["Subject"] for m in outbox]
    assert subjects.count("Recebemos seu pedido de licenças") == 2  # the Adm who asked and the Master
    assert subjects.count("Pedido de licenças concluído") == 2


def test_an_increase_takes_todays_price_and_old_lots_keep_theirs(march, world):
    subscription = factories.subscription(world.demo, quantity=10)
    db.session.add(ProductPrice(product=subscription.product, unit_price_cents=8500,
                                          effective_from=date(2026, 3, 1)))
    db.session.commit()
    change(world, subscription, 12)
    assert sorted((lot.remaining, lot.unit_price_cents) for lot in subscription.lots) == [(2, 8500), (10, 7890)]
    assert service.recurring_cents(subscription) == 10 * 7890 + 2 * 8500


def test_the_license_list_sums_each_lot_in_sql_as_the_loaded_lots_say(march, world):
    drawn = factories.subscription(world.demo, quantity=10)
    change(world, drawn, 13)  # a lot of 3 …
    change(world, drawn, 10)  # … drawn back to nothing inside its window: no longer listed
    change(world, drawn, 12)
    change(world, drawn, 11)  # a lot of 2 with a draw of 1
    untouched = factories.subscription(world.demo, quantity=4)
    factories.subscription(world.other, quantity=7)  # another organization's lots stay out
    order = factories.subscription(world.demo, quantity=2)
    rows = {row.subscription_id: row for row in service.license_rows(world.demo)}
    assert set(rows) == {drawn.id, untouched.id, order.id}
    assert rows[drawn.id].prices == ((11, 7890),)  # the lots of 10 and of 1 left, both at R$ 78,90
    assert rows[drawn.id].recurring_cents == 11 * 7890
    for subscription in (drawn, untouched, order):
        db.session.expire(subscription)
        loaded = service.get_subscription(world.demo, subscription.id)
        stock = service.lot_stock(loaded)
        by_price: dict[int, int] = {}
        for lot in stock:
            by_price[lot.unit_price_cents] = by_price.get(lot.unit_price_cents, 0) + lot.remaining
        row = rows[subscription.id]
        assert row.prices == tuple((left, price) for price, left in sorted(by_price.items()))
        assert row.recurring_cents == service.stock_cents(stock) == service.recurring_cents(loaded)
        assert (row.quantity, row.status, row.term_end, row.product_name) == (
            loaded.quantity, loaded.status, loaded.term_end, loaded.product.name)


def test_a_license_row_carries_its_newest_order_and_lists_cancelled_last(march, world):
    cancelled = factories.subscription(world.demo, quantity=0, status=SubscriptionStatus.CANCELLED)
    active = factories.subscription(world.demo, quantity=3)
    first, newest = (Order(organization_id=world.demo.id, kind=OrderKind.QUANTITY_CHANGE, subscription_id=active.id,
                           quantity=quantity, status=status, correlation_id=str(uuid.uuid4()), created_at=clock.now())
                     for quantity, status in ((4, OrderStatus.DONE), (5, OrderStatus.PENDING)))
    db.session.add(first)
    db.session.flush()
    db.session.add(newest)
    db.session.commit()
    rows = service.license_rows(world.demo)
    assert [row.subscription_id for row in rows] == [active.id, cancelled.id]
    assert (rows[0].order_id, rows[0].order_status, rows[0].order_is_open) == (newest.id, "pending", True)
    assert first.id < newest.id
    assert (rows[1].order_id, rows[1].order_status, rows[1].order_is_open) == (None, None, False)


def test_annual_billing_uses_the_whole_term(app_ctx, world):
    # E8: annual R$ 946,80, term 2025-07-01 → 2026-07-01, +2 on 2026-01-15 → R$ 866,39
    product = factories.ProductFactory(billing_frequency="annual", price=94680)
    with clock.frozen(datetime(2026, 1, 15, 15, 0, tzinfo=UTC)):
        subscription = factories.subscription(world.demo, product=product, quantity=5,
                                              added_at=datetime(2025, 7, 1, 12, 0, tzinfo=UTC))
        q = quote(world, subscription, 7)
    assert q.charge_cents == 86639
    assert (q.lines[0]["period_start"], q.lines[0]["period_end"]) == ("2025-07-01", "2026-07-01")


# ---------------------------------------------------------------- decreases

def test_a_decrease_inside_the_window_is_credited(march, world):
    subscription = factories.subscription(world.demo, quantity=10)
    change(world, subscription, 13)  # the E1 lot: +3 on 03-11
    march.advance(timedelta(days=4))  # 03-15, 96 h later
    q = quote(world, subscription, 11)
    [line] = q.lines
    assert line["kind"] == "credit" and line["quantity"] == 2 and line["amount_cents"] == -8654  # E3
    assert q.credit_cents == 8654 and q.charge_cents == 0
    confirm(world, q)
    assert subscription.quantity == 11 and subscription.renewal_quantity is None
    assert credits(world.demo) == 8654
    assert ledger(subscription)[-1] == ("decrease", -2, 11)


def test_a_decrease_outside_the_window_waits_for_the_term_end(march, world):
    subscription = factories.subscription(world.demo, quantity=10)  # bought 60 days ago
    q = quote(world, subscription, 8)
    [line] = q.lines
    assert line["kind"] == "scheduled" and line["quantity"] == 2 and line["amount_cents"] == 0  # E4
    assert line["effective_on"] == subscription.term_end.isoformat()
    orders = confirm(world, q)
    assert subscription.quantity == 10 and subscription.renewal_quantity == 8  # in use until the term ends
    assert credits(world.demo) == 0
    assert [(o.kind, o.quantity, o.status) for o in orders] == [(OrderKind.RENEWAL_QUANTITY, 8, OrderStatus.DONE)]
    assert ledger(subscription)[-1] == ("scheduled_decrease", -2, 10)
    assert AuditTag.QUANTITY_DECREASE_SCHEDULED in tags()


def test_a_split_decrease_shows_both_parts(march, world):
    subscription = factories.subscription(world.demo, quantity=10)
    change(world, subscription, 13)
    march.advance(timedelta(days=4))
    q = quote(world, subscription, 8)  # 3 of the recent lot now, 2 of the old one at term end
    assert [(line["kind"], line["quantity"]) for line in q.lines] == [("credit", 3), ("scheduled", 2)]
    orders = confirm(world, q)
    assert (subscription.quantity, subscription.renewal_quantity) == (10, 8)
    assert [o.kind for o in orders] == [OrderKind.QUANTITY_CHANGE, OrderKind.RENEWAL_QUANTITY]


def test_the_same_day_add_and_remove_cancel_exactly(march, world):
    subscription = factories.subscription(world.demo, quantity=10)
    change(world, subscription, 13)
    change(world, subscription, 10)  # E2
    assert credits(world.demo) == 16035  # the full charge comes back
    assert subscription.quantity == 10


def test_keeping_the_quantity_undoes_a_scheduled_decrease(march, world):
    subscription = factories.subscription(world.demo, quantity=10)
    change(world, subscription, 8)
    [order] = change(world, subscription, 10)
    assert subscription.renewal_quantity is None
    assert (order.kind, order.quantity) == (OrderKind.RENEWAL_QUANTITY, 10)


# ---------------------------------------------------------------- zero: cancellation

def test_zero_needs_a_reason(march, world):
    subscription = factories.subscription(world.demo, quantity=10)
    with pytest.raises(ServiceError) as missing:
        quote(world, subscription, 0)
    assert missing.value.field == "category"
    with pytest.raises(ServiceError) as short:
        quote(world, subscription, 0, category="custo", reason="  caro demais   ")
    assert short.value.field == "reason" and "20" in short.value.message
    with pytest.raises(ServiceError):
        quote(world, subscription, 0, category="porque-sim", reason=REASON)


def test_zero_is_not_confirmed_here(march, world):
    subscription = factories.subscription(world.demo, quantity=10)
    zero = quote(world, subscription, 0, category="custo", reason=REASON)
    with pytest.raises(ServiceError, match="use “Cancelar”"):
        confirm(world, zero)
    assert (subscription.quantity, subscription.renewal_quantity) == (10, None)
    assert db.session.get(Quote, zero.id).status == "open"
    assert db.session.scalar(select(func.count(CancellationRequest.id))) == 0


def test_zero_outside_the_window_cancels_at_term_end(march, world):
    subscription = factories.subscription(world.demo, quantity=10)
    cancel(world, subscription, category="rescisao_contrato", reason=REASON)
    assert (subscription.quantity, subscription.renewal_quantity, subscription.status) == (10, 0, "active")
    request = db.session.scalar(select(CancellationRequest))
    assert (request.subscription_id, request.category, request.reason) == (subscription.id, "rescisao_contrato",
                                                                           REASON)
    assert request.requested_by_id == world.adm.id
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.tag == AuditTag.CANCELLATION_REQUESTED))
    assert event.after["ends_on"] == subscription.term_end.isoformat() and event.actor_id == world.adm.id


def test_zero_inside_the_window_cancels_now_with_credit(march, world):
    subscription = factories.subscription(world.demo, quantity=4, added_at=MARCH_11 - timedelta(days=1))
    [order] = cancel(world, subscription, category="nao_utiliza", reason=REASON)
    assert (subscription.quantity, subscription.status) == (0, SubscriptionStatus.CANCELLED)
    assert credits(world.demo) > 0
    assert (order.kind, order.quantity, order.status) == (OrderKind.QUANTITY_CHANGE, 0, OrderStatus.DONE)
    with pytest.raises(ServiceError, match="cancelada"):
        quote(world, subscription, 3)


# ---------------------------------------------------------------- wrong input

@pytest.mark.parametrize(
    ("quantity", "message"),
    [(-1, "negativa"), (301, "máximo"), ("12", "números inteiros"), (True, "números inteiros"),
     (10, "já é a quantidade atual")],
)
def test_wrong_quantities_are_refused(march, world, quantity, message):
    subscription = factories.subscription(world.demo, quantity=10)
    with pytest.raises(ServiceError, match=message) as refused:
        quote(world, subscription, quantity)
    assert refused.value.field == "quantity"
    assert db.session.scalar(select(func.count(Quote.id))) == 0


def test_below_the_minimum_is_refused(march, world):
    subscription = factories.subscription(world.demo, factories.ProductFactory(min_quantity=5), quantity=10)
    with pytest.raises(ServiceError, match="mínimo"):
        quote(world, subscription, 3)


def test_a_subscription_being_provisioned_waits(march, world):
    subscription = factories.subscription(world.demo, status=SubscriptionStatus.PROVISIONING)
    with pytest.raises(ServiceError, match="provisionamento"):
        quote(world, subscription, 11)


def test_another_organizations_objects_are_not_found(march, world):
    theirs = factories.subscription(world.other)
    with pytest.raises(NotFound):
        quote(world, theirs, 11)
    with pytest.raises(NotFound):
        service.get_subscription(world.demo, theirs.id)
    their_quote = service.quote_quantity_change(organization=world.other, subscription=theirs, new_quantity=11,
                                                actor=actor_of(world.other_master))
    with pytest.raises(NotFound):
        confirm(world, their_quote)
    assert theirs.quantity == 10


# ---------------------------------------------------------------- stale quotes, double submissions

def test_a_quote_expires_at_the_end_of_the_business_day(march, world):
    subscription = factories.subscription(world.demo, quantity=10)
    q = quote(world, subscription, 13)
    march.advance(timedelta(hours=12, seconds=1))  # 00:00:01 in São Paulo
    with pytest.raises(StaleQuote, match="expirou"):
        confirm(world, q)
    assert subscription.quantity == 10 and db.session.get(Quote, q.id).status == "open"


def test_a_quote_made_before_another_change_is_stale(march, world):
    subscription = factories.subscription(world.demo, quantity=10)
    first, second = quote(world, subscription, 12), quote(world, subscription, 15)
    confirm(world, first)
    with pytest.raises(StaleQuote, match="mudou"):
        confirm(world, second)
    assert subscription.quantity == 12
    assert db.session.get(Quote, second.id).status == "open"  # rolled back: nothing charged


def test_a_quote_whose_window_closed_meanwhile_is_stale(march, world):
    subscription = factories.subscription(world.demo, quantity=10)
    change(world, subscription, 13)
    march.advance(timedelta(hours=167, minutes=59))
    q = quote(world, subscription, 10)  # a credit, one minute before the window closes
    assert q.lines[0]["kind"] == "credit"
    march.advance(timedelta(minutes=2))
    with pytest.raises(StaleQuote, match="janela"):
        confirm(world, q)


def test_confirming_twice_gives_the_same_orders(march, world, outbox):
    subscription = factories.subscription(world.demo, quantity=10)
    q = quote(world, subscription, 13)
    first, second = confirm(world, q), confirm(world, q)
    assert [o.id for o in first] == [o.id for o in second]
    assert subscription.quantity == 13
    assert db.session.scalar(select(func.count(Order.id))) == 1
    assert len(ledger(subscription)) == 2


def _committed_world(make_app, engine_name):
    app = make_app(engine_name)
    with app.app_context():
        organization = factories.OrganizationFactory(billing_day=1)
        adm = factories.MembershipFactory(organization=organization, roles=["adm"]).user
        subscription = factories.subscription(organization, quantity=10)
        db.session.commit()
        return app, organization.id, adm.id, subscription.id


def test_a_double_submission_creates_one_order(make_app, engine_name):
    app, organization_id, adm_id, subscription_id = _committed_world(make_app, engine_name)
    from portal.accounts.models import Organization, User

    with app.app_context():
        q = service.quote_quantity_change(
            organization=db.session.get(Organization, organization_id),
            subscription=db.session.get(Subscription, subscription_id), new_quantity=14,
            actor=actor_of(db.session.get(User, adm_id)))
        token = q.token

    def submit(_index):
        with app.app_context():
            return [o.id for o in service.confirm_quote(organization=db.session.get(Organization, organization_id),
                                                        token=token, actor=actor_of(db.session.get(User, adm_id)))]

    results, errors = concurrently(4, submit)
    assert not errors
    assert len({tuple(r) for r in results}) == 1  # every submission sees the same order
    with app.app_context():
        assert db.session.scalar(select(func.count(Order.id))) == 1
        assert db.session.get(Subscription, subscription_id).quantity == 14
        assert db.session.scalar(select(func.count(QuantityChange.id))) == 2


def test_two_admins_changing_at_once_never_lose_an_update(make_app, engine_name):
    app, organization_id, adm_id, subscription_id = _committed_world(make_app, engine_name)
    from portal.accounts.models import Organization, User

    tokens = []
    with app.app_context():
        organization = db.session.get(Organization, organization_id)
        for quantity in (12, 15):
            tokens.append(service.quote_quantity_change(
                organization=organization, subscription=db.session.get(Subscription, subscription_id),
                new_quantity=quantity, actor=actor_of(db.session.get(User, adm_id))).token)

    def submit(index):
        with app.app_context():
            return service.confirm_quote(organization=db.session.get(Organization, organization_id),
                                         token=tokens[index], actor=actor_of(db.session.get(User, adm_id)))[0].quantity

    results, errors = concurrently(2, submit)
    assert len(results) == 1 and len(errors) == 1 and isinstance(errors[0], StaleQuote)
    with app.app_context():
        subscription = db.session.get(Subscription, subscription_id)
        assert subscription.quantity == results[0]  # the winner's change, whole
        assert sum(lot.remaining for lot in subscription.lots) == results[0]
        assert [row.quantity_after for row in db.session.scalars(
            select(QuantityChange).order_by(QuantityChange.id))] == [10, results[0]]


def _decreases_of_fresh_seats(app, quantities):
    """A committed organization whose Adm quoted a decrease to each of `quantities` from 10 licences all bought an
    hour ago (inside their window: a decrease draws credit from the lots). → app, ids, the quotes' tokens."""
    with app.app_context():
        organization = factories.OrganizationFactory(billing_day=1)
        adm = factories.MembershipFactory(organization=organization, roles=["adm"]).user
        subscription = factories.subscription(organization, quantity=10, added_at=clock.now() - timedelta(hours=1))
        db.session.commit()
        tokens = [service.quote_quantity_change(organization=organization, subscription=subscription,
                                                new_quantity=quantity, actor=actor_of(adm)).token
                  for quantity in quantities]
        return app, organization.id, adm.id, subscription.id, tokens


def test_decreases_confirmed_at_once_apply_one_and_refuse_the_others_clearly(make_app, engine_name):
    """Issue 13 point 19a: on PostgreSQL one of several decreases confirmed at once answered a 500 (ValueError
    in the lot arithmetic: it read the lots after another decrease had drawn from them). The subscription row is
    locked before its lots are read: one decrease wins, whole; the others get the clear "a licença mudou"."""
    from portal.accounts.models import Organization, User

    app, organization_id, adm_id, subscription_id, tokens = _decreases_of_fresh_seats(make_app(engine_name),
                                                                                       (9, 7, 5, 3, 8, 6))

    def submit(index):
        with app.app_context():
            return service.confirm_quote(organization=db.session.get(Organization, organization_id),
                                         token=tokens[index], actor=actor_of(db.session.get(User, adm_id)))[0].quantity

    results, errors = concurrently(len(tokens), submit)
    assert len(results) == 1, errors  # one wins
    assert len(errors) == len(tokens) - 1 and all(isinstance(error, StaleQuote) for error in errors), errors
    assert all("mudou" in error.message for error in errors)  # a message the page shows, never a 500
    with app.app_context():
        subscription = db.session.get(Subscription, subscription_id)
        assert subscription.quantity == results[0]
        assert sum(lot.remaining for lot in subscription.lots) == results[0]
        assert [row.quantity_after for row in db.session.scalars(
            select(QuantityChange).order_by(QuantityChange.id))] == [10, results[0]]


def test_a_decrease_never_reads_lots_another_decrease_just_drew_from(make_app, engine_name):
    """The 500 of point 19a, made to happen every time: decrease B has read the subscription and is about to read
    its lots when decrease A commits. Before the fix B read A's draws with the old quantity and the lot arithmetic
    raised ValueError; now B either holds the subscription's lock (A waits, then is told the licence changed) or,
    where there is no row lock (SQLite), is itself told to look again. Never a 500, nothing half-applied."""
    from sqlalchemy import event

    from portal.accounts.models import Organization, User

    app, organization_id, adm_id, subscription_id, (token_b, token_a) = _decreases_of_fresh_seats(
        make_app(engine_name), (5, 3))
    with app.app_context():
        engine = db.engine

    b_thread, paused, a_finished, outcome = {}, threading.Event(), threading.Event(), {}

    def pause_b_before_its_lots(_conn, _cursor, statement, *_args):
        if threading.get_ident() == b_thread.get("id") and "FROM lots" in statement and not paused.is_set():
            paused.set()
            a_finished.wait(timeout=3)  # with the lock held, A cannot finish: B goes on after 3 s

    def confirm(token, name):
        with app.app_context():
            try:
                outcome[name] = service.confirm_quote(
                    organization=db.session.get(Organization, organization_id), token=token,
                    actor=actor_of(db.session.get(User, adm_id)))[0].quantity
            except Exception as exc:  # noqa: BLE001 - collected for the assertions
                outcome[name] = exc

    def run_b():
        b_thread["id"] = threading.get_ident()
        confirm(token_b, "b")

    event.listen(engine, "before_cursor_execute", pause_b_before_its_lots)
    try:
        thread = threading.Thread(target=run_b)
        thread.start()
        assert paused.wait(timeout=30)  # B is about to read the lots
        try:
            confirm(token_a, "a")
        finally:
            a_finished.set()
        thread.join(timeout=60)
    finally:
        event.remove(engine, "before_cursor_execute", pause_b_before_its_lots)
    applied = {name: value for name, value in outcome.items() if isinstance(value, int)}
    refused = {name: value for name, value in outcome.items() if not isinstance(value, int)}
    assert len(applied) == 1 and len(refused) == 1, outcome
    [error] = refused.values()
    assert isinstance(error, StaleQuote), repr(error)
    assert "mudou" in error.message
    with app.app_context():
        subscription = db.session.get(Subscription, subscription_id)
        [quantity] = applied.values()
        assert subscription.quantity == quantity == sum(lot.remaining for lot in subscription.lots)
        assert [row.quantity_after for row in db.session.scalars(
            select(QuantityChange).order_by(QuantityChange.id))] == [10, quantity]


# ---------------------------------------------------------------- cart and checkout

def test_checkout_buys_what_is_in_the_cart(march, world, outbox):
    product = factories.ProductFactory(name="Defender")
    carts.set_cart_quantity(organization=world.demo, user=world.adm, product_id=product.id, quantity=2, add=True)
    carts.set_cart_quantity(organization=world.demo, user=world.adm, product_id=product.id, quantity=1, add=True)
    q = service.quote_checkout(organization=world.demo, user=world.adm, actor=actor_of(world.adm))
    [line] = q.lines
    assert (line["kind"], line["quantity"], line["amount_cents"]) == ("purchase", 3, 16035)
    assert q.recurring_cents == 3 * 7890
    [order] = confirm(world, q)
    subscription = order.subscription
    assert (subscription.product_id, subscription.quantity, subscription.status) == (product.id, 3, "active")
    assert subscription.provider_subscription_id  # the simulator's id
    assert subscription.term_start == date(2026, 3, 11) and subscription.term_end == date(2027, 3, 11)
    assert (order.kind, order.status) == (OrderKind.PURCHASE, OrderStatus.DONE)
    assert db.session.scalar(select(func.count(CartItem.id))) == 0
    assert ledger(subscription) == [("initial", 3, 3)]


def test_the_cart_belongs_to_one_user_in_one_organization(march, world):
    product = factories.ProductFactory()
    carts.set_cart_quantity(organization=world.demo, user=world.adm, product_id=product.id, quantity=2)
    assert carts.cart_items(world.demo, world.master) == []
    assert carts.cart_items(world.other, world.adm) == []
    carts.set_cart_quantity(organization=world.demo, user=world.adm, product_id=product.id, quantity=0)
    assert carts.cart_items(world.demo, world.adm) == []


@pytest.mark.parametrize(("quantity", "message"), [(0, "mínimo"), (301, "máximo"), ("dois", "números inteiros")])
def test_the_cart_refuses_wrong_quantities(march, world, quantity, message):
    product = factories.ProductFactory()
    with pytest.raises(ServiceError, match=message):
        carts.set_cart_quantity(organization=world.demo, user=world.adm, product_id=product.id, quantity=quantity,
                                add=True)


def test_unsellable_products_cannot_be_bought(march, world):
    for product in (factories.ProductFactory(active=False), factories.ProductFactory(price=False)):
        with pytest.raises(ServiceError):
            carts.set_cart_quantity(organization=world.demo, user=world.adm, product_id=product.id, quantity=1)
    with pytest.raises(NotFound):
        carts.set_cart_quantity(organization=world.demo, user=world.adm, product_id=999_999, quantity=1)
    with pytest.raises(ServiceError, match="vazio"):
        service.quote_checkout(organization=world.demo, user=world.adm, actor=actor_of(world.adm))


def test_a_checkout_quote_is_stale_after_a_price_change(march, world):
    product = factories.ProductFactory()
    carts.set_cart_quantity(organization=world.demo, user=world.adm, product_id=product.id, quantity=1)
    q = service.quote_checkout(organization=world.demo, user=world.adm, actor=actor_of(world.adm))
    db.session.add(ProductPrice(product=product, unit_price_cents=9900, effective_from=date(2026, 3, 11)))
    db.session.commit()
    with pytest.raises(StaleQuote, match="preços"):
        confirm(world, q)
    assert db.session.scalar(select(func.count(Subscription.id)).where(Subscription.product_id == product.id)) == 0


# ---------------------------------------------------------------- renewal

def test_renewal_applies_the_scheduled_decrease_and_reopens_the_window(march, world):
    subscription = factories.subscription(world.demo, quantity=10)
    change(world, subscription, 8)
    term_end = subscription.term_end
    with clock.frozen(datetime.combine(term_end, datetime.min.time(), tzinfo=UTC) + timedelta(hours=6)):
        assert service.renew_due(today=term_end, actor=Actor.system("tests")) == 1
        assert (subscription.quantity, subscription.renewal_quantity) == (8, None)
        assert subscription.term_start == term_end and subscription.term_end > term_end
        [lot] = [lot for lot in subscription.lots if lot.remaining > 0]
        assert (lot.quantity, lot.window_end > clock.now()) == (8, True)
        q = quote(world, subscription, 6)  # inside the new window: a credit, not a schedule
        assert q.lines[0]["kind"] == "credit"
    assert ledger(subscription)[-1] == ("renewal", -2, 8)


def test_renewal_to_zero_ends_the_subscription(march, world):
    subscription = factories.subscription(world.demo, quantity=10)
    cancel(world, subscription, category="custo", reason=REASON)
    service.renew_due(today=subscription.term_end, actor=Actor.system("tests"))
    assert (subscription.quantity, subscription.status) == (0, SubscriptionStatus.CANCELLED)
    assert all(lot.remaining == 0 for lot in db.session.scalars(select(Lot)))


def test_a_cancelled_license_keeps_its_end_date(march, world):
    subscription = factories.subscription(world.demo, quantity=10)
    from portal.cancellations import service as cancellations

    quote_ = cancellations.preview_cancellation(organization=world.demo, subscription=subscription,
                                               actor=actor_of(world.adm), actor_membership=world.adm_membership,
                                               category="custo", reason=REASON)
    cancellations.cancel(organization=world.demo, token=quote_.token, password=factories.PASSWORD,
                         actor=actor_of(world.adm), actor_membership=world.adm_membership)
    assert subscription.renewal_quantity == 0
    with pytest.raises(ServiceError, match="foi cancelada e termina em"):
        quote(world, subscription, 12)
