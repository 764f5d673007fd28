"""Licence use: snapshots from the reader, SKUs matched to subscriptions through the catalog, the numbers and
"reduzir N", the Master's rules, and the monthly e-mail (once per organization and month)."""

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select

from portal.extensions import db
from portal.integrations.graph import UsageStatus
from portal.licence_usage import service
from portal.licence_usage.models import SkuRule, UnusedLicencesEmail, UsageSnapshot
from portal.notifications.models import EmailDelivery
from portal.shared import clock
from portal.shared.audit import Actor, AuditEvent, AuditTag
from portal.shared.errors import ServiceError
from tests import factories
from tests.fakes.concurrency import concurrently
from tests.licence_usage.helpers import BASIC, EXCHANGE, STANDARD, basic_product, read, standard_product, tenant_of


@pytest.fixture
def licences(app_ctx, world):
    """Demo: Business Standard in two subscriptions (12 monthly-billed, 8 annual-billed: 20), Business Basic 5."""
    monthly = factories.subscription(world.demo, standard_product(), quantity=12)
    annual = factories.subscription(world.demo, standard_product(billing_frequency="annual", price=94680), quantity=8)
    basic = factories.subscription(world.demo, basic_product(price=3600), quantity=5)
    tenant_of(world.demo)
    db.session.commit()
    return monthly, annual, basic


def test_a_reading_is_kept_per_sku(app_ctx, world, licences):
    snapshot = read(app_ctx, world.demo)
    assert snapshot.status == UsageStatus.OK and snapshot.reports_available
    by_sku = {s.sku_id: (s.enabled, s.consumed, s.inactive) for s in snapshot.skus}
    assert by_sku == {STANDARD: (20, 17, 2), BASIC: (5, 5, 0), EXCHANGE: (3, 1, 0)}
    standard = next(s for s in snapshot.skus if s.sku_id == STANDARD)
    assert [u[0] for u in standard.inactive_users] == ["bruno@cliente.example.com", "carla@cliente.example.com"]


def test_skus_map_to_subscriptions_and_reductions_are_shared(app_ctx, world, licences):
    monthly, annual, basic = licences
    read(app_ctx, world.demo)
    found = service.overview(world.demo)
    lines = {line.sku_id: line for line in found.lines}
    standard = lines[STANDARD]
    assert standard.product_names == ("Microsoft 365 Business Standard",)
    assert (standard.unassigned, standard.inactive, standard.reducible) == (3, 2, 5)  # 3 unassigned + 2 inactive
    assert [(s.subscription_id, s.reduce) for s in standard.subscriptions] == [(monthly.id, 5), (annual.id, 0)]
    assert lines[BASIC].reducible == 0
    assert lines[EXCHANGE].product_names == () and lines[EXCHANGE].subscriptions == ()
    assert found.by_subscription[annual.id] is standard and found.by_subscription[basic.id] is lines[BASIC]
    assert service.summaries(world.demo) == tuple(sorted(
        [(monthly.id, 20, 17, 2), (annual.id, 20, 17, 2), (basic.id, 5, 5, 0)]))
    assert service.reduce_for(world.demo, monthly.id) == 5
    assert service.reduce_for(world.demo, basic.id) == 0


def test_a_reduction_never_goes_below_the_minimum(app_ctx, world):
    small = factories.subscription(world.demo, standard_product(min_quantity=2), quantity=3)
    tenant_of(world.demo)
    db.session.commit()
    read(app_ctx, world.demo)
    assert service.reduce_for(world.demo, small.id) == 1


def test_without_reports_inactive_is_unknown_and_not_counted(app_ctx, world, licences):
    monthly, _annual, _basic = licences
    read(app_ctx, world.demo, reports=False)
    standard = next(line for line in service.overview(world.demo).lines if line.sku_id == STANDARD)
    assert standard.inactive is None and standard.reducible == 3
    assert service.summaries(world.demo)[0][3] is None


def test_concealed_names_keep_counts_only(app_ctx, world, licences):
    snapshot = read(app_ctx, world.demo, concealed=True)
    assert snapshot.concealed
    standard = next(s for s in snapshot.skus if s.sku_id == STANDARD)
    assert standard.inactive == 2 and standard.inactive_users == []


def test_missing_consent_shows_no_numbers(app_ctx, world, licences):
    snapshot = read(app_ctx, world.demo, consent=False)
    assert snapshot.status == UsageStatus.CONSENT_MISSING and snapshot.skus == []
    assert service.overview(world.demo).lines == () and service.summaries(world.demo) == ()


def test_refresh_on_demand_is_throttled_and_needs_a_tenant(app_ctx, world, licences):
    reader = app_ctx.extensions["licence_usage"]
    read(app_ctx, world.demo)
    with pytest.raises(ServiceError, match="há pouco"):
        service.refresh(world.demo, reader=reader, requested_by_id=world.adm.id, min_interval=timedelta(minutes=10))
    with clock.frozen(clock.now() + timedelta(minutes=11)):
        snapshot = service.refresh(world.demo, reader=reader, requested_by_id=world.adm.id,
                                   min_interval=timedelta(minutes=10))
    assert snapshot.requested_by_id == world.adm.id
    with pytest.raises(ServiceError, match="tenant"):
        service.refresh(world.other, reader=reader)


def test_refresh_all_reads_every_tenant(app_ctx, world, licences):
    tenant_of(world.other)
    db.session.commit()
    assert service.refresh_all(reader=app_ctx.extensions["licence_usage"]) == {"ok": 2}
    assert db.session.scalar(select(func.count(UsageSnapshot.id)).where(
        UsageSnapshot.organization_id.in_((world.demo.id, world.other.id)))) == 2


def test_exclusions_and_buffer(app_ctx, world, licences):
    monthly, _annual, _basic = licences
    read(app_ctx, world.demo)
    master = Actor.for_user(world.master)
    service.set_rule(world.demo, sku_id=STANDARD, excluded=False, buffer=4, actor=master)
    standard = next(line for line in service.overview(world.demo).lines if line.sku_id == STANDARD)
    assert (standard.buffer, standard.reducible, standard.unused_for_email) == (4, 1, 0)
    assert service.reduce_for(world.demo, monthly.id) == 1
    service.set_rule(world.demo, sku_id=STANDARD, excluded=True, buffer=4, actor=master)
    found = service.overview(world.demo)
    assert STANDARD not in {line.sku_id for line in found.lines}
    assert [line.sku_id for line in found.excluded] == [STANDARD]
    assert monthly.id not in found.by_subscription
    assert db.session.scalar(select(func.count(SkuRule.id)).where(SkuRule.organization_id == world.demo.id)) == 1
    tags = db.session.scalars(select(AuditEvent.tag).where(AuditEvent.organization_id == world.demo.id)).all()
    assert tags.count(AuditTag.LICENCE_USAGE_RULE_CHANGED) == 2
    with pytest.raises(ServiceError):
        service.set_rule(world.demo, sku_id=STANDARD, excluded=False, buffer=-1, actor=master)
    with pytest.raises(ServiceError):
        service.set_rule(world.demo, sku_id="not-in-the-tenant", excluded=True, buffer=0, actor=master)


def test_monthly_email_once_to_master_and_adm(app_ctx, world, licences, outbox):
    read(app_ctx, world.demo)
    lines = service.unused_lines(world.demo)
    # Standard: 3 unassigned at R$ 78,90 a month (the monthly-billed subscription's price).
    assert [(line.part_number, line.unused, line.monthly_cents) for line in lines] == [
        ("O365_BUSINESS_PREMIUM", 3, 3 * 7890)]
    assert service.send_monthly_emails(today=clock.today()) == 1
    assert service.send_monthly_emails(today=clock.today()) == 0
    assert sorted(m["To"] for m in outbox) == sorted([world.master.email, world.adm.email])
    assert "R$ 236,70" in outbox[0].get_body(("plain",)).get_content()
    next_month = clock.today().replace(day=1) + timedelta(days=32)
    assert service.send_monthly_emails(today=next_month) == 1


def test_no_email_without_unassigned_licences(app_ctx, world, licences, outbox):
    read(app_ctx, world.demo)
    service.set_rule(world.demo, sku_id=STANDARD, excluded=False, buffer=3, actor=Actor.for_user(world.master))
    assert service.send_monthly_emails(today=clock.today()) == 0
    assert outbox == []


def test_concurrent_runs_send_the_monthly_email_once(make_app, engine_name):
    app = make_app(engine_name)
    with app.app_context():
        organization = factories.OrganizationFactory()
        factories.MembershipFactory(organization=organization, roles=["master"])
        factories.MembershipFactory(organization=organization, roles=["adm"])
        factories.subscription(organization, standard_product(), quantity=20)
        tenant_of(organization)
        db.session.commit()
        read(app, organization)
        db.session.remove()
    today = date(2026, 12, 7)

    def send(_index):
        with app.app_context():
            try:
                return service.send_monthly_emails(today=today)
            finally:
                db.session.remove()

    with clock.frozen(datetime(2026, 12, 7, 12, tzinfo=UTC)):
        results, errors = concurrently(4, send)
    assert errors == []
    assert sum(results) == 1
    with app.app_context():
        assert db.session.scalar(select(func.count(UnusedLicencesEmail.id))) == 1
        assert db.session.scalar(select(func.count(EmailDelivery.id))
                                 .where(EmailDelivery.template == "unused_licences")) == 2
        db.session.execute(delete(UnusedLicencesEmail))
        db.session.commit()
        db.session.remove()
