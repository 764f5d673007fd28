"""Purchase offers in the service: creating, numbering, sending, cancelling, expiring, opening and accepting.

Unless a test says otherwise, the day is 2026-03-11 15:00 in São Paulo and Demo Tecnologia is billed on day 1
(period 2026-03-01 → 2026-04-01, 31 days): 3 licenses at R$ 78,90 from the 11th cost 78,90 × 3 × 21/31.
"""

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.offers import service
from portal.offers.jobs import expire_offers
from portal.offers.models import OfferStatus, PurchaseOffer, PurchaseOfferView
from portal.shared import clock
from portal.shared.audit import Actor, AuditEvent, AuditTag, verify
from portal.shared.errors import NotFound, PermissionDenied, ServiceError
from portal.subscriptions.models import Order, OrderKind, QuoteStatus, Subscription, SubscriptionStatus
from tests import factories
from tests.agreements.routes import make_version
from tests.offers.routes import make_quote

pytestmark = pytest.mark.usefixtures("march")


def data(catalog, world=None, **changes) -> service.OfferData:
    fields = {
        "partner_office": "São Paulo (matriz)", "usage_location": "BR",
        "quantities": {catalog.standard.id: 3, catalog.defender.id: 5}, "delegated_admin": True,
        "expires_on": date(2026, 4, 10), "organization_id": world.demo.id if world else None,
        "message": "Olá! Segue a proposta conversada.",
    }
    fields.update(changes)
    return service.OfferData(**fields)


def audit(tag) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.tag == tag).order_by(AuditEvent.seq)))


def accept(offer, user, organization=None, quantities=None, delegated_admin=False):
    organization = organization or offer_org(offer)
    quote = make_quote(offer, organization, user, quantities)
    return service.accept_offer(token=offer.token, organization=organization, quote_token=quote.token,
                                delegated_admin=delegated_admin, actor=Actor.for_user(user)), quote


def offer_org(offer):
    from portal.accounts.models import Organization

    return db.session.get(Organization, offer.organization_id)


# ---------------------------------------------------------------- creating

def test_a_new_offer_is_a_draft_with_an_unguessable_token_and_a_summary_id(world, catalog, comercial):
    offer = service.create_offer(data(catalog, world), actor=comercial)
    assert offer.status == OfferStatus.DRAFT
    assert offer.summary_id == "OF-2026-000001"
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", offer.token)  # token_urlsafe(32): 256 random bits
    assert [(i.product_id, i.quantity) for i in offer.items] == [(catalog.standard.id, 3), (catalog.defender.id, 5)]
    assert offer.usage_location == "BR" and offer.delegated_admin and offer.organization_id == world.demo.id
    assert clock.to_business(offer.expires_at).date() == date(2026, 4, 10)  # valid through the end of that day
    assert clock.to_business(offer.expires_at).hour == 23
    [event] = audit(AuditTag.OFFER_CREATED)
    assert event.actor_id == world.staff_comercial.id and event.subject == f"offer:{offer.id}"
    assert event.after["items"] == [{"product_id": catalog.standard.id, "quantity": 3},
                                    {"product_id": catalog.defender.id, "quantity": 5}]


def test_summary_ids_are_unique_and_gapless_per_year_and_tokens_differ(world, catalog, comercial):
    offers = [service.create_offer(data(catalog), actor=comercial) for _ in range(3)]
    assert [o.summary_id for o in offers] == ["OF-2026-000001", "OF-2026-000002", "OF-2026-000003"]
    assert len({o.token for o in offers}) == 3
    with clock.frozen(clock.now().replace(year=2027, month=1, day=2)):
        next_year = service.create_offer(data(catalog, expires_on=date(2027, 1, 20)), actor=comercial)
    assert next_year.summary_id == "OF-2027-000001"


def test_a_summary_id_taken_meanwhile_is_skipped(world, catalog, comercial, monkeypatch):
    first = service.create_offer(data(catalog), actor=comercial)
    calls = []
    original = service._next_summary_id

    def stale_then_fresh(year):  # what a concurrent creation reads before the other one commits
        calls.append(year)
        return first.summary_id if len(calls) == 1 else original(year)

    monkeypatch.setattr(service, "_next_summary_id", stale_then_fresh)
    second = service.create_offer(data(catalog), actor=comercial)
    assert second.summary_id == "OF-2026-000002" and len(calls) == 2
    assert db.session.scalar(select(func.count(PurchaseOffer.id))) == 2


@pytest.mark.parametrize(("quantity", "message"), [
    (0, "Microsoft 365 Business Standard: de 1 a 300 licenças."),
    (301, "Microsoft 365 Business Standard: de 1 a 300 licenças."),
    ("três", "Informe a quantidade em números inteiros."),
])
def test_counts_outside_the_products_limits_are_refused(world, catalog, comercial, quantity, message):
    with pytest.raises(service.InvalidCounts) as refused:
        service.create_offer(data(catalog, quantities={catalog.standard.id: quantity, catalog.defender.id: 2}),
                             actor=comercial)
    assert refused.value.errors == {catalog.standard.id: message}
    assert db.session.scalar(select(func.count(PurchaseOffer.id))) == 0


def test_an_inactive_product_cannot_be_offered(world, catalog, comercial):
    catalog.defender.active = False
    db.session.commit()
    with pytest.raises(service.InvalidCounts) as refused:
        service.create_offer(data(catalog), actor=comercial)
    assert refused.value.errors == {catalog.defender.id: "Este produto não está mais à venda."}


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"expires_on": date(2026, 3, 10)}, "expires_on", "A validade não pode estar no passado."),
    ({"expires_on": None}, "expires_on", "Informe a data de validade."),
    ({"expires_on": date(2027, 6, 1)}, "expires_on", "A validade máxima é de 366 dias."),
    ({"quantities": {}}, "products", "Escolha pelo menos um produto e a quantidade de licenças."),
    ({"usage_location": "XX"}, "usage_location", "Escolha o país onde o cliente vai usar os serviços."),
    ({"partner_office": "  "}, "partner_office", "Informe o escritório do parceiro."),
    ({"organization_id": 2**31 - 1}, "organization_id", "Escolha uma organização da lista."),
])
def test_bad_input_is_refused_with_the_field(world, catalog, comercial, changes, field, message):
    with pytest.raises(ServiceError) as refused:
        service.create_offer(data(catalog, **changes), actor=comercial)
    assert (refused.value.field, refused.value.message) == (field, message)


def test_the_expiry_may_be_today(world, catalog, comercial):
    offer = service.create_offer(data(catalog, expires_on=clock.today()), actor=comercial)
    assert offer.expires_at > clock.now()


# ---------------------------------------------------------------- sending and cancelling

def test_sending_opens_the_link_and_may_email_the_masters(world, catalog, comercial, outbox):
    offer = service.create_offer(data(catalog, world), actor=comercial)
    emailed = service.send_offer(offer, actor=comercial, offer_url=factories.OFFER_URL + offer.token,
                                 email_masters=True)
    assert emailed == [world.master.email]
    db.session.expire_all()
    assert offer.status == OfferStatus.SENT and offer.sent_at == clock.now()
    [event] = audit(AuditTag.OFFER_SENT)
    assert event.after["emailed_to"] == [world.master.email] and event.before == {"status": "draft"}
    [mail] = [m for m in outbox if world.master.email in m["To"]]
    assert mail["Subject"] == "Oferta de compra OF-2026-000001 para Demo Tecnologia"
    body = mail.get_body(("plain",)).get_content()
    assert factories.OFFER_URL + offer.token in body and "3 licenças de Microsoft 365 Business Standard" in body
    assert "Olá! Segue a proposta conversada." in body


def test_sending_without_email_writes_to_nobody(world, catalog, comercial, outbox):
    offer = service.create_offer(data(catalog, world), actor=comercial)
    assert service.send_offer(offer, actor=comercial, offer_url=factories.OFFER_URL + offer.token) == []
    assert list(outbox) == []


def test_emailing_needs_a_target_organization(world, catalog, comercial):
    offer = service.create_offer(data(catalog), actor=comercial)
    with pytest.raises(ServiceError) as refused:
        service.send_offer(offer, actor=comercial, offer_url="x", email_masters=True)
    assert refused.value.field == "email_masters"
    db.session.expire_all()
    assert offer.status == OfferStatus.DRAFT


def test_a_cancelled_offer_cannot_be_sent(world, catalog, comercial):
    offer = service.create_offer(data(catalog, world), actor=comercial)
    service.cancel_offer(offer, reason="O cliente desistiu da compra.", actor=comercial)
    with pytest.raises(ServiceError, match="Esta oferta foi cancelada e não pode ser enviada"):
        service.send_offer(offer, actor=comercial, offer_url="x")
    assert len(audit(AuditTag.OFFER_SENT)) == 0


def test_an_offer_is_sent_once(world, catalog, comercial):
    offer = factories.offer(world.staff_comercial, world.demo, products=[catalog.standard])
    with pytest.raises(ServiceError, match="já foi enviada"):
        service.send_offer(offer, actor=comercial, offer_url="x")


def test_a_draft_past_its_validity_cannot_be_sent(world, catalog, comercial):
    offer = service.create_offer(data(catalog, expires_on=clock.today()), actor=comercial)
    clock.advance(timedelta(days=1))
    with pytest.raises(ServiceError, match="A validade desta oferta já passou"):
        service.send_offer(offer, actor=comercial, offer_url="x")


def test_cancelling_needs_a_reason_and_is_final(world, catalog, comercial):
    offer = factories.offer(world.staff_comercial, world.demo, products=[catalog.standard])
    with pytest.raises(ServiceError) as refused:
        service.cancel_offer(offer, reason="  curto ", actor=comercial)
    assert refused.value.field == "reason"
    service.cancel_offer(offer, reason="Preço renegociado: nova oferta a caminho.", actor=comercial)
    db.session.expire_all()
    assert offer.status == OfferStatus.CANCELLED and offer.cancelled_at == clock.now()
    [event] = audit(AuditTag.OFFER_CANCELLED)
    assert event.after["reason"] == "Preço renegociado: nova oferta a caminho." and event.before == {"status": "sent"}
    assert service.offer_detail(offer.id, now=clock.now()).cancel_reason == "Preço renegociado: nova oferta a caminho."
    with pytest.raises(ServiceError, match="Esta oferta está cancelada e não pode mais mudar."):
        service.cancel_offer(offer, reason="De novo, por engano aqui.", actor=comercial)


def test_an_accepted_offer_cannot_be_cancelled(world, catalog, comercial):
    offer = factories.offer(world.staff_comercial, world.demo, products=[catalog.standard])
    accept(offer, world.master)
    with pytest.raises(ServiceError, match="Esta oferta está aceita e não pode mais mudar."):
        service.cancel_offer(offer, reason="Tarde demais para isto.", actor=comercial)


# ---------------------------------------------------------------- expiry job

def test_the_daily_job_expires_offers_past_their_validity(world, catalog, comercial):
    due = factories.offer(world.staff_comercial, world.demo, products=[catalog.standard], days=1)
    draft = factories.offer(world.staff_comercial, world.demo, products=[catalog.standard], days=1,
                            status=OfferStatus.DRAFT)
    later = factories.offer(world.staff_comercial, world.demo, products=[catalog.standard], days=5)
    cancelled = factories.offer(world.staff_comercial, world.demo, products=[catalog.standard], days=1,
                                status=OfferStatus.CANCELLED)
    accepted = factories.offer(world.staff_comercial, world.demo, products=[catalog.standard], days=1)
    accept(accepted, world.master)
    clock.advance(timedelta(days=1))
    assert expire_offers.call_local() == 0  # 12/03 15:00: still valid through the end of the day
    clock.advance(timedelta(hours=9, minutes=10))  # 13/03 00:10 in São Paulo
    assert expire_offers.call_local() == 2
    db.session.expire_all()
    assert [o.status for o in (due, draft, later, cancelled, accepted)] == [
        OfferStatus.EXPIRED, OfferStatus.EXPIRED, OfferStatus.SENT, OfferStatus.CANCELLED, OfferStatus.ACCEPTED]
    events = audit(AuditTag.OFFER_EXPIRED)
    assert sorted(e.subject for e in events) == sorted([f"offer:{due.id}", f"offer:{draft.id}"])
    assert {e.actor_label for e in events} == {"system:offers"}
    assert expire_offers.call_local() == 0  # once
    assert verify().ok


# ---------------------------------------------------------------- the customer's link

def test_opening_records_one_view_per_user_and_day(world, catalog):
    offer = factories.offer(world.staff_comercial, world.demo, products=[catalog.standard])
    for _ in range(3):
        service.open_offer(offer.token, organization=world.demo, user=world.cobranca)
    service.open_offer(offer.token, organization=world.demo, user=world.master)
    clock.advance(timedelta(days=1))
    service.open_offer(offer.token, organization=world.demo, user=world.cobranca)
    views = db.session.scalars(select(PurchaseOfferView).order_by(PurchaseOfferView.id)).all()
    assert [(v.user_id, v.organization_id) for v in views] == [
        (world.cobranca.id, world.demo.id), (world.master.id, world.demo.id), (world.cobranca.id, world.demo.id)]
    [row] = service.list_offers(now=clock.now())
    assert [(o.user.id, o.times) for o in row.openings] == [(world.cobranca.id, 2), (world.master.id, 1)]


def test_what_the_viewer_may_do(world, catalog):
    offer = factories.offer(world.staff_comercial, world.demo, products=[catalog.standard])
    master = service.open_offer(offer.token, organization=world.demo, user=world.master)
    cobranca = service.open_offer(offer.token, organization=world.demo, user=world.cobranca)
    assert master.can_accept and not cobranca.can_accept and master.problem is None
    assert {u.id for u in cobranca.acceptors} == {world.master.id, world.adm.id}
    assert [(line.product.id, line.quantity, line.unit_price_cents) for line in master.lines] == [
        (catalog.standard.id, 2, 7890)]


def test_another_organizations_offer_and_a_bad_token_are_not_found(world, catalog):
    offer = factories.offer(world.staff_comercial, world.other, products=[catalog.standard])
    with pytest.raises(NotFound):
        service.open_offer(offer.token, organization=world.demo, user=world.master)
    for token in ("x" * 43, "", "../../etc", offer.token + "x" * 30, None):
        with pytest.raises(NotFound):
            service.open_offer(token, organization=world.demo, user=world.master)
    assert db.session.scalar(select(func.count(PurchaseOfferView.id))) == 0


def test_an_offer_for_any_customer_opens_for_every_organization(world, catalog):
    offer = factories.offer(world.staff_comercial, None, products=[catalog.standard])
    assert service.open_offer(offer.token, organization=world.other, user=world.other_master).problem is None


@pytest.mark.parametrize(("status", "reported", "message"), [
    (OfferStatus.DRAFT, OfferStatus.DRAFT, "ainda não foi liberada"),
    (OfferStatus.CANCELLED, OfferStatus.CANCELLED, "foi cancelada"),
])
def test_drafts_and_cancelled_offers_cannot_be_accepted(world, catalog, status, reported, message):
    offer = factories.offer(world.staff_comercial, world.demo, products=[catalog.standard], status=status)
    view = service.open_offer(offer.token, organization=world.demo, user=world.master)
    assert view.problem.status == reported and message in view.problem.message
    with pytest.raises(service.OfferUnavailable):
        make_quote(offer, world.demo, world.master)


# ---------------------------------------------------------------- accepting

def test_accepting_creates_the_orders_and_marks_the_offer_once(world, catalog, outbox):
    offer = factories.offer(world.staff_comercial, world.demo, products=[catalog.standard, catalog.vault],
                            quantities=[2, 1], delegated_admin=True)
    quote = make_quote(offer, world.demo, world.master, {catalog.standard.id: 3})
    assert [(line["product_id"], line["quantity"]) for line in quote.lines] == [
        (catalog.standard.id, 3), (catalog.vault.id, 1)]
    assert quote.charge_cents == 16035 + 13481  # 78,90 × 3 × 21/31 and 199,00 × 21/31
    actor = Actor.for_user(world.master, ip="203.0.113.7")
    first = service.accept_offer(token=offer.token, organization=world.demo, quote_token=quote.token,
                                 delegated_admin=True, actor=actor)
    second = service.accept_offer(token=offer.token, organization=world.demo, quote_token=quote.token,
                                  delegated_admin=False, actor=actor)
    assert first.applied and not second.applied
    assert [o.id for o in first.orders] == [o.id for o in second.orders]
    db.session.expire_all()
    assert offer.status == OfferStatus.ACCEPTED and offer.accepted_by_id == world.master.id
    assert offer.accepted_organization_id == world.demo.id and offer.quote_id == quote.id
    assert offer.delegated_admin_accepted is True and offer.accepted_at == clock.now()
    bought = db.session.scalars(select(Subscription).where(Subscription.organization_id == world.demo.id)
                                .order_by(Subscription.id)).all()
    assert [(s.product_id, s.quantity) for s in bought] == [(catalog.standard.id, 3), (catalog.vault.id, 1)]
    assert all(s.status in (SubscriptionStatus.PROVISIONING, SubscriptionStatus.ACTIVE) for s in bought)
    orders = db.session.scalars(select(Order).where(Order.organization_id == world.demo.id)).all()
    assert sorted((o.kind, o.quantity) for o in orders) == [(OrderKind.PURCHASE, 1), (OrderKind.PURCHASE, 3)]
    assert db.session.get(type(quote), quote.id).status == QuoteStatus.CONFIRMED
    [event] = audit(AuditTag.OFFER_ACCEPTED)
    assert event.actor_id == world.master.id and event.organization_id == world.demo.id
    assert event.after["delegated_admin_accepted"] is True and event.after["quote"] == quote.id
    assert sorted(event.after["orders"]) == sorted(o.id for o in orders)
    assert len(audit(AuditTag.QUOTE_CONFIRMED)) == 1
    assert any("Recebemos" in m["Subject"] or "Pedido" in m["Subject"] for m in outbox)
    [row] = service.list_offers(now=clock.now())
    assert row.accepted_by.id == world.master.id and row.status_label == "aceita"


def test_delegated_admin_is_recorded_only_when_offered(world, catalog):
    offer = factories.offer(world.staff_comercial, world.demo, products=[catalog.standard])
    accept(offer, world.adm, delegated_admin=True)
    db.session.expire_all()
    assert offer.delegated_admin_accepted is None and offer.accepted_by_id == world.adm.id


def test_a_second_quote_cannot_accept_an_accepted_offer(world, catalog):
    offer = factories.offer(world.staff_comercial, None, products=[catalog.standard])
    other_quote = make_quote(offer, world.other, world.other_master)
    accept(offer, world.master, world.demo)
    with pytest.raises(service.OfferUnavailable, match="já foi aceita"):
        service.accept_offer(token=offer.token, organization=world.other, quote_token=other_quote.token,
                             delegated_admin=False, actor=Actor.for_user(world.other_master))
    assert db.session.scalar(select(func.count(Order.id)).where(Order.organization_id == world.other.id)) == 0


def test_accepting_an_expired_offer_is_refused(world, catalog):
    offer = factories.offer(world.staff_comercial, world.demo, products=[catalog.standard], days=0)
    quote = make_quote(offer, world.demo, world.master)
    clock.advance(timedelta(hours=9))  # past midnight: the offer (and the quote) ended with the 11th
    with pytest.raises(service.OfferUnavailable) as refused:
        service.accept_offer(token=offer.token, organization=world.demo, quote_token=quote.token,
                             delegated_admin=False, actor=Actor.for_user(world.master))
    assert refused.value.status == OfferStatus.EXPIRED and "venceu em 11/03/2026" in refused.value.message
    assert db.session.scalar(select(func.count(Order.id))) == 0
    with pytest.raises(service.OfferUnavailable):
        make_quote(offer, world.demo, world.master)


def test_customer_counts_outside_the_limits_are_refused(world, catalog):
    offer = factories.offer(world.staff_comercial, world.demo, products=[catalog.standard, catalog.vault],
                            quantities=[2, 1])
    with pytest.raises(service.InvalidCounts) as refused:
        make_quote(offer, world.demo, world.master, {catalog.standard.id: 0, catalog.vault.id: 11})
    assert refused.value.errors == {catalog.standard.id: "Microsoft 365 Business Standard: de 1 a 300 licenças.",
                                    catalog.vault.id: "Backup Cofre 1 TB: de 1 a 10 licenças."}


def test_cobranca_cannot_accept(world, catalog):
    offer = factories.offer(world.staff_comercial, world.demo, products=[catalog.standard])
    with pytest.raises(PermissionDenied):
        make_quote(offer, world.demo, world.cobranca)
    quote = make_quote(offer, world.demo, world.adm)
    with pytest.raises(PermissionDenied):
        service.accept_offer(token=offer.token, organization=world.demo, quote_token=quote.token,
                             delegated_admin=False, actor=Actor.for_user(world.cobranca))
    db.session.expire_all()
    assert offer.status == OfferStatus.SENT


def test_the_agreement_gate_applies(world, catalog):
    make_version()
    offer = factories.offer(world.staff_comercial, world.demo, products=[catalog.standard])
    with pytest.raises(ServiceError, match="aceite antes “Contrato de Cliente Microsoft”"):
        make_quote(offer, world.demo, world.master)
    with pytest.raises(ServiceError, match="Quem pode aceitar: Master Demo"):
        make_quote(offer, world.demo, world.adm)


def test_a_quote_of_other_products_cannot_accept_the_offer(world, catalog):
    offer = factories.offer(world.staff_comercial, world.demo, products=[catalog.standard])
    other = factories.offer(world.staff_comercial, world.demo, products=[catalog.defender])
    quote = make_quote(other, world.demo, world.master)
    with pytest.raises(NotFound):
        service.accept_offer(token=offer.token, organization=world.demo, quote_token=quote.token,
                             delegated_admin=False, actor=Actor.for_user(world.master))


def test_a_product_withdrawn_after_the_offer_is_reported(world, catalog):
    offer = factories.offer(world.staff_comercial, world.demo, products=[catalog.standard, catalog.defender])
    catalog.defender.active = False
    db.session.commit()
    with pytest.raises(service.InvalidCounts) as refused:
        make_quote(offer, world.demo, world.master)
    assert refused.value.errors == {catalog.defender.id: "Este produto não está mais à venda."}


def test_only_offers_tokens_are_accepted(world, catalog):
    factories.ProductFactory()
    with pytest.raises(NotFound):
        service.accept_offer(token="nada", organization=world.demo, quote_token="0" * 32, delegated_admin=False,
                             actor=Actor.for_user(world.master))
