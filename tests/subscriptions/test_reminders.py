"""Renewal reminders (issue 17 point 6): Master and Adm, 30 and 7 days before "decidir até", once each (also when
consumers race, on both engines), never for monthly rollovers nor for who turned them off in "Minha conta"."""

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import delete, func, select

from portal.extensions import db
from portal.notifications.models import EmailDelivery
from portal.shared import clock
from portal.subscriptions import next_term, reminders
from portal.subscriptions.jobs import send_renewal_reminders
from portal.subscriptions.models import RenewalReminder
from tests import factories
from tests.fakes.concurrency import concurrently

TODAY = date(2026, 3, 11)


def noon(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 15, tzinfo=UTC)


def term_for_deadline_in(days: int) -> tuple[date, date]:
    """(term_start, term_end) of an annual term whose "decidir até" is `days` after TODAY."""
    term_end = TODAY + timedelta(days=days + next_term.DECIDE_BY_DAYS_BEFORE_TERM_END)
    return date(term_end.year - 1, term_end.month, term_end.day), term_end


def annual(organization, days: int, **kwargs):
    start, _end = term_for_deadline_in(days)
    return factories.subscription(organization, product=factories.ProductFactory(name=f"Anual {days}"),
                                  added_at=noon(start), term_start=start, **kwargs)


def sent(template="renewal_reminder") -> list[tuple[str, str]]:
    return db.session.execute(select(EmailDelivery.to_address, EmailDelivery.subject)
                              .where(EmailDelivery.template == template).order_by(EmailDelivery.id)).all()


def test_thirty_and_seven_days_before_once_each_to_master_and_adm(app_ctx, world):
    subscription = annual(world.demo, 30)
    with clock.frozen(noon(TODAY)):
        assert reminders.send_due(today=TODAY) == 1
        assert reminders.send_due(today=TODAY) == 0  # the same day again: nothing
    to = sorted(address for address, _subject in sent())
    assert to == sorted([world.master.email, world.adm.email])  # not Cobrança, not Suporte
    [(_to, subject), _] = sent()
    assert subject.startswith(f"Renovação de {subscription.product.name} em ")
    for day in range(1, 23):  # the days between: nothing more
        with clock.frozen(noon(TODAY + timedelta(days=day))):
            assert reminders.send_due(today=TODAY + timedelta(days=day)) == 0
    seven_before = TODAY + timedelta(days=23)
    with clock.frozen(noon(seven_before)):
        assert reminders.send_due(today=seven_before) == 1
        assert reminders.send_due(today=seven_before) == 0
    assert len(sent()) == 4
    kinds = db.session.scalars(select(RenewalReminder.kind).order_by(RenewalReminder.id)).all()
    assert kinds == ["d30", "d7"]


def test_the_email_links_from_base_url(app_ctx, world):
    subscription = annual(world.demo, 7)
    with clock.frozen(noon(TODAY)):
        reminders.send_due(today=TODAY)
    body = db.session.scalar(select(EmailDelivery.body_text).where(EmailDelivery.template == "renewal_reminder"))
    assert f"http://portal.test/licencas/{subscription.id}/renovacao" in body
    assert "http://portal.test/renovacoes" in body and "http://portal.test/conta" in body


def test_a_missed_day_is_caught_up_but_a_late_start_gets_only_the_seven_day_one(app_ctx, world):
    annual(world.demo, 25)  # its 30-day reminder is due (caught up)
    annual(world.demo, 5)  # its 30-day one never went; only the 7-day one goes now
    with clock.frozen(noon(TODAY)):
        assert reminders.send_due(today=TODAY) == 2
    assert sorted(db.session.scalars(select(RenewalReminder.kind))) == ["d30", "d7"]


def test_never_for_monthly_rollovers_nor_a_subscription_that_does_not_renew(app_ctx, world):
    monthly = factories.ProductFactory(term="monthly")
    start = TODAY - timedelta(days=3)
    factories.subscription(world.demo, product=monthly, added_at=noon(start), term_start=start)
    annual(world.demo, 7, renewal_quantity=0)  # cancelled at the term end
    with clock.frozen(noon(TODAY)):
        assert reminders.send_due(today=TODAY) == 0
    assert sent() == []


def test_who_turned_them_off_in_minha_conta_gets_none(app_ctx, world):
    world.adm.renewal_reminders = False
    db.session.commit()
    annual(world.demo, 30)
    with clock.frozen(noon(TODAY)):
        reminders.send_due(today=TODAY)
    assert [address for address, _subject in sent()] == [world.master.email]


def test_the_daily_job_sends_them(app_ctx, world):
    annual(world.demo, 7)
    with clock.frozen(noon(TODAY)):
        assert send_renewal_reminders.call_local() == 1
        assert send_renewal_reminders.call_local() == 0


def test_concurrent_runs_send_each_reminder_once(make_app, engine_name):
    app = make_app(engine_name)
    with app.app_context():
        organization = factories.OrganizationFactory()
        factories.MembershipFactory(organization=organization, roles=["master"])
        factories.MembershipFactory(organization=organization, roles=["adm"])
        with clock.frozen(noon(TODAY)):
            ids = [annual(organization, days).id for days in (30, 20, 6)]
        db.session.commit()
        db.session.remove()

    def run(_index):
        with app.app_context():
            try:
                return reminders.send_due(today=TODAY)
            finally:
                db.session.remove()

    with clock.frozen(noon(TODAY)):
        results, errors = concurrently(6, run)
    assert errors == []
    assert sum(results) == 3  # each subscription reminded by exactly one run
    with app.app_context():
        rows = db.session.execute(select(RenewalReminder.subscription_id, RenewalReminder.kind)).all()
        assert sorted(rows) == sorted([(ids[0], "d30"), (ids[1], "d30"), (ids[2], "d7")])
        mails = db.session.execute(select(EmailDelivery.to_address, func.count())
                                   .where(EmailDelivery.template == "renewal_reminder")
                                   .group_by(EmailDelivery.to_address)).all()
        assert len(mails) == 2 and all(count == 3 for _to, count in mails)  # 2 people × 3 subscriptions, once
        db.session.execute(delete(RenewalReminder))
        db.session.commit()
        db.session.remove()
