"""Purchase offers through the pages: comercial creates and sends, other staff read; customers open, accept, confirm.

The day is 2026-03-11 15:00 in São Paulo; Demo Tecnologia is billed on day 1.
"""

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.offers.models import OfferStatus, PurchaseOffer, PurchaseOfferView
from portal.shared import clock
from portal.shared.audit import AuditEvent, AuditTag
from portal.subscriptions.models import Order, Subscription, SubscriptionStatus
from tests import factories
from tests.agreements.routes import make_version
from tests.conftest import sign_in
from tests.html import follow, section, text, words
from tests.offers.routes import make_quote

pytestmark = pytest.mark.usefixtures("march")


@pytest.fixture
def person(app_ctx, world):
    """`person("master")` → a new test client signed in as that user (each person its own cookies)."""

    def make(who: str):
        return sign_in(app_ctx.test_client(), getattr(world, who))

    return make


def new_offer_form(catalog, world, **changes) -> dict:
    form = {
        "partner_office": "São Paulo (matriz)", "usage_location": "BR", "organization_id": str(world.demo.id),
        "delegated_admin": "y", "expires_on": "2026-04-10", "message": "Segue a oferta conversada.",
        f"qty-{catalog.standard.id}": "3", f"qty-{catalog.defender.id}": "5", f"qty-{catalog.vault.id}": "",
    }
    form.update(changes)
    return form


# ---------------------------------------------------------------- staff

def test_comercial_creates_and_sends_an_offer(person, world, catalog, outbox):
    staff = person("staff_comercial")
    page = staff.get("/backoffice/ofertas/nova")
    assert page.status_code == 200
    assert 'value="2026-04-10"' in text(page)  # today + PURCHASE_OFFER_DAYS (30)
    assert '<option selected value="BR">Brasil</option>' in text(page)
    response = staff.post("/backoffice/ofertas/nova", data=new_offer_form(catalog, world))
    offer = db.session.scalar(select(PurchaseOffer))
    assert response.headers["Location"] == f"/backoffice/ofertas/{offer.id}"
    assert "Oferta OF-2026-000001 criada como rascunho. Confira e envie ao cliente." in follow(staff, response)
    assert offer.status == OfferStatus.DRAFT and offer.delegated_admin and offer.organization_id == world.demo.id
    # In the catalog's order (family, then name), as the form lists them.
    assert [(i.product_id, i.quantity) for i in offer.items] == [(catalog.defender.id, 5), (catalog.standard.id, 3)]
    draft = staff.get(f"/backoffice/ofertas/{offer.id}")
    assert 'data-testid="offer-url"' not in text(draft) and "Rascunho: o link ainda não funciona." in text(draft)

    response = staff.post(f"/backoffice/ofertas/{offer.id}/enviar", data={"email_masters": "y"})
    assert follow(staff, response) == [
        f"Oferta enviada: o link já funciona e foi enviado por e-mail para {world.master.email}."]
    page = staff.get(f"/backoffice/ofertas/{offer.id}")
    url = f"http://portal.test/oferta/{offer.token}"  # BASE_URL, never the request's host
    assert f'value="{url}"' in text(page)
    copy = section(page, "offer-copy")
    assert "Oferta de compra OF-2026-000001" in copy and "Microsoft 365 Business Standard: 3 licenças" in copy
    assert "Válida até 10/04/2026." in copy and url in copy
    assert section(page, "offer-status") == "enviada"
    assert any(url in m.get_body(("plain",)).get_content() for m in outbox)


def test_bad_input_keeps_what_was_typed(person, world, catalog):
    staff = person("staff_comercial")
    response = staff.post("/backoffice/ofertas/nova", data=new_offer_form(
        catalog, world, **{f"qty-{catalog.standard.id}": "500",
                                                   f"qty-{catalog.defender.id}": "dez"}))
    assert response.status_code == 422
    body = text(response)
    assert "Microsoft 365 Business Standard: de 1 a 300 licenças." in body
    assert "Informe a quantidade em números inteiros." in body
    assert f'name="qty-{catalog.defender.id}" value="dez"' in body
    assert "Segue a oferta conversada." in body
    response = staff.post("/backoffice/ofertas/nova", data=new_offer_form(catalog, world, expires_on="2026-03-01"))
    assert response.status_code == 422 and "A validade não pode estar no passado." in text(response)
    response = staff.post("/backoffice/ofertas/nova", data=new_offer_form(
        catalog, world, **{f"qty-{catalog.standard.id}": "", f"qty-{catalog.defender.id}": ""}))
    assert response.status_code == 422
    assert "Escolha pelo menos um produto e a quantidade de licenças." in text(response)
    response = staff.post("/backoffice/ofertas/nova", data=new_offer_form(catalog, world, expires_on="amanhã"))
    assert response.status_code == 422
    assert db.session.scalar(select(func.count(PurchaseOffer.id))) == 0


def test_comercial_cancels_with_a_reason(person, world, catalog):
    offer = factories.offer(world.staff_comercial, world.demo, products=[catalog.standard])
    staff = person("staff_comercial")
    response = staff.post(f"/backoffice/ofertas/{offer.id}/cancelar", data={"reason": "curto"})
    assert response.status_code == 422 and "Explique o motivo com pelo menos 10 caracteres." in text(response)
    response = staff.post(f"/backoffice/ofertas/{offer.id}/cancelar", data={"reason": "O cliente desistiu agora."})
    assert follow(staff, response) == ["Oferta OF-2026-000001 cancelada: o link não funciona mais."]
    page = staff.get(f"/backoffice/ofertas/{offer.id}")
    assert "O cliente desistiu agora." in section(page, "offer-cancellation")
    response = staff.post(f"/backoffice/ofertas/{offer.id}/enviar")
    assert follow(staff, response) == ["Esta oferta foi cancelada e não pode ser enviada. Crie uma nova."]


@pytest.mark.parametrize("role", ["staff_financeiro", "staff_compliance", "staff_suporte"])
def test_other_staff_read_but_do_not_act(person, world, catalog, role):
    offer = factories.offer(world.staff_comercial, world.demo, products=[catalog.standard], status=OfferStatus.DRAFT)
    staff = person(role)
    listing = staff.get("/backoffice/ofertas")
    assert listing.status_code == 200 and "OF-2026-000001" in text(listing)
    assert "Nova oferta" not in text(listing)
    detail = staff.get(f"/backoffice/ofertas/{offer.id}")
    assert detail.status_code == 200 and 'data-testid="send-form"' not in text(detail)
    assert 'data-testid="cancel-form"' not in text(detail)
    assert staff.get("/backoffice/ofertas/nova").status_code == 403
    assert staff.post("/backoffice/ofertas/nova", data=new_offer_form(catalog, world)).status_code == 403
    assert staff.post(f"/backoffice/ofertas/{offer.id}/enviar").status_code == 403
    assert staff.post(f"/backoffice/ofertas/{offer.id}/cancelar", data={"reason": "Sem motivo algum."}
                      ).status_code == 403
    db.session.expire_all()
    assert offer.status == OfferStatus.DRAFT
    assert 'href="/backoffice/ofertas"' in text(listing)  # "Ofertas" in the navigation


def test_the_list_shows_state_products_who_opened_and_who_accepted(person, world, catalog):
    accepted = factories.offer(world.staff_comercial, world.demo, products=[catalog.standard, catalog.defender])
    factories.offer(world.staff_comercial, world.other, products=[catalog.vault], status=OfferStatus.DRAFT)
    customer = person("master")
    customer.get(f"/oferta/{accepted.token}")
    person("cobranca").get(f"/oferta/{accepted.token}")
    quote = make_quote(accepted, world.demo, world.master)
    customer.post(f"/oferta/{accepted.token}/orcamento/{quote.token}/confirmar")
    listing = person("staff_compliance").get("/backoffice/ofertas")
    rows = re.findall(r'<tr data-testid="offer-row" data-summary="([^"]+)">(.*?)</tr>', text(listing), re.S)
    assert [summary for summary, _row in rows] == ["OF-2026-000002", "OF-2026-000001"]
    first = words(rows[1][1])
    assert "aceita" in first and "2 licenças de Microsoft 365 Business Standard" in first
    assert "2 licenças de Defender for Business" in first
    assert "Master Demo · Demo Tecnologia · 11/03/2026 15:00" in first  # opened, and accepted
    assert "Cobranca Demo · Demo Tecnologia" in first
    assert "rascunho" in words(rows[0][1])
    filtered = person("staff_compliance").get("/backoffice/ofertas?situacao=aceita")
    assert re.findall(r'data-summary="([^"]+)"', text(filtered)) == ["OF-2026-000001"]


def test_the_staff_page_shows_the_accepted_quantity_next_to_the_offered_one(person, world, catalog):
    offer = factories.offer(world.staff_comercial, world.demo, products=[catalog.standard, catalog.defender],
                            quantities=[2, 4])
    staff = person("staff_comercial")
    before = staff.get(f"/backoffice/ofertas/{offer.id}")
    assert "Licenças aceitas" not in text(before) and 'data-testid="accepted-quantity"' not in text(before)
    customer = person("master")
    quote = make_quote(offer, world.demo, world.master, {catalog.standard.id: 5})
    assert customer.post(f"/oferta/{offer.token}/orcamento/{quote.token}/confirmar").status_code == 302
    page = staff.get(f"/backoffice/ofertas/{offer.id}")
    table = re.search(r'data-testid="offer-lines">(.*?)</table>', text(page), re.S).group(1)
    rows = re.findall(r"<tr><td>([^<]+)</td>(.*?)</tr>", table, re.S)
    quantities = {name: (re.search(r'data-testid="offered-quantity">(\d+)<', cells).group(1),
                         words(re.search(r'data-testid="accepted-quantity">(.*?)</td>', cells, re.S).group(1)))
                  for name, cells in rows}
    assert quantities == {"Microsoft 365 Business Standard": ("2", "5"), "Defender for Business": ("4", "4")}
    assert "Licenças oferecidas" in section(page, "offer-lines") and "Licenças aceitas" in section(page, "offer-lines")


# ---------------------------------------------------------------- the customer's link

def test_anonymous_visitors_are_asked_to_sign_in(app_ctx, world, catalog):
    offer = factories.offer(world.staff_comercial, world.demo, products=[catalog.standard])
    anonymous = app_ctx.test_client()
    page = anonymous.get(f"/oferta/{offer.token}")
    assert page.status_code == 200
    assert f'href="/entrar?next=/oferta/{offer.token}"' in text(page)
    assert "peça ao seu contato comercial que cadastre a sua empresa" in section(page, "offer-prospect").lower()
    assert "Microsoft 365" not in text(page)  # nothing of the offer before signing in
    assert anonymous.get("/oferta/" + "x" * 43).status_code == 404
    assert db.session.scalar(select(func.count(PurchaseOfferView.id))) == 0


def test_signing_in_comes_back_to_the_offer(app_ctx, world, catalog):
    offer = factories.offer(world.staff_comercial, world.demo, products=[catalog.standard])
    client = app_ctx.test_client()
    response = client.post(f"/entrar?next=/oferta/{offer.token}",
                           data={"email": world.master.email, "password": factories.PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == f"/oferta/{offer.token}"


def test_the_master_opens_changes_a_count_accepts_and_confirms(person, world, catalog):
    offer = factories.offer(world.staff_comercial, world.demo, products=[catalog.standard, catalog.vault],
                            quantities=[2, 1], delegated_admin=True, message="Condição especial até abril.")
    master = person("master")
    page = master.get(f"/oferta/{offer.token}")
    assert page.status_code == 200
    lines = section(page, "offer-lines")
    assert "Microsoft 365 Business Standard" in lines and "R$ 78,90 por licença/mês" in lines
    assert "Backup Cofre 1 TB" in lines and "de 1 a 10 licenças" in lines
    assert section(page, "offer-message") == "Condição especial até abril."
    assert "Aceito a administração delegada" in text(page)

    response = master.post(f"/oferta/{offer.token}/aceitar", data={
        f"qty-{catalog.standard.id}": "4", f"qty-{catalog.vault.id}": "1", "delegated_admin": "y"})
    assert response.status_code == 302
    location = response.headers["Location"]
    assert re.fullmatch(rf"/oferta/{offer.token}/orcamento/[0-9a-f]{{32}}\?adm=1", location)
    review = master.get(location)
    assert review.status_code == 200
    assert "4 licenças de Microsoft 365 Business Standard" in section(review, "checkout-lines")
    assert "R$ 213,79 agora" in section(review, "checkout-lines")  # 78,90 × 4 × 21/31 = 213,793
    assert section(review, "delegated-admin").endswith("aceita")

    confirm_url = re.search(r'action="([^"]+/confirmar)"', text(review)).group(1)
    response = master.post(confirm_url, data={"delegated_admin": "y"})
    assert response.headers["Location"] == "/licencas"
    assert "Oferta OF-2026-000001 aceita. Pedido registrado: os novos produtos serão provisionados em até 30 " \
           "minutos." in follow(master, response)
    db.session.expire_all()
    assert offer.status == OfferStatus.ACCEPTED and offer.delegated_admin_accepted is True
    bought = db.session.scalars(select(Subscription).where(Subscription.organization_id == world.demo.id)
                                .order_by(Subscription.id)).all()
    assert [(s.product_id, s.quantity) for s in bought] == [(catalog.standard.id, 4), (catalog.vault.id, 1)]
    # Provisioning ran (inline in tests): the Microsoft product is active, the own service awaits implantação.
    assert [s.status for s in bought] == [SubscriptionStatus.ACTIVE, SubscriptionStatus.PROVISIONING]
    assert db.session.scalar(select(func.count(Order.id)).where(Order.organization_id == world.demo.id)) == 2

    again = master.post(confirm_url, data={"delegated_admin": "y"})  # a double submission
    assert again.headers["Location"] == "/licencas"
    assert db.session.scalar(select(func.count(Order.id)).where(Order.organization_id == world.demo.id)) == 2
    assert len(db.session.scalars(select(AuditEvent).where(AuditEvent.tag == AuditTag.OFFER_ACCEPTED)).all()) == 1
    page = master.get(f"/oferta/{offer.token}")
    assert page.status_code == 200 and "Esta oferta foi aceita em 11/03/2026" in section(page, "offer-accepted")
    staff = person("staff_comercial").get(f"/backoffice/ofertas/{offer.id}")
    acceptance = section(staff, "offer-acceptance")
    assert "Master Demo" in acceptance and "Demo Tecnologia Ltda" in acceptance and "aceita" in acceptance


def test_cobranca_sees_the_offer_but_cannot_accept(person, world, catalog):
    offer = factories.offer(world.staff_comercial, world.demo, products=[catalog.standard])
    cobranca = person("cobranca")
    page = cobranca.get(f"/oferta/{offer.token}")
    assert page.status_code == 200 and "Microsoft 365 Business Standard" in section(page, "offer-lines")
    message = section(page, "offer-who-accepts")
    assert "Só um Master ou Adm de Demo Tecnologia pode aceitar esta oferta." in message
    assert "Adm Demo" in message and "Master Demo" in message
    assert "Aceitar oferta" not in text(page)
    assert cobranca.post(f"/oferta/{offer.token}/aceitar", data={f"qty-{catalog.standard.id}": "2"}
                         ).status_code == 403
    quote = make_quote(offer, world.demo, world.adm)
    assert cobranca.get(f"/oferta/{offer.token}/orcamento/{quote.token}").status_code == 403
    assert cobranca.post(f"/oferta/{offer.token}/orcamento/{quote.token}/confirmar").status_code == 403
    assert db.session.scalar(select(func.count(Order.id))) == 0


def test_another_organizations_offer_is_not_found(person, world, catalog):
    offer = factories.offer(world.staff_comercial, world.other, products=[catalog.standard])
    master = person("master")
    assert master.get(f"/oferta/{offer.token}").status_code == 404
    assert master.post(f"/oferta/{offer.token}/aceitar", data={f"qty-{catalog.standard.id}": "2"}
                       ).status_code == 404
    quote = make_quote(offer, world.other, world.other_master)
    assert master.get(f"/oferta/{offer.token}/orcamento/{quote.token}").status_code == 404
    assert master.post(f"/oferta/{offer.token}/orcamento/{quote.token}/confirmar").status_code == 404
    assert person("other_master").get(f"/oferta/{offer.token}").status_code == 200


def test_counts_outside_the_limits_come_back_with_a_message(person, world, catalog):
    offer = factories.offer(world.staff_comercial, world.demo, products=[catalog.standard])
    response = person("adm").post(f"/oferta/{offer.token}/aceitar", data={f"qty-{catalog.standard.id}": "301"})
    assert response.status_code == 422
    assert "Microsoft 365 Business Standard: de 1 a 300 licenças." in text(response)
    assert f'name="qty-{catalog.standard.id}" value="301"' in text(response)


def test_the_agreement_gate_tells_how_to_accept(person, world, catalog):
    make_version()
    offer = factories.offer(world.staff_comercial, world.demo, products=[catalog.standard])
    response = person("master").post(f"/oferta/{offer.token}/aceitar", data={f"qty-{catalog.standard.id}": "2"})
    assert response.status_code == 422
    assert "Abra “Contrato” no menu (/contrato), leia e marque “Li e aceito”." in section(response, "offer-problem")


@pytest.mark.parametrize(("status", "code", "message"), [
    (OfferStatus.CANCELLED, 410, "Esta oferta foi cancelada pela nossa equipe comercial"),
    (OfferStatus.DRAFT, 404, "Esta oferta ainda não foi liberada pela nossa equipe comercial."),
])
def test_cancelled_and_draft_offers_say_so(person, world, catalog, status, code, message):
    offer = factories.offer(world.staff_comercial, world.demo, products=[catalog.standard], status=status)
    page = person("master").get(f"/oferta/{offer.token}")
    assert page.status_code == code and message in section(page, "offer-unavailable")
    assert 'data-testid="offer-form"' not in text(page)


def test_an_expired_offer_is_gone(person, world, catalog):
    offer = factories.offer(world.staff_comercial, world.demo, products=[catalog.standard], days=1)
    master = person("master")
    quote = make_quote(offer, world.demo, world.master)
    clock.advance(timedelta(days=2))
    sign_in(master, world.master)  # a new session: the old one timed out meanwhile
    page = master.get(f"/oferta/{offer.token}")
    assert page.status_code == 410 and "venceu em 12/03/2026" in section(page, "offer-unavailable")
    response = master.post(f"/oferta/{offer.token}/orcamento/{quote.token}/confirmar")
    assert response.headers["Location"] == f"/oferta/{offer.token}"
    assert db.session.scalar(select(func.count(Order.id))) == 0


def test_staff_opening_the_link_land_on_the_backoffice_page(person, world, catalog):
    offer = factories.offer(world.staff_comercial, world.demo, products=[catalog.standard])
    response = person("staff_financeiro").get(f"/oferta/{offer.token}")
    assert response.status_code == 302 and response.headers["Location"] == f"/backoffice/ofertas/{offer.id}"
    assert db.session.scalar(select(func.count(PurchaseOfferView.id))) == 0


def test_configured_partner_offices_are_suggested(app_ctx, person, world, catalog):
    factories.offer(world.staff_comercial, world.demo, products=[catalog.standard])  # office "São Paulo (matriz)"
    app_ctx.config["PARTNER_OFFICES"] = "Campinas, Rio de Janeiro"
    try:
        page = person("staff_comercial").get("/backoffice/ofertas/nova")
    finally:
        del app_ctx.config["PARTNER_OFFICES"]
    body = text(page)
    assert re.search(r'<input[^>]*id="partner_office"[^>]*list="partner-offices"', body)
    assert re.search(r'<input[^>]*id="partner_office"[^>]*value="Campinas"', body)
    assert re.findall(r'<option value="([^"]+)"></option>', body) == ["Campinas", "Rio de Janeiro",
                                                                      "São Paulo (matriz)"]
