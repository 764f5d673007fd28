"""Budget e-mails: once when the forecast passes the budget, once at 80 % and once at 100 % of actual spend, per
month and budget; re-running (or several consumers at once) sends nothing twice."""

from datetime import UTC, date, datetime

import pytest
from flask import current_app
from sqlalchemy import delete, func, select

from portal.billing.run import invoice_organization
from portal.billing.settings import BillingSettings
from portal.budgets import jobs as budget_jobs
from portal.budgets import service as budgets
from portal.budgets.models import Budget, BudgetAlert
from portal.extensions import db
from portal.notifications.models import EmailDelivery
from portal.shared import clock
from portal.shared.audit import Actor
from tests import factories
from tests.fakes.concurrency import concurrently

SYSTEM = Actor.system("tests")
MONTHLY = 10 * 7890  # what the test subscription costs a month


def at(day: date, hour: int = 15) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


@pytest.fixture
def demo(app_ctx, world):
    """Billed on the 20th, with 10 licences at R$ 78,90 bought in January."""
    world.demo.billing_day = 20
    db.session.commit()
    with clock.frozen(at(date(2026, 1, 5))):
        factories.subscription(world.demo, quantity=10, added_at=at(date(2026, 1, 5)))
    db.session.commit()
    return world.demo


def set_budget(world, total):
    budgets.set_budgets(world.demo, total_cents=total, family_cents={}, actor=Actor.for_user(world.master))


def run(day: date) -> int:
    with clock.frozen(at(day, 12)):
        return budget_jobs.send_budget_alerts.call_local()


def issue(organization, day: date):
    settings = BillingSettings.from_config(current_app.config)
    with clock.frozen(at(day, 9)):
        invoice_organization(organization.id, on=day, settings=settings, actor=SYSTEM)
    db.session.expire_all()


def subjects(outbox) -> list[tuple[str, str]]:
    return sorted((message["To"], message["Subject"]) for message in outbox)


def test_the_forecast_over_the_budget_goes_once_to_master_and_cobranca(demo, world, outbox):
    set_budget(world, MONTHLY - 100)  # March's draft (R$ 789,00) passes it; nothing spent yet
    assert run(date(2026, 3, 10)) == 1
    assert subjects(outbox) == sorted([(world.master.email, "A previsão do mês passa o orçamento"),
                                       (world.cobranca.email, "A previsão do mês passa o orçamento")])
    body = outbox[0].get_body(("plain",)).get_content()
    assert "R$ 788,00" in body and "R$ 789,00" in body and "http://portal.test/orcamento" in body
    outbox.clear()
    assert run(date(2026, 3, 10)) == 0 and run(date(2026, 3, 11)) == 0
    assert outbox == []
    [alert] = db.session.scalars(select(BudgetAlert)).all()
    assert (alert.month, alert.family_id, alert.kind, alert.budget_cents, alert.forecast_cents) == (
        date(2026, 3, 1), None, "forecast", MONTHLY - 100, MONTHLY)


def test_80_and_100_percent_of_actual_spend_once_each(demo, world, outbox):
    set_budget(world, MONTHLY * 100 // 85)  # the invoice will be 85 % of it: forecast under, then 80 %
    assert run(date(2026, 3, 10)) == 0
    issue(demo, date(2026, 3, 20))
    outbox.clear()  # the invoice's own e-mail
    assert run(date(2026, 3, 20)) == 1
    assert {s for _to, s in subjects(outbox)} == {"80% do orçamento mensal já foram gastos"}
    outbox.clear()
    assert run(date(2026, 3, 21)) == 0

    set_budget(world, MONTHLY)  # the Master lowers it to what was spent: 100 % now
    assert run(date(2026, 3, 22)) == 1
    assert {s for _to, s in subjects(outbox)} == {"Orçamento mensal atingido"}
    outbox.clear()
    assert run(date(2026, 3, 23)) == 0 and outbox == []
    kinds = sorted(db.session.scalars(select(BudgetAlert.kind)).all())
    assert kinds == ["actual_100", "actual_80"]

    # April is a new month: its own e-mails.
    issue(demo, date(2026, 4, 20))
    outbox.clear()
    assert run(date(2026, 4, 20)) == 1
    assert {s for _to, s in subjects(outbox)} == {"Orçamento mensal atingido"}  # the gravest news, once
    april = sorted(db.session.scalars(select(BudgetAlert.kind).where(BudgetAlert.month == date(2026, 4, 1))).all())
    assert april == ["actual_100", "actual_80"]  # the milder one is recorded with it: it never follows


def test_a_family_budget_has_its_own_emails(demo, world, outbox):
    family = factories.ProductFamilyFactory(name="Segurança")
    product = factories.ProductFactory(family=family, price=2000)
    with clock.frozen(at(date(2026, 1, 5))):
        factories.subscription(demo, product=product, quantity=5, added_at=at(date(2026, 1, 5)))
    db.session.commit()
    budgets.set_budgets(demo, total_cents=1_000_000, family_cents={family.id: 9_000},
                        actor=Actor.for_user(world.master))
    assert run(date(2026, 3, 10)) == 1  # Segurança's draft: R$ 100,00 > R$ 90,00
    assert {s for _to, s in subjects(outbox)} == {"A previsão do mês passa o orçamento de Segurança"}
    [alert] = db.session.scalars(select(BudgetAlert)).all()
    assert alert.family_id == family.id
    assert run(date(2026, 3, 11)) == 0


def test_no_budget_no_email(demo, world, outbox):
    issue(demo, date(2026, 3, 20))
    outbox.clear()
    assert run(date(2026, 3, 20)) == 0 and outbox == []


# ---------------------------------------------------------------- once, however many consumers

def test_concurrent_consumers_send_each_email_once(make_app, engine_name):
    app = make_app(engine_name)
    with app.app_context():
        organizations = []
        for _number in range(3):
            organization = factories.OrganizationFactory(billing_day=20)
            factories.MembershipFactory(organization=organization, roles=["master"])
            factories.MembershipFactory(organization=organization, roles=["cobranca"])
            with clock.frozen(at(date(2026, 1, 5))):
                factories.subscription(organization, quantity=10, added_at=at(date(2026, 1, 5)))
            db.session.add(Budget(organization_id=organization.id, family_id=None, amount_cents=MONTHLY - 100))
            organizations.append(organization.id)
        db.session.commit()
        db.session.remove()

    def send(_index):
        with app.app_context():
            try:
                return budgets.send_alerts(today=date(2026, 3, 10))
            finally:
                db.session.remove()

    with clock.frozen(at(date(2026, 3, 10), 12)):
        results, errors = concurrently(6, send)
    assert errors == []
    assert sum(results) == 3  # each organization's forecast e-mail by exactly one consumer
    with app.app_context():
        alerts = db.session.execute(select(BudgetAlert.organization_id, BudgetAlert.kind)).all()
        assert sorted(alerts) == [(organization_id, "forecast") for organization_id in sorted(organizations)]
        mails = db.session.execute(select(EmailDelivery.organization_id, func.count())
                                   .where(EmailDelivery.template == "budget_alert")
                                   .group_by(EmailDelivery.organization_id)).all()
        assert sorted(mails) == [(organization_id, 2) for organization_id in sorted(organizations)]
        db.session.execute(delete(BudgetAlert))
        db.session.commit()
        db.session.remove()
