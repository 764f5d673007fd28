"""The one mechanism that zeroes a subscription: "Cancelar" and "Rescisão de contrato", withdrawal, closing.

Unless a test says otherwise, the day is 2026-03-11 15:00 UTC (12:00 in São Paulo), Demo Tecnologia is billed on
day 1 (period 2026-03-01 → 2026-04-01, N = 31) and a license costs R$ 78,90 a month. A subscription from
`factories.subscription` was bought 60 days earlier (2026-01-10): its term ends 2027-01-10 and its 168-hour
decrease window is closed.
"""

import inspect
import re
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

import portal
from portal.accounts.models import OrganizationStatus
from portal.accounts.throttle import TooManyAttempts
from portal.billing.models import CreditEntry
from portal.billing.run import invoice_organization
from portal.billing.settings import BillingSettings
from portal.cancellations import service as cancellations
from portal.cancellations.models import CancellationRequest, CancellationStatus
from portal.catalog import cart as carts
from portal.extensions import db
from portal.shared import clock
from portal.shared.audit import Actor, AuditEvent, AuditTag, verify
from portal.shared.errors import NotFound, PermissionDenied, ServiceError
from portal.shared.permissions import access_of
from portal.subscriptions import service
from portal.subscriptions.jobs import sweep_orders
from portal.subscriptions.models import (
    ChangeKind,
    Order,
    OrderEvent,
    OrderKind,
    OrderStatus,
    QuantityChange,
    Quote,
    Subscription,
    SubscriptionStatus,
)
from portal.subscriptions.service import StaleQuote
from tests import factories

MARCH_11 = datetime(2026, 3, 11, 15, 0, tzinfo=UTC)
TERM_END = date(2027, 1, 10)
REASON = "Vamos migrar toda a equipe para outro fornecedor."
IP = "203.0.113.7"


@pytest.fixture
def march(app_ctx, world):
    world.demo.billing_day = 1
    world.demo.microsoft_tenant_id = "tenant-demo"
    db.session.commit()
    with clock.frozen(MARCH_11):
        yield clock


# ---------------------------------------------------------------- steps

def actor_of(user) -> Actor:
    return Actor.for_user(user, ip=IP, user_agent="pytest")


def preview(world, subscription, who="adm", category="custo", reason=REASON, membership=None):
    return cancellations.preview_cancellation(
        organization=world.demo, subscription=subscription, actor=actor_of(getattr(world, who)),
        actor_membership=membership or getattr(world, f"{who}_membership"), category=category, reason=reason)


_WHO = object()  # "the person `who` names" (so a test can pass None itself)


def cancel(world, quote, who="adm", password=factories.PASSWORD, membership=_WHO, actor=_WHO):
    return cancellations.cancel(organization=world.demo, token=quote.token, password=password,
                                actor=actor_of(getattr(world, who)) if actor is _WHO else actor,
                                actor_membership=getattr(world, f"{who}_membership") if membership is _WHO
                                else membership)


def rescission_preview(world, who="adm", reason=REASON):
    return cancellations.preview_rescission(organization=world.demo, actor=actor_of(getattr(world, who)),
                                            actor_membership=getattr(world, f"{who}_membership"), reason=reason)


def rescind(world, who="adm", reason=REASON, password=factories.PASSWORD, fingerprint=None):
    fingerprint = fingerprint if fingerprint is not None else rescission_preview(world, who, reason).fingerprint
    return cancellations.rescind(organization=world.demo, reason=reason, fingerprint=fingerprint, password=password,
                                 actor=actor_of(getattr(world, who)),
                                 actor_membership=getattr(world, f"{who}_membership"))


def withdraw(world, who="master", password=factories.PASSWORD):
    return cancellations.withdraw_rescission(organization=world.demo, password=password,
                                             actor=actor_of(getattr(world, who)),
                                             actor_membership=getattr(world, f"{who}_membership"))


def requests() -> list[CancellationRequest]:
    return list(db.session.scalars(select(CancellationRequest).order_by(CancellationRequest.id)))


def events(tag: AuditTag) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.tag == tag).order_by(AuditEvent.seq)))


def orders_of(subscription) -> list[Order]:
    return list(db.session.scalars(select(Order).where(Order.subscription_id == subscription.id).order_by(Order.id)))


def ledger(subscription) -> list[tuple[str, int, int]]:
    rows = db.session.scalars(select(QuantityChange).where(QuantityChange.subscription_id == subscription.id)
                              .order_by(QuantityChange.id))
    return [(row.kind, row.delta, row.quantity_after) for row in rows]


def credits(organization) -> int:
    return db.session.scalar(select(func.coalesce(func.sum(CreditEntry.amount_cents), 0))
                             .where(CreditEntry.organization_id == organization.id))


def increase(world, subscription, quantity):
    quote = service.quote_quantity_change(organization=world.demo, subscription=subscription,
                                          new_quantity=quantity, actor=actor_of(world.adm))
    return service.confirm_quote(organization=world.demo, token=quote.token, actor=actor_of(world.adm))


def mails_to(outbox, address) -> list:
    return [m for m in outbox if m["To"] == address]


def body(message) -> str:
    return message.get_body(("plain",)).get_content()


# ---------------------------------------------------------------- "Cancelar"

def test_outside_the_window_every_license_ends_at_the_term_end(march, world, outbox):
    subscription = factories.subscription(world.demo, quantity=10)
    quote = preview(world, subscription, category="migracao_fornecedor")
    assert [(line["kind"], line["quantity"], line["effective_on"]) for line in quote.lines] == [
        ("scheduled", 10, "2027-01-10")]
    assert subscription.renewal_quantity is None  # the preview changes nothing
    [order] = cancel(world, quote)
    assert (subscription.quantity, subscription.renewal_quantity, subscription.status) == (10, 0, "active")
    assert (order.kind, order.quantity) == (OrderKind.RENEWAL_QUANTITY, 0)
    [request] = requests()
    assert (request.subscription_id, request.parent_id, request.is_rescission) == (subscription.id, None, False)
    assert (request.category, request.reason, request.requested_by_id) == ("migracao_fornecedor", REASON,
                                                                            world.adm.id)
    assert (request.requester_roles, request.ip, request.quote_id) == ("adm", IP, quote.id)
    assert (request.quantity_before, request.quantity_after, request.ends_on, request.credit_cents) == (
        10, 10, TERM_END, 0)
    assert request.status == CancellationStatus.APPLIED
    [event] = events(AuditTag.CANCELLATION_REQUESTED)
    assert event.after["reason"] == REASON and event.after["ends_on"] == "2027-01-10"
    assert event.before == {"quantity": 10, "renewal_quantity": None} and event.ip == IP
    assert ledger(subscription)[-1] == ("scheduled_decrease", -10, 10)


def test_inside_the_window_the_licenses_end_now_with_credit(march, world):
    subscription = factories.subscription(world.demo, quantity=4, added_at=MARCH_11 - timedelta(days=1))
    quote = preview(world, subscription, category="nao_utiliza")
    assert quote.credit_cents == 21379  # 78,90 × 4 × 21/31 = 213,7935…
    [order] = cancel(world, quote)
    assert (subscription.quantity, subscription.status) == (0, SubscriptionStatus.CANCELLED)
    assert (order.kind, order.quantity) == (OrderKind.QUANTITY_CHANGE, 0)
    [request] = requests()
    assert (request.quantity_before, request.quantity_after, request.ends_on, request.credit_cents) == (
        4, 0, date(2026, 3, 11), 21379)
    assert credits(world.demo) == 21379


def test_a_split_cancellation_ends_the_recent_lot_now_and_the_rest_at_the_term_end(march, world):
    subscription = factories.subscription(world.demo, quantity=10)
    increase(world, subscription, 13)  # E1: +3 on 03-11
    march.advance(timedelta(days=4))  # 03-15, 96 h later
    quote = preview(world, subscription)
    assert [(line["kind"], line["quantity"], line["amount_cents"]) for line in quote.lines] == [
        ("credit", 3, -12980), ("scheduled", 10, 0)]  # 78,90 × 3 × 17/31 = 129,8032…
    cancel(world, quote)
    assert (subscription.quantity, subscription.renewal_quantity) == (10, 0)
    request = requests()[-1]
    assert (request.quantity_before, request.quantity_after, request.ends_on, request.credit_cents) == (
        13, 10, TERM_END, 12980)


def test_the_requester_roles_are_kept_as_they_were(march, world):
    membership = factories.MembershipFactory(organization=world.demo, roles=["cobranca", "master"])
    subscription = factories.subscription(world.demo)
    quote = cancellations.preview_cancellation(
        organization=world.demo, subscription=subscription, actor=actor_of(membership.user),
        actor_membership=membership, category="custo", reason=REASON)
    cancellations.cancel(organization=world.demo, token=quote.token, password=factories.PASSWORD,
                         actor=actor_of(membership.user), actor_membership=membership)
    assert requests()[-1].requester_roles == "master,cobranca"


def test_masters_and_staff_are_told_with_the_reason_and_the_consequences(march, world, outbox):
    subscription = factories.subscription(world.demo, quantity=10)
    increase(world, subscription, 13)
    outbox.clear()
    cancel(world, preview(world, subscription, category="custo"))
    [to_master] = [m for m in mails_to(outbox, world.master.email) if m["Subject"].startswith("Cancelamento")]
    [to_staff] = mails_to(outbox, "equipe@portal.example.com")
    subject = f"Cancelamento de {subscription.product.name} — Demo Tecnologia"
    assert to_staff["Subject"] == to_master["Subject"] == subject
    for message in (to_master, to_staff):
        text = body(message)
        assert f"Motivo: Custo — {REASON}" in text
        assert f"Por: Adm Demo ({world.adm.email}), papel: Adm" in text
        assert "Em: 11/03/2026 12:00 (horário de Brasília) · IP 203.0.113.7" in text
        assert "3 licenças terminam agora, com crédito de R$ 160,35 para a organização" in text
        assert "10 licenças seguem em uso até 10/01/2027, quando a assinatura termina, sem crédito." in text
        assert "Licenças antes: 13; em uso agora: 10." in text
    assert "Equipe," in body(to_staff) and "Olá, Master Demo," in body(to_master)
    assert [m for m in mails_to(outbox, world.adm.email) if m["Subject"].startswith("Cancelamento")]  # a receipt
    assert not [m for m in outbox if m["To"] in (world.cobranca.email, world.suporte.email)]


def test_a_cancellation_already_scheduled_is_not_asked_again(march, world):
    subscription = factories.subscription(world.demo, quantity=10)
    cancel(world, preview(world, subscription))
    with pytest.raises(ServiceError, match="já está agendado para o fim do termo, em 10/01/2027"):
        preview(world, subscription)
    assert len(requests()) == 1


def test_the_reason_is_text_in_the_html_mail(march, world, outbox):
    subscription = factories.subscription(world.demo)
    cancel(world, preview(world, subscription, reason="<b>caro</b> & sem uso nenhum aqui"))
    [to_staff] = mails_to(outbox, "equipe@portal.example.com")
    page = to_staff.get_body(("html",)).get_content()
    assert "&lt;b&gt;caro&lt;/b&gt; &amp; sem uso nenhum aqui" in page and "<b>caro" not in page


def test_confirming_twice_gives_the_same_orders_and_one_request(march, world, outbox):
    subscription = factories.subscription(world.demo)
    quote = preview(world, subscription)
    first, second = cancel(world, quote), cancel(world, quote)
    assert [o.id for o in first] == [o.id for o in second]
    assert len(requests()) == 1
    assert len(mails_to(outbox, "equipe@portal.example.com")) == 1


# ---------------------------------------------------------------- refusals: no other path cancels

def test_confirm_quote_refuses_a_zero_quote(march, world):
    subscription = factories.subscription(world.demo)
    quote = preview(world, subscription)
    with pytest.raises(ServiceError, match="use “Cancelar”"):
        service.confirm_quote(organization=world.demo, token=quote.token, actor=actor_of(world.master))
    with pytest.raises(ServiceError, match="use “Cancelar”"):  # the private confirmation too, without a request
        service.confirm_quote_in_transaction(world.demo, quote, actor_of(world.master))
    assert (subscription.renewal_quantity, db.session.get(Quote, quote.id).status) == (None, "open")
    assert requests() == [] and orders_of(subscription) == []


@pytest.mark.parametrize("actor", [None, Actor.system("staff-tool"), Actor.anonymous(ip=IP)])
def test_without_a_person_nothing_is_cancelled(march, world, actor):
    subscription = factories.subscription(world.demo)
    quote = preview(world, subscription)
    with pytest.raises(PermissionDenied, match="pessoa identificada"):
        cancel(world, quote, actor=actor)
    with pytest.raises(PermissionDenied):
        cancellations.preview_cancellation(organization=world.demo, subscription=subscription, actor=actor,
                                           actor_membership=world.adm_membership, category="custo", reason=REASON)
    assert subscription.renewal_quantity is None and requests() == []


def test_without_the_permission_in_this_organization_nothing_is_cancelled(march, world):
    subscription = factories.subscription(world.demo)
    quote = preview(world, subscription)
    adm_elsewhere = factories.MembershipFactory(organization=world.other, user=world.cobranca, roles=["adm"])
    inactive = factories.MembershipFactory(organization=world.demo, roles=["adm"], active=False)
    refused = [
        ("cobranca", world.cobranca_membership),  # Cobrança may read licenses, not cancel them
        ("suporte", world.suporte_membership),
        ("cobranca", adm_elsewhere),  # Adm, but of another organization
        ("adm", world.master_membership),  # someone else's membership
        (None, inactive),
    ]
    for who, membership in refused:
        actor = actor_of(membership.user if who is None else getattr(world, who))
        with pytest.raises(PermissionDenied):
            cancel(world, quote, actor=actor, membership=membership)
        with pytest.raises(PermissionDenied):
            cancellations.preview_cancellation(organization=world.demo, subscription=subscription, actor=actor,
                                               actor_membership=membership, category="custo", reason=REASON)
    with pytest.raises(PermissionDenied):
        cancel(world, quote, actor=actor_of(world.adm), membership=None)
    assert subscription.renewal_quantity is None and requests() == []
    assert db.session.get(Quote, quote.id).status == "open"


def test_without_a_reason_nothing_is_cancelled(march, world):
    subscription = factories.subscription(world.demo)
    with pytest.raises(ServiceError) as missing:
        preview(world, subscription, category=None)
    assert missing.value.field == "category"
    with pytest.raises(ServiceError) as short:
        preview(world, subscription, reason="  caro demais  ")
    assert short.value.field == "reason"
    quote = preview(world, subscription)
    quote.cancellation_reason = "curto"  # a quote whose reason is not there (however it came to be)
    db.session.commit()
    with pytest.raises(ServiceError, match="20 caracteres"):
        cancel(world, quote)
    assert subscription.renewal_quantity is None and requests() == []


def test_a_wrong_password_changes_nothing_and_is_recorded(march, world, outbox):
    subscription = factories.subscription(world.demo, quantity=4, added_at=MARCH_11 - timedelta(days=1))
    quote = preview(world, subscription)
    for password in ("errada", "", None):
        with pytest.raises(ServiceError) as refused:
            cancel(world, quote, password=password)
        assert refused.value.field == "password" and refused.value.message == "Senha incorreta. Nada foi alterado."
    db.session.expire_all()
    assert (subscription.quantity, subscription.status, subscription.renewal_quantity) == (4, "active", None)
    assert db.session.get(Quote, quote.id).status == "open"
    assert requests() == [] and orders_of(subscription) == [] and credits(world.demo) == 0 and outbox == []
    refusals = events(AuditTag.CANCELLATION_PASSWORD_REFUSED)
    assert len(refusals) == 3 and refusals[0].subject == f"quote:{quote.id}" and refusals[0].actor_id == world.adm.id
    assert verify().ok


def test_the_password_typed_again_is_limited_like_a_sign_in(march, world, app_ctx, monkeypatch):
    """Issue 13 point 18: counted in the database (every worker together), per account; past the limit even the
    right password is not examined, and nothing changes."""
    monkeypatch.setitem(app_ctx.config, "LOGIN_ACCOUNT_RATE_LIMIT", "3 per minute")
    subscription = factories.subscription(world.demo, quantity=4, added_at=MARCH_11 - timedelta(days=1))
    quote = preview(world, subscription)
    for _ in range(3):
        with pytest.raises(ServiceError, match="Senha incorreta"):
            cancel(world, quote, password="errada")
    with pytest.raises(TooManyAttempts):
        cancel(world, quote)  # the right password, one attempt too many
    db.session.expire_all()
    assert db.session.get(Quote, quote.id).status == "open" and requests() == []
    assert len(events(AuditTag.CANCELLATION_PASSWORD_REFUSED)) == 3


def test_only_cancellation_quotes_of_this_organization_are_confirmed_here(march, world):
    subscription = factories.subscription(world.demo)
    increase_quote = service.quote_quantity_change(organization=world.demo, subscription=subscription,
                                                   new_quantity=11, actor=actor_of(world.adm))
    with pytest.raises(NotFound):
        cancel(world, increase_quote)
    theirs = factories.subscription(world.other)
    their_quote = service.quote_quantity_change(organization=world.other, subscription=theirs, new_quantity=0,
                                                actor=actor_of(world.other_master), category="custo", reason=REASON)
    with pytest.raises(NotFound):
        cancel(world, their_quote)
    with pytest.raises(NotFound):
        preview(world, theirs)
    assert theirs.renewal_quantity is None and requests() == []


def test_renewal_only_carries_out_what_a_request_scheduled(march, world):
    scheduled = factories.subscription(world.demo, quantity=10)
    cancel(world, preview(world, scheduled))
    unrecorded = factories.subscription(world.demo, quantity=7, renewal_quantity=0)  # zero with no request
    with clock.frozen(datetime(2027, 1, 10, 6, 0, tzinfo=UTC)):
        assert service.renew_due(today=TERM_END, actor=Actor.system("tests")) == 2
    assert (scheduled.quantity, scheduled.status) == (0, SubscriptionStatus.CANCELLED)
    assert (unrecorded.quantity, unrecorded.status, unrecorded.renewal_quantity) == (7, "active", None)
    [event] = [e for e in events(AuditTag.SUBSCRIPTION_RENEWED) if e.subject == f"subscription:{unrecorded.id}"]
    assert event.after["refused_zero_without_cancellation"] is True


# The functions that zero a subscription (or undo a rescission) and the record only they create. (The
# purchase-offer service also calls confirm_quote_in_transaction, for checkout quotes: without a
# `Cancellation` it refuses any zero quote, which the next test checks.)
PRIVATE_ZEROING = re.compile(r"(?<!def )(?<!class )\b(new_quote|withdraw_scheduled_end|Cancellation|"
                             r"CancellationRequest|_record_cancellation)\(")


def test_only_the_cancellations_service_reaches_the_zeroing_code(app):
    """A source check: the private functions that zero a subscription are called from two modules only."""
    root = Path(portal.__file__).parent
    callers = {str(path.relative_to(root)) for path in root.rglob("*.py")
               if PRIVATE_ZEROING.search(path.read_text(encoding="utf-8"))}
    assert callers == {"subscriptions/quotes.py", "cancellations/service.py"}
    writers = {str(path.relative_to(root)) for path in root.rglob("*.py")
               if re.search(r"(?<!class )\bCancellationRequest\(", path.read_text(encoding="utf-8"))}
    assert writers == {"cancellations/service.py"}  # the cancellation record is written by its own room only
    modules_calling_cancel = {
        str(path.relative_to(root)) for path in root.rglob("*.py")
        if re.search(r"cancellations\.(service\.)?(cancel|rescind|withdraw_rescission)\(", path.read_text("utf-8"))
        or re.search(r"\bservice\.(cancel|rescind|withdraw_rescission)\(", path.read_text("utf-8"))}
    assert modules_calling_cancel == {"cancellations/views.py"}


def test_no_staff_endpoint_reaches_the_cancellations_service(app):
    reaching, changing = set(), set()
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        module = sys.modules[inspect.unwrap(view).__module__]
        source = inspect.getsource(module)
        if "portal.cancellations import service" in source or "portal.cancellations.service" in source:
            reaching.add(rule.endpoint)
            # the customer's pages, and the REST API (a customer's token: portal/api/rest.py — quotes to zero with a
            # reason; their confirmation is refused there, the portal asks for the password)
            assert access_of(view).kind in {"customer", "api"}, rule.endpoint
        if "cancel" in rule.endpoint and rule.methods & {"POST", "PUT", "PATCH", "DELETE"}:
            changing.add(rule.endpoint)
    # backoffice.offer_cancel withdraws a purchase *offer* and backoffice.cancel_note an invoice's nota fiscal (no
    # subscription changes): they do not reach the cancellations service, which `reaching` checks above.
    assert changing == {"cancellations.cancel", "cancellations.confirm", "cancellations.rescission",
                        "cancellations.rescission_confirm", "cancellations.withdraw", "backoffice.offer_cancel",
                        "backoffice.cancel_note"}
    assert not {"backoffice.offer_cancel", "backoffice.cancel_note"} & reaching
    assert {e for e in reaching if not e.startswith(("cancellations.", "api."))} <= {"subscriptions.change",
                                                                          "subscriptions.preview",
                                                                          "subscriptions.confirm",
                                                                          "subscriptions.licenses",
                                                                          "subscriptions.detail",
                                                                          "subscriptions.order",
                                                                          "subscriptions.reference",
                                                                          "subscriptions.renewals",
                                                                          "subscriptions.next_term_change",
                                                                          "subscriptions.schedule_next_term",
                                                                          "subscriptions.withdraw_next_term",
                                                                          "subscriptions.not_renew"}


# ---------------------------------------------------------------- "Rescisão de contrato"

@pytest.fixture
def contract(march, world):
    """Three subscriptions: 10 old licenses; 5 old + 2 bought today (in their window); 6 old with 2 scheduled out."""
    plain = factories.subscription(world.demo, quantity=10)
    mixed = factories.subscription(world.demo, quantity=5)
    increase(world, mixed, 7)
    scheduled = factories.subscription(world.demo, quantity=6, term_start=date(2025, 6, 1))
    service.confirm_quote(organization=world.demo, actor=actor_of(world.adm), token=service.quote_quantity_change(
        organization=world.demo, subscription=scheduled, new_quantity=4, actor=actor_of(world.adm)).token)
    cancelled = factories.subscription(world.demo, quantity=0, status=SubscriptionStatus.CANCELLED)
    return plain, mixed, scheduled, cancelled


def test_the_rescission_preview_shows_every_subscription_and_changes_nothing(contract, world):
    plain, mixed, scheduled, _cancelled = contract
    found = rescission_preview(world)
    assert [(i.subscription.id, i.quantity, i.ends_on, i.renewal_quantity) for i in found.items] == [
        (plain.id, 10, TERM_END, None), (mixed.id, 7, TERM_END, None), (scheduled.id, 6, date(2026, 6, 1), 4)]
    assert [i.open_windows for i in found.items] == [[], [(2, MARCH_11 + timedelta(hours=168))], []]
    assert found.ends_on == TERM_END and found.reason == REASON
    assert requests() == [] and world.demo.status == OrganizationStatus.ACTIVE


def test_rescinding_schedules_every_subscription_to_its_term_end_and_holds_the_orders(contract, world, outbox):
    plain, mixed, scheduled, cancelled = contract
    outbox.clear()
    parent = rescind(world)
    assert world.demo.status == OrganizationStatus.RESCINDING
    assert (parent.subscription_id, parent.is_rescission, parent.category, parent.reason) == (
        None, True, "rescisao_contrato", REASON)
    assert (parent.requester_roles, parent.ip, parent.ends_on, parent.credit_cents) == ("adm", IP, TERM_END, 0)
    children = [r for r in requests() if r.parent_id == parent.id]
    assert [(c.subscription_id, c.quantity_before, c.quantity_after, c.ends_on, c.credit_cents) for c in children] == [
        (plain.id, 10, 10, TERM_END, 0), (mixed.id, 7, 7, TERM_END, 0), (scheduled.id, 6, 6, date(2026, 6, 1), 0)]
    assert all(c.is_rescission and c.reason == REASON and c.requester_roles == "adm" for c in children)
    for subscription in (plain, mixed, scheduled):
        assert subscription.renewal_quantity == 0 and subscription.status == "active"
    assert mixed.quantity == 7 and credits(world.demo) == 0  # nothing ends now: in-window licenses are not credited
    held = [o for s in (plain, mixed, scheduled) for o in orders_of(s) if o.quote_id in {c.quote_id for c in children}]
    assert [(o.kind, o.quantity, o.status, o.attempts) for o in held] == [(OrderKind.RENEWAL_QUANTITY, 0,
                                                                          OrderStatus.PENDING, 0)] * 3
    assert all(o.next_attempt_at == MARCH_11 + timedelta(minutes=60) for o in held)
    assert sweep_orders.call_local() == 0  # nothing is due: nothing reaches the provider during the grace period
    db.session.expire_all()
    assert all(o.status == OrderStatus.PENDING and o.attempts == 0 for o in held)
    assert cancelled.status == SubscriptionStatus.CANCELLED and not orders_of(cancelled)
    [event] = events(AuditTag.RESCISSION_REQUESTED)
    assert event.subject == f"cancellation:{parent.id}" and event.after["reason"] == REASON
    assert event.after["grace_until"] == (MARCH_11 + timedelta(minutes=60)).isoformat()
    assert len(events(AuditTag.CANCELLATION_REQUESTED)) == 3
    [to_master] = mails_to(outbox, world.master.email)
    [to_staff] = mails_to(outbox, "equipe@portal.example.com")
    for message in (to_master, to_staff):
        assert message["Subject"] == "Rescisão de contrato — Demo Tecnologia"
        text = body(message)
        assert f"Motivo: Rescisão de contrato — {REASON}" in text
        assert f"{plain.product.name}: 10 licenças seguem em uso até 10/01/2027" in text
        assert f"{scheduled.product.name}: 6 licenças seguem em uso até 01/06/2026" in text
        assert "a partir de 11/03/2026 13:00" in text
    clock.advance(timedelta(minutes=61))
    assert sweep_orders.call_local() == 3
    db.session.expire_all()
    assert all(o.status == OrderStatus.DONE for o in held)


def test_while_rescinding_only_cancellations_go_through(contract, world):
    plain, mixed, _scheduled, _cancelled = contract
    rescind(world)
    for quantity in (12, 8):
        with pytest.raises(ServiceError, match="em rescisão"):
            service.quote_quantity_change(organization=world.demo, subscription=plain, new_quantity=quantity,
                                          actor=actor_of(world.adm))
    product = factories.ProductFactory()
    carts.set_cart_quantity(organization=world.demo, user=world.adm, product_id=product.id, quantity=1)
    with pytest.raises(ServiceError, match="em rescisão"):
        service.quote_checkout(organization=world.demo, user=world.adm, actor=actor_of(world.adm))
    quote = preview(world, mixed)  # the 2 licenses in their window end now, with credit
    assert [(line["kind"], line["quantity"]) for line in quote.lines] == [("credit", 2), ("scheduled", 5)]
    cancel(world, quote)
    assert (mixed.quantity, mixed.renewal_quantity) == (5, 0)
    assert credits(world.demo) == 10690  # 78,90 × 2 × 21/31 charged today: all of it back


def test_rescission_refusals(contract, world):
    with pytest.raises(PermissionDenied):
        rescind(world, who="cobranca", fingerprint="x")
    with pytest.raises(ServiceError) as short:
        rescission_preview(world, reason="acabou")
    assert short.value.field == "reason"
    with pytest.raises(ServiceError) as wrong:
        rescind(world, password="errada")
    assert wrong.value.field == "password" and world.demo.status == OrganizationStatus.ACTIVE
    stale = rescission_preview(world).fingerprint
    factories.subscription(world.demo, quantity=3)  # a subscription the preview did not show
    with pytest.raises(StaleQuote, match="mudaram"):
        rescind(world, fingerprint=stale)
    assert requests() == [] and world.demo.status == OrganizationStatus.ACTIVE
    rescind(world)
    with pytest.raises(ServiceError, match="já está em rescisão"):
        rescission_preview(world)


def test_a_subscription_being_provisioned_holds_the_rescission(march, world):
    factories.subscription(world.demo, status=SubscriptionStatus.PROVISIONING)
    with pytest.raises(ServiceError, match="provisionamento"):
        rescission_preview(world)


# ---------------------------------------------------------------- withdrawal

def test_a_master_withdraws_within_the_grace_period_and_everything_is_as_before(contract, world, outbox):
    plain, mixed, scheduled, _cancelled = contract
    parent = rescind(world)
    held = [o for s in (plain, mixed, scheduled) for o in orders_of(s) if o.status == OrderStatus.PENDING]
    march_later = MARCH_11 + timedelta(minutes=59)
    outbox.clear()
    with clock.frozen(march_later):
        withdraw(world)
    assert world.demo.status == OrganizationStatus.ACTIVE
    assert [(s.quantity, s.renewal_quantity) for s in (plain, mixed, scheduled)] == [(10, None), (7, None), (6, 4)]
    assert ledger(plain)[-2:] == [("scheduled_decrease", -10, 10), ("schedule_withdrawn", 10, 10)]
    assert ledger(scheduled)[-1] == ("schedule_withdrawn", 4, 6)
    assert all(o.status == OrderStatus.WITHDRAWN and o.next_attempt_at is None for o in held)
    assert all(db.session.scalar(select(OrderEvent.message).where(OrderEvent.order_id == o.id)
                                 .order_by(OrderEvent.id.desc()).limit(1)).startswith("withdrawn") for o in held)
    for request in requests():
        assert (request.status, request.withdrawn_at, request.withdrawn_by_id) == (
            CancellationStatus.WITHDRAWN, march_later, world.master.id)
    [event] = events(AuditTag.RESCISSION_WITHDRAWN)
    assert event.subject == f"cancellation:{parent.id}" and event.actor_id == world.master.id
    assert event.after["renewal_quantity_restored"] == {str(plain.id): None, str(mixed.id): None,
                                                        str(scheduled.id): 4}
    [to_staff] = mails_to(outbox, "equipe@portal.example.com")
    assert to_staff["Subject"] == "Rescisão de contrato retirada — Demo Tecnologia"
    assert "Retirada por: Master Demo" in body(to_staff) and REASON in body(to_staff)
    with clock.frozen(MARCH_11 + timedelta(hours=2)):
        sweep_orders.call_local()
    db.session.expire_all()
    assert all(o.status == OrderStatus.WITHDRAWN and o.attempts == 0 for o in held)  # never sent
    service.quote_quantity_change(organization=world.demo, subscription=plain, new_quantity=12,
                                  actor=actor_of(world.adm))  # an ordinary contract again


def test_withdrawing_the_rescission_schedules_again_the_next_term_change_it_withdrew(contract, world):
    """A change scheduled in "Renovações" is withdrawn by the rescission's cancellation; withdrawing the rescission
    (nothing reached the provider, which still has the schedule) puts it back, as it was."""
    from portal.subscriptions import next_term
    from portal.subscriptions.models import NextTermChange, NextTermStatus

    plain = contract[0]
    next_term.new_change(plain, product=plain.product, quantity=7, actor=actor_of(world.adm), now=clock.now())
    plain.renewal_quantity = 7
    db.session.commit()
    rescind(world)
    assert next_term.current_change(plain) is None
    with clock.frozen(MARCH_11 + timedelta(minutes=30)):
        withdraw(world)
    again = next_term.current_change(plain)
    assert (again.product_id, again.quantity, again.term_end) == (plain.product_id, 7, plain.term_end)
    assert plain.renewal_quantity == 7
    statuses = list(db.session.scalars(select(NextTermChange.status).where(NextTermChange.subscription_id == plain.id)
                                       .order_by(NextTermChange.id)))
    assert statuses == [NextTermStatus.WITHDRAWN, NextTermStatus.SCHEDULED]  # the history stays


def test_after_the_grace_period_the_rescission_stays(contract, world):
    rescind(world)
    with clock.frozen(MARCH_11 + timedelta(minutes=60)), pytest.raises(ServiceError, match="prazo"):
        withdraw(world)
    assert world.demo.status == OrganizationStatus.RESCINDING
    assert all(r.status == CancellationStatus.APPLIED for r in requests())


def test_once_an_order_was_sent_the_rescission_stays(contract, world):
    plain = contract[0]
    rescind(world)
    [order] = [o for o in orders_of(plain) if o.status == OrderStatus.PENDING]
    order.attempts = 1  # the provider was asked (however early)
    db.session.commit()
    with pytest.raises(ServiceError, match="já foi enviada"):
        withdraw(world)
    assert plain.renewal_quantity == 0 and world.demo.status == OrganizationStatus.RESCINDING


def test_only_a_master_withdraws_with_the_password(contract, world):
    rescind(world)
    with pytest.raises(PermissionDenied, match="Só um Master"):
        withdraw(world, who="adm")
    with pytest.raises(ServiceError) as wrong:
        withdraw(world, password="errada")
    assert wrong.value.field == "password" and world.demo.status == OrganizationStatus.RESCINDING
    assert len(events(AuditTag.CANCELLATION_PASSWORD_REFUSED)) == 1


def test_a_license_cancelled_after_the_rescission_keeps_it(contract, world):
    mixed = contract[1]
    rescind(world)
    cancel(world, preview(world, mixed))
    with pytest.raises(ServiceError, match="alteradas depois"):
        withdraw(world)


# ---------------------------------------------------------------- closing

def test_the_daily_job_closes_a_rescinded_organization_once_nothing_is_left(march, world, app_ctx):
    plain = factories.subscription(world.demo, quantity=10)
    rescind(world)
    system = Actor.system("tests")
    assert cancellations.close_rescinded(today=date(2026, 3, 12), actor=system) == 0  # licenses still running
    with clock.frozen(datetime(2027, 1, 10, 6, 0, tzinfo=UTC)):
        service.renew_due(today=TERM_END, actor=system)
        assert plain.status == SubscriptionStatus.CANCELLED
        assert cancellations.close_rescinded(today=TERM_END, actor=system) == 1
    assert world.demo.status == OrganizationStatus.CLOSED
    [event] = events(AuditTag.ORGANIZATION_CLOSED)
    assert event.after == {"organization_status": "closed", "on": "2027-01-10",
                           "rescission": requests()[0].id}
    with pytest.raises(ServiceError, match="encerrado"):
        rescission_preview(world)


def test_closing_waits_for_the_last_invoice(march, world, app_ctx):
    subscription = factories.subscription(world.demo, quantity=2, added_at=MARCH_11 - timedelta(days=1))
    increase(world, subscription, 3)  # a pró-rata charge not yet invoiced
    rescind(world)
    cancel(world, preview(world, subscription))  # the 3 licenses in their window end now: all cancelled
    assert subscription.status == SubscriptionStatus.CANCELLED
    system = Actor.system("tests")
    assert cancellations.close_rescinded(today=date(2026, 3, 20), actor=system) == 0  # the charge is still to bill
    with clock.frozen(datetime(2026, 4, 1, 12, 0, tzinfo=UTC)):
        issued = invoice_organization(world.demo.id, on=date(2026, 4, 1),
                                      settings=BillingSettings.from_config(app_ctx.config), actor=system)
        assert issued.invoice is not None
        assert cancellations.close_rescinded(today=date(2026, 4, 1), actor=system) == 1
    db.session.expire_all()
    assert world.demo.status == OrganizationStatus.CLOSED
    assert db.session.scalar(select(func.count(Subscription.id)).where(
        Subscription.organization_id == world.demo.id, Subscription.status != "cancelled")) == 0
    assert ChangeKind.SCHEDULED_DECREASE in {row[0] for row in ledger(subscription)}
