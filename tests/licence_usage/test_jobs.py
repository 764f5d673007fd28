"""The licence-use jobs: the daily reading of every tenant and the monthly e-mail, as the consumer runs them."""

from sqlalchemy import func, select

from portal.extensions import db
from portal.licence_usage import jobs
from portal.licence_usage.models import UsageSnapshot
from tests import factories
from tests.licence_usage.helpers import simulated, standard_product, tenant_of


def test_daily_reading_then_monthly_email(app_ctx, world, outbox):
    factories.subscription(world.demo, standard_product(), quantity=20)
    app_ctx.extensions["licence_usage"].set_tenant(tenant_of(world.demo), simulated())
    db.session.commit()
    assert jobs.refresh_all.call_local() == {"ok": 1}
    assert db.session.scalar(select(func.count(UsageSnapshot.id))
                             .where(UsageSnapshot.organization_id == world.demo.id)) == 1
    assert jobs.send_monthly_emails.call_local() == 1
    assert jobs.send_monthly_emails.call_local() == 0
    assert {m["To"] for m in outbox} == {world.master.email, world.adm.email}
