"""Approvals: each rule below and above its threshold, a new family, the Master's own action, and the decisions
(approve — re-pricing a stale quote —, refuse, withdraw, expire), their e-mails and audit, and the one decision
under two Masters pressing at once (both engines)."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from portal.accounts.models import Organization, User
from portal.approvals import service as approvals
from portal.approvals.models import ApprovalRequest, ApprovalStatus
from portal.extensions import db
from portal.notifications.models import EmailDelivery
from portal.shared import clock
from portal.shared.audit import Actor, AuditEvent, AuditTag, verify
from portal.shared.errors import NotFound, ServiceError
from portal.subscriptions import service as subscriptions
from portal.subscriptions.checkout import new_checkout_quote
from portal.subscriptions.confirmation import AwaitingApproval
from portal.subscriptions.models import Order, QuoteStatus, Subscription
from tests import factories
from tests.fakes.concurrency import concurrently

NOW = datetime(2026, 3, 11, 15, 0, tzinfo=UTC)  # a Wednesday; the demo is billed on day 1 (period 01/03–31/03)


@pytest.fixture
def day(app_ctx, world):
    world.demo.billing_day = 1
    db.session.commit()
    with clock.frozen(NOW):
        yield clock


@pytest.fixture
def license_(day, world):
    """10 licences of a R$ 78,90 monthly product (each added licence: R$ 78,90 a month)."""
    found = factories.subscription(world.demo, quantity=10)
    db.session.commit()
    return found


def _rules(world, *, monthly=None, one_off=None, new_family=False):
    approvals.set_rules(world.demo, monthly_cents=monthly, one_off_cents=one_off, new_family=new_family,
                        actor=Actor.for_user(world.master))


def _increase(world, subscription, quantity, who="adm"):
    user = getattr(world, who)
    quote = subscriptions.quote_quantity_change(organization=world.demo, subscription=subscription,
                                                new_quantity=quantity, actor=Actor.for_user(user))
    return quote, lambda: subscriptions.confirm_quote(organization=world.demo, token=quote.token,
                                                      actor=Actor.for_user(user))


def _mails(template):
    return db.session.scalars(select(EmailDelivery).where(EmailDelivery.template == template)
                              .order_by(EmailDelivery.id)).all()


def _orders():
    return db.session.scalar(select(func.count(Order.id)))


def _tags():
    return [e.tag for e in db.session.scalars(select(AuditEvent).where(AuditEvent.tag.like("approvals:%"))
                                              .order_by(AuditEvent.seq))]


# ---------------------------------------------------------------- rules

def test_rules_are_saved_and_audited(day, world):
    assert not approvals.rules_of(world.demo.id).active
    _rules(world, monthly=30_000, new_family=True)
    rules = approvals.rules_of(world.demo.id)
    assert (rules.monthly_cents, rules.one_off_cents, rules.new_family) == (30_000, None, True)
    _rules(world, monthly=30_000, new_family=True)  # the same again: no second event
    assert _tags() == [AuditTag.APPROVAL_RULES_CHANGED]
    with pytest.raises(ServiceError) as refused:
        _rules(world, monthly=-1)
    assert refused.value.field == "monthly"


def test_below_the_monthly_threshold_the_increase_goes_through(license_, world):
    _rules(world, monthly=40_000)  # 5 × R$ 78,90 = R$ 394,50 a month: below
    _quote, confirm = _increase(world, license_, 15)
    assert len(confirm()) == 1
    assert db.session.scalar(select(func.count(ApprovalRequest.id))) == 0


def test_above_the_monthly_threshold_nothing_is_ordered_and_the_masters_are_told(license_, world, app_ctx):
    _rules(world, monthly=30_000)
    quote, confirm = _increase(world, license_, 15)
    with pytest.raises(AwaitingApproval) as waiting:
        confirm()
    request = waiting.value.request
    assert request.status == ApprovalStatus.WAITING and request.requested_by_id == world.adm.id
    assert request.reasons == [{"rule": "monthly", "limit_cents": 30_000, "value_cents": 39_450}]
    assert _orders() == 0
    assert db.session.get(Subscription, license_.id).quantity == 10
    assert db.session.get(type(quote), quote.id).status == QuoteStatus.OPEN
    mail, = _mails("approval_requested")
    assert mail.to_address == world.master.email
    assert approvals.approval_url(request) in mail.body_text
    assert approvals.approval_url(request) == f"{app_ctx.config['BASE_URL'].rstrip('/')}/aprovacoes/{request.id}"
    assert _tags() == [AuditTag.APPROVAL_RULES_CHANGED, AuditTag.APPROVAL_REQUESTED]
    with pytest.raises(AwaitingApproval) as again:  # pressing "Confirmar" again: the same request
        confirm()
    assert again.value.request.id == request.id
    assert db.session.scalar(select(func.count(ApprovalRequest.id))) == 1


def test_the_one_off_threshold_looks_at_the_pro_rata(license_, world):
    _rules(world, one_off=10_000)
    quote, confirm = _increase(world, license_, 12)  # 2 licences, 21 of 31 days: R$ 106,90 of pró-rata
    assert quote.charge_cents == 10_690
    with pytest.raises(AwaitingApproval) as waiting:
        confirm()
    assert waiting.value.request.reasons == [{"rule": "one_off", "limit_cents": 10_000, "value_cents": 10_690}]
    _quote, confirm_one = _increase(world, license_, 11)  # 1 licence: R$ 53,45, below
    assert len(confirm_one()) == 1


def test_a_decrease_never_waits(license_, world):
    _rules(world, monthly=0, one_off=0, new_family=True)
    _quote, confirm = _increase(world, license_, 9)
    confirm()
    assert db.session.scalar(select(func.count(ApprovalRequest.id))) == 0


def test_a_purchase_in_a_new_family_waits_one_in_a_held_family_does_not(license_, world):
    _rules(world, new_family=True)
    adm = Actor.for_user(world.adm)
    held = factories.ProductFactory(family=license_.product.family)
    same = new_checkout_quote(world.demo, [(held, 1)], adm)
    db.session.commit()
    assert len(subscriptions.confirm_quote(organization=world.demo, token=same.token, actor=adm)) == 1
    fresh = factories.ProductFactory(family=factories.ProductFamilyFactory(name="Dynamics 365"))
    new = new_checkout_quote(world.demo, [(fresh, 1)], adm)
    db.session.commit()
    with pytest.raises(AwaitingApproval) as waiting:
        subscriptions.confirm_quote(organization=world.demo, token=new.token, actor=adm)
    assert waiting.value.request.reasons == [{"rule": "new_family", "families": ["Dynamics 365"]}]


def test_a_masters_own_increase_needs_no_approval(license_, world):
    _rules(world, monthly=0)
    _quote, confirm = _increase(world, license_, 15, who="master")
    assert len(confirm()) == 1
    assert not approvals.requires_approval(world.demo, _quote, Actor.for_user(world.master))


# ---------------------------------------------------------------- decisions

@pytest.fixture
def waiting(license_, world):
    _rules(world, monthly=30_000)
    _quote, confirm = _increase(world, license_, 15)
    with pytest.raises(AwaitingApproval) as held:
        confirm()
    return held.value.request


def test_approving_confirms_the_quote_as_the_adms_confirmation_would(waiting, world, license_):
    decision = approvals.approve(organization=world.demo, request_id=waiting.id, actor=Actor.for_user(world.master),
                                 comment="Ok, orçamento previsto.")
    assert not decision.repriced and len(decision.orders) == 1
    assert db.session.get(Subscription, license_.id).quantity == 15
    request = db.session.get(ApprovalRequest, waiting.id)
    assert (request.status, request.decided_by_id, request.comment) == (ApprovalStatus.APPROVED, world.master.id,
                                                                        "Ok, orçamento previsto.")
    assert world.adm.email in {m.to_address for m in _mails("order_received")}
    assert AuditTag.APPROVAL_APPROVED in _tags()
    assert db.session.scalar(select(func.count(AuditEvent.seq)).where(AuditEvent.tag == AuditTag.QUOTE_CONFIRMED)) == 1
    with pytest.raises(approvals.AlreadyDecided):  # decided once
        approvals.approve(organization=world.demo, request_id=waiting.id, actor=Actor.for_user(world.master))
    assert verify().ok


def test_only_a_master_decides(waiting, world):
    with pytest.raises(ServiceError):
        approvals.approve(organization=world.demo, request_id=waiting.id, actor=Actor.for_user(world.adm))
    assert _orders() == 0


def test_a_stale_quote_is_repriced_and_shown_before_it_is_confirmed(waiting, world, license_):
    old_charge, old_quote = waiting.quote.charge_cents, waiting.quote  # 5 licences, 21 of 31 days
    with clock.frozen(NOW + timedelta(days=2)):  # the quote expired; 19 days left in the period
        decision = approvals.approve(organization=world.demo, request_id=waiting.id,
                                     actor=Actor.for_user(world.master))
        assert decision.repriced and decision.orders == [] and _orders() == 0
        request = db.session.get(ApprovalRequest, waiting.id)
        assert request.status == ApprovalStatus.WAITING and request.repriced_at is not None
        assert request.quote.charge_cents < old_charge
        assert request.quote.charge_cents == 5 * 7890 * 19 // 31 + (1 if (5 * 7890 * 19 % 31) * 2 >= 31 else 0)
        assert request.quote.created_by_id == world.adm.id
        # The Adm's own (expired) quote still finds its request: no second one.
        assert approvals.waiting_for(world.demo, old_quote).id == waiting.id
        final = approvals.approve(organization=world.demo, request_id=waiting.id, actor=Actor.for_user(world.master))
    assert not final.repriced and len(final.orders) == 1
    assert db.session.get(Subscription, license_.id).quantity == 15


def test_refusing_needs_a_comment_and_tells_the_requester(waiting, world):
    master = Actor.for_user(world.master)
    with pytest.raises(ServiceError) as empty:
        approvals.refuse(organization=world.demo, request_id=waiting.id, actor=master, comment="  ")
    assert empty.value.field == "comment"
    approvals.refuse(organization=world.demo, request_id=waiting.id, actor=master, comment="Fora do orçamento.")
    assert db.session.get(ApprovalRequest, waiting.id).status == ApprovalStatus.REFUSED
    mail, = _mails("approval_closed")
    assert mail.to_address == world.adm.email and "Fora do orçamento." in mail.body_text
    assert _tags()[-1] == AuditTag.APPROVAL_REFUSED
    assert _orders() == 0
    with pytest.raises(approvals.AlreadyDecided):
        approvals.approve(organization=world.demo, request_id=waiting.id, actor=master)
    with pytest.raises(ServiceError) as again:  # the Adm confirms the refused quote again: refused, nothing made
        subscriptions.confirm_quote(organization=world.demo, token=waiting.quote.token,
                                    actor=Actor.for_user(world.adm))
    assert not isinstance(again.value, AwaitingApproval) and "já passou por aprovação (recusada)" in again.value.message
    assert _orders() == 0 and db.session.scalar(select(func.count(ApprovalRequest.id))) == 1


def test_only_the_requester_withdraws(waiting, world):
    with pytest.raises(ServiceError):
        approvals.withdraw(organization=world.demo, request_id=waiting.id, actor=Actor.for_user(world.master))
    approvals.withdraw(organization=world.demo, request_id=waiting.id, actor=Actor.for_user(world.adm))
    assert db.session.get(ApprovalRequest, waiting.id).status == ApprovalStatus.WITHDRAWN
    assert _tags()[-1] == AuditTag.APPROVAL_WITHDRAWN


def test_an_undecided_request_expires_after_the_setting_s_days(waiting, world, app_ctx):
    assert waiting.expires_at == NOW + timedelta(days=app_ctx.config["APPROVAL_EXPIRY_DAYS"])
    assert approvals.expire_due(NOW + timedelta(days=6)) == 0
    assert approvals.expire_due(NOW + timedelta(days=7)) == 1
    assert approvals.expire_due(NOW + timedelta(days=8)) == 0  # once
    assert db.session.get(ApprovalRequest, waiting.id).status == ApprovalStatus.EXPIRED
    mail, = _mails("approval_closed")
    assert mail.to_address == world.adm.email and "expirou" in mail.body_text
    assert _tags()[-1] == AuditTag.APPROVAL_EXPIRED


def test_another_organizations_request_is_not_found(waiting, world):
    with pytest.raises(NotFound):
        approvals.get_request(world.other, waiting.id)
    with pytest.raises(NotFound):
        approvals.approve(organization=world.other, request_id=waiting.id, actor=Actor.for_user(world.other_master))


# ---------------------------------------------------------------- races (committed transactions, both engines)

def test_two_masters_pressing_at_once_decide_once(make_app, engine_name):
    app = make_app(engine_name)
    with app.app_context(), clock.frozen(NOW):
        organization = factories.OrganizationFactory(billing_day=1)
        masters = [factories.MembershipFactory(organization=organization, roles=["master"]).user for _ in range(2)]
        adm = factories.MembershipFactory(organization=organization, roles=["adm"]).user
        subscription = factories.subscription(organization, quantity=10)
        db.session.commit()
        approvals.set_rules(organization, monthly_cents=0, one_off_cents=None, new_family=False,
                            actor=Actor.for_user(masters[0]))
        quote = subscriptions.quote_quantity_change(organization=organization, subscription=subscription,
                                                    new_quantity=12, actor=Actor.for_user(adm))
        with pytest.raises(AwaitingApproval) as held:
            subscriptions.confirm_quote(organization=organization, token=quote.token, actor=Actor.for_user(adm))
        ids = (organization.id, [m.id for m in masters], held.value.request.id)

    def press(index):  # the clock is one global: frozen once around both threads, never per thread
        with app.app_context():
            organization = db.session.get(Organization, ids[0])
            actor = Actor.for_user(db.session.get(User, ids[1][index]))
            if index == 0:
                return approvals.approve(organization=organization, request_id=ids[2], actor=actor).request.status
            return approvals.refuse(organization=organization, request_id=ids[2], actor=actor, comment="Não").status

    with clock.frozen(NOW):
        results, errors = concurrently(2, press)
    assert len(results) == 1 and len(errors) == 1, (results, errors)
    assert isinstance(errors[0], approvals.AlreadyDecided), errors
    with app.app_context():
        status = db.session.scalar(select(ApprovalRequest.status))
        assert status == results[0]
        assert db.session.scalar(select(func.count(Order.id))) == (1 if status == ApprovalStatus.APPROVED else 0)
        decided = db.session.scalar(select(func.count(AuditEvent.seq)).where(
            AuditEvent.tag.in_([AuditTag.APPROVAL_APPROVED, AuditTag.APPROVAL_REFUSED])))
        assert decided == 1
        assert verify().ok
