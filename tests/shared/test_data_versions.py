"""Each organization's data version (portal/shared/data_versions.py): which writes renew which token, that nothing
renews on a rollback, that the session's own writes are never read through a cache, and concurrent writers."""

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select, update

from portal.accounts.models import LoginSession
from portal.billing.models import Boleto
from portal.billing.run import invoice_batch
from portal.billing.settings import BillingSettings
from portal.extensions import db
from portal.shared import clock, data_versions
from portal.shared.audit import Actor, AuditTag, record
from portal.shared.data_versions import GLOBAL, DataVersion
from portal.subscriptions.models import Lot, Subscription
from portal.support.models import TicketMessage
from tests import factories
from tests.fakes.concurrency import concurrently

SYSTEM = Actor.system("test")


def _tokens(*scopes: int) -> dict[int, str | None]:
    db.session.expire_all()
    found = dict(db.session.execute(select(DataVersion.scope, DataVersion.token)
                                    .where(DataVersion.scope.in_(scopes))).all())
    return {scope: found.get(scope) for scope in scopes}


def _renewed(before: dict[int, str | None]) -> set[int]:
    after = _tokens(*before)
    return {scope for scope in before if after[scope] != before[scope]}


@pytest.fixture
def two(app_ctx):
    """Two organizations with a subscription each, and a global token (the catalog was written)."""
    a, b = factories.OrganizationFactory(), factories.OrganizationFactory()
    product = factories.ProductFactory()
    subscriptions = factories.subscription(a, product), factories.subscription(b, product)
    db.session.commit()
    return a, b, product, subscriptions


def test_every_model_says_whose_its_rows_are(app):
    """A new model must be classified: an organization_id column, `__organization_via__`, or
    `__organization_data__`; and only the catalog renews every organization's token."""
    with app.app_context():
        classes = [mapper.class_ for mapper in db.Model.registry.mappers]
        assert [cls.__name__ for cls in classes if not data_versions.declared(cls)] == []
        renew_everyone = sorted(cls.__name__ for cls in classes if data_versions.rule_for(cls)[0] == "global")
    assert renew_everyone == ["AgreementVersion", "DunningStep", "Product", "ProductFamily", "ProductPrice"]


def test_a_write_renews_its_organizations_token_and_no_other(two):
    a, b, _product, (subscription, _other) = two
    before = _tokens(a.id, b.id, GLOBAL)
    assert all(before.values())
    subscription.purchase_order = "PO-1"
    db.session.commit()
    assert _renewed(before) == {a.id}


def test_a_row_without_organization_id_renews_its_parents_organization(two):
    a, b, _product, (subscription, _other) = two
    lot = db.session.scalars(select(Lot).where(Lot.subscription_id == subscription.id)).one()
    before = _tokens(a.id, b.id, GLOBAL)
    lot.billed_cents += 1  # a lot's organization is its subscription's
    db.session.commit()
    assert _renewed(before) == {a.id}

    invoice = factories.invoice(b, billing_date=date(2026, 6, 1))
    db.session.commit()
    boleto = db.session.scalars(select(Boleto).where(Boleto.invoice_id == invoice.id)).first()
    before = _tokens(a.id, b.id, GLOBAL)
    boleto.registered = not boleto.registered  # a boleto's is its invoice's
    db.session.commit()
    assert _renewed(before) == {b.id}


def test_a_deleted_row_renews_its_organization(two, world):
    a, b, _product, _subscriptions = two
    ticket = factories.ticket(b, world.other_master, with_file=False)
    message = db.session.scalars(select(TicketMessage).where(TicketMessage.ticket_id == ticket.id)).one()
    before = _tokens(a.id, b.id, GLOBAL)
    db.session.delete(message)  # read before the flush deletes it: its ticket's organization
    db.session.commit()
    assert _renewed(before) == {b.id}


def test_the_catalog_renews_the_global_token(two):
    a, b, product, _subscriptions = two
    before = _tokens(a.id, b.id, GLOBAL)
    product.name = "Outro nome"
    db.session.commit()
    assert _renewed(before) == {GLOBAL}


def test_a_rollback_renews_nothing(two):
    a, b, _product, (subscription, other) = two
    before = _tokens(a.id, b.id, GLOBAL)
    subscription.purchase_order, other.purchase_order = "PO-2", "PO-3"
    db.session.flush()
    db.session.rollback()
    db.session.commit()
    assert _renewed(before) == set()


def test_records_no_read_model_reads_renew_nothing(two, world):
    a, b, _product, _subscriptions = two
    before = _tokens(a.id, b.id, GLOBAL)
    record(AuditTag.PROFILE_UPDATED, actor=SYSTEM, organization_id=a.id, subject="user:1")  # the audit trail
    db.session.execute(update(LoginSession).values(end_reason="x"))  # sign-in sessions, by a Core UPDATE
    db.session.commit()
    assert _renewed(before) == set()


def test_a_core_statement_renews_the_organizations_it_names_else_every_one(two):
    a, b, _product, (subscription, _other) = two
    before = _tokens(a.id, b.id, GLOBAL)
    db.session.execute(update(Subscription.__table__).where(Subscription.__table__.c.id == subscription.id)
                       .values(cost_centre="CC-1").execution_options(organization_ids=[a.id]))
    db.session.commit()
    assert _renewed(before) == {a.id}
    before = _tokens(a.id, b.id, GLOBAL)
    db.session.execute(update(Subscription.__table__).where(Subscription.__table__.c.id == subscription.id)
                       .values(cost_centre="CC-2"))  # who knows whose: the safe side
    db.session.commit()
    assert _renewed(before) == {GLOBAL}


def test_the_billing_run_renews_the_invoiced_organizations(two, app_ctx):
    """Its rows are written with COPY on PostgreSQL (no ORM, no statement the session sees): `touch`."""
    a, b, _product, _subscriptions = two
    on = clock.today()  # the subscriptions were bought 60 days ago
    a.billing_day = min(on.day, 28)
    db.session.commit()
    before = _tokens(a.id, b.id, GLOBAL)
    with clock.frozen(clock.now().replace(day=a.billing_day)):
        outcome = invoice_batch([a.id], on=clock.today(), settings=BillingSettings.from_config(app_ctx.config),
                                actor=SYSTEM)
    assert a.id in outcome.issued
    assert _renewed(before) == {a.id}


def test_a_transactions_own_writes_are_never_read_through_the_cache(two):
    a, b, _product, (subscription, _other) = two
    assert data_versions.tokens(a.id) is not None
    subscription.quantity += 1
    assert data_versions.tokens(a.id) is None  # flushed by the read, not committed: read afresh
    assert data_versions.tokens(b.id) is not None
    db.session.commit()
    assert data_versions.tokens(a.id) is not None
    calls = []
    versions = data_versions.tokens(a.id)
    for _ in range(2):
        data_versions.cached(versions, ("t", a.id), lambda: calls.append(1) or len(calls))
    assert calls == [1]
    data_versions.cached(None, ("t", a.id), lambda: calls.append(1))
    assert calls == [1, 1]  # no versions: always computed


def test_concurrent_writers_of_the_same_organizations_all_commit(make_app, engine_name):
    """Every writer replaces the tokens in its commit (one upsert, scopes in order): writers of the same two
    organizations, each writing them in a different order, neither deadlock nor lose a version."""
    app = make_app(engine_name)
    writers = 4
    with app.app_context():
        a, b = factories.OrganizationFactory(), factories.OrganizationFactory()
        # each writer its own rows (no lock in common but the versions'), in both organizations
        own = [(factories.subscription(a).id, factories.subscription(b).id) for _ in range(writers)]
        db.session.commit()
        scopes = (a.id, b.id)
        before = _tokens(*scopes)
    def write(n: int) -> None:
        with app.app_context():
            for i in range(10):
                for subscription_id in own[n] if n % 2 else reversed(own[n]):
                    db.session.get(Subscription, subscription_id).purchase_order = f"PO-{n}-{i}"
                    db.session.flush()  # the row's lock now, in this writer's order
                db.session.commit()

    _results, errors = concurrently(writers, write)
    assert not errors
    with app.app_context():
        assert _renewed(before) == set(scopes)
        assert {s.purchase_order for s in db.session.scalars(select(Subscription))} == {
            f"PO-{n}-9" for n in range(writers)}


def test_a_cached_licences_card_reads_later_in_the_day_as_if_built_then(app_ctx, world):
    """The home keeps the licences card for the day; `at(now)` gives what building it at `now` gives, across a
    lot's 168 h window end, an annual renewal's "decidir até" and a change leaving the last 30 days."""
    from portal.home.presenters import licences_card

    today = date(2026, 6, 15)  # São Paulo's day, from 09:00 to 23:59:30 there
    morning, night = datetime(2026, 6, 15, 12, tzinfo=UTC), datetime(2026, 6, 16, 2, 59, 30, tzinfo=UTC)
    with clock.frozen(morning):
        annual = factories.ProductFactory(term="annual")
        # renews on 17/06: decidir até 15/06 23:59 in São Paulo (02:59 UTC on the 16th)
        factories.subscription(world.demo, annual, quantity=5, added_at=datetime(2025, 6, 17, 12, tzinfo=UTC))
        # its window ends an hour after the morning
        factories.subscription(world.demo, factories.ProductFactory(), quantity=3,
                               added_at=morning - timedelta(hours=167))
        # bought 30 days ago less an hour: in the morning's last 30 days, not the night's
        factories.subscription(world.demo, factories.ProductFactory(), quantity=2,
                               added_at=morning - timedelta(days=30) + timedelta(hours=1))
        db.session.commit()
        kept = licences_card(world.demo, today, morning)
    with clock.frozen(night):
        fresh = licences_card(world.demo, today, night)
    assert [row.decision_open for row in kept.renewals] == [True]
    assert [row.decision_open for row in fresh.renewals] == [False]
    assert len(kept.changes) == len(fresh.changes) + 1
    assert kept != fresh
    assert kept.at(night) == fresh
