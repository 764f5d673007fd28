""""Adicionar novos produtos" as a customer uses it: browse, filter, search, cart, review and confirm.

Unless a test says otherwise, the day is 2026-03-11 15:00 in São Paulo, Demo Tecnologia is billed on day 1
(period 2026-03-01 → 2026-04-01, 31 days) and Microsoft 365 Business Standard costs R$ 78,90 a month.
"""

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.catalog import cart as carts
from portal.catalog import service
from portal.catalog.models import CartItem, ProductPrice
from portal.extensions import db
from portal.shared import clock
from portal.shared.audit import Actor, AuditEvent, AuditTag
from portal.subscriptions import service as subscriptions
from portal.subscriptions.models import Order, OrderKind, Subscription, SubscriptionStatus
from tests import factories
from tests.conftest import sign_in
from tests.html import alerts, field_errors, follow, input_value, section, section_html, text, words
from tests.test_query_budget import counting

DONE_FLASH = "Pedido registrado. Os novos produtos serão provisionados em até 30 minutos."


# ---------------------------------------------------------------- steps

def cards(response) -> list[str]:
    """SKUs of the product cards shown, in order."""
    return re.findall(r'data-testid="product-card" data-sku="([^"]+)"', text(response))


def browse(client, **query):
    return client.get("/produtos", query_string=query)


def add(client, product, quantity, next_url=None):
    data = {"product_id": str(getattr(product, "id", product)), "quantity": str(quantity)}
    if next_url is not None:
        data["next"] = next_url
    return client.post("/carrinho/adicionar", data=data)


def set_quantity(client, product, quantity):
    return client.post(f"/carrinho/{product.id}", data={"quantity": str(quantity)})


def cart_lines(client) -> dict[str, int]:
    """Product name → quantity, as the cart page shows them."""
    body = text(client.get("/carrinho"))
    lines = {}
    for row in re.findall(r'<tr data-testid="cart-line"[^>]*>(.*?)</tr>', body, re.S):
        name = words(re.search(r"<td>(.*?)<div", row, re.S).group(1))
        quantity = re.search(r'name="quantity" type="number"[^>]*value="(\d+)"', row, re.S)
        lines[name] = int(quantity.group(1)) if quantity else None
    return lines


def review(client):
    return client.post("/carrinho/revisar")


def token_of(response) -> str:
    assert response.status_code == 302, text(response)
    found = re.fullmatch(r"/carrinho/orcamento/(\w+)", response.headers["Location"])
    assert found, response.headers["Location"]
    return found.group(1)


def confirm(client, token):
    return client.post(f"/carrinho/orcamento/{token}/confirmar")


@pytest.fixture
def adm(march, login_as):
    return login_as("adm")


# ---------------------------------------------------------------- browsing

def test_the_catalog_shows_cards_with_family_provider_term_and_price(adm, catalog):
    response = browse(adm)
    assert response.status_code == 200
    assert cards(response) == ["M365-BB", "M365-BS", "M365-E3-A", "DEF-B", "BKP-1TB"]
    card = section(response, "products")
    assert "Microsoft 365 · Microsoft CSP Microsoft 365 Business Standard" in card
    assert "anual: compromisso de 12 meses; reduções só nos primeiros 7 dias · cobrança mensal" in card
    assert "R$ 78,90 por licença/mês" in card and "R$ 946,80 por licença/ano" in card
    assert "Backup em Nuvem · Serviço próprio Backup Cofre 1 TB" in card
    assert "mensal: compromisso de 1 mês; serviço próprio: reduções no fim do termo" in card
    assert section(response, "result-count") == "5 produtos encontrados"


def test_the_family_filter_lists_active_families_and_narrows_the_cards(adm, catalog):
    catalog.backup.active = False
    db.session.commit()
    everything = browse(adm)
    options = re.findall(r'<option value="(\d*)"[^>]*>([^<]+)</option>', section_html(everything, "catalog-filter"))
    assert [name for _value, name in options] == ["Todas", "Microsoft 365", "Segurança"]
    response = browse(adm, familia=catalog.security.id)
    assert cards(response) == ["DEF-B"]
    assert f'<option value="{catalog.security.id}" selected>' in text(response)


def test_search_by_name_sku_or_description_ignoring_case_and_accents(adm, catalog):
    assert cards(browse(adm, q="DEFENDER")) == ["DEF-B"]
    assert cards(browse(adm, q="bkp-1tb")) == ["BKP-1TB"]
    assert cards(browse(adm, q="protecao")) == ["DEF-B"]
    assert cards(browse(adm, q="business", familia=catalog.m365.id)) == ["M365-BB", "M365-BS"]
    response = browse(adm, q="nada disso")
    assert cards(response) == [] and "Nenhum produto encontrado" in section(response, "no-products")
    assert input_value(response, "q") == "nada disso"  # the search stays in the box


@pytest.mark.parametrize("familia", ["abc", "999999", "0", "-1", "99999999999999999999", "1.5", "<script>"])
def test_a_bad_family_filter_says_so_and_never_fails(adm, catalog, familia):
    response = browse(adm, familia=familia)
    assert response.status_code == 200
    assert cards(response) == []
    assert section(response, "filter-problem").startswith("Família de produtos não encontrada")
    assert "<script>" not in text(response)


@pytest.mark.parametrize("pagina", ["abc", "-5", "0", "999999999999"])
def test_bad_page_numbers_are_harmless(adm, catalog, pagina):
    assert browse(adm, pagina=pagina).status_code == 200


def test_more_than_24_products_are_paginated(adm, catalog):
    family = factories.ProductFamilyFactory(name="Muitos", position=9)
    for n in range(25):
        factories.ProductFactory(name=f"Item {n:02d}", sku=f"ITEM-{n:02d}", family=family)
    first = browse(adm, familia=family.id, q="item")
    assert len(cards(first)) == 24
    assert f"/produtos?pagina=2&amp;familia={family.id}&amp;q=item" in text(first)
    assert cards(browse(adm, familia=family.id, q="item", pagina=2)) == ["ITEM-24"]


def test_without_a_search_the_pages_come_from_the_database_with_the_same_count_and_order(adm, catalog):
    # Without words to match, only the page's products are read (LIMIT/OFFSET, the total beside them).
    family = factories.ProductFamilyFactory(name="Muitos", position=9)
    for n in range(25):
        factories.ProductFactory(name=f"Item {n:02d}", sku=f"ITEM-{n:02d}", family=family)
    first, second = browse(adm, familia=family.id), browse(adm, familia=family.id, pagina=2)
    assert cards(first) == [f"ITEM-{n:02d}" for n in range(24)] and cards(second) == ["ITEM-24"]
    assert f"/produtos?pagina=2&amp;familia={family.id}" in text(first)
    assert "/produtos?pagina=3" not in text(second)
    for response in (first, second, browse(adm, familia=family.id, pagina=7)):  # past the last page: none, same total
        assert section(response, "result-count") == "25 produtos encontrados"
    assert cards(browse(adm, familia=family.id, pagina=7)) == []
    assert cards(browse(adm, familia=family.id, q="item")) == cards(first)  # as the search (in Python) orders them


def test_products_without_a_price_today_or_inactive_are_not_shown(adm, catalog):
    factories.ProductFactory(sku="NO-PRICE", family=catalog.m365, price=False)
    later = factories.ProductFactory(sku="LATER", family=catalog.m365, price=False)
    db.session.add(ProductPrice(product=later, unit_price_cents=1000, effective_from=clock.today() + timedelta(days=1)))
    catalog.basic.active = False
    db.session.commit()
    assert cards(browse(adm)) == ["M365-BS", "M365-E3-A", "DEF-B", "BKP-1TB"]


# ---------------------------------------------------------------- product detail

def test_product_detail_explains_the_term(adm, catalog):
    response = adm.get(f"/produtos/{catalog.standard.id}")
    assert response.status_code == 200
    facts = section(response, "product-facts")
    assert "R$ 78,90 por licença/mês" in facts
    assert "anual: compromisso de 12 meses; reduções só nos primeiros 7 dias" in section(response, "term-meaning")
    assert "de 1 a 300 licenças" in facts
    assert section(response, "description") == "E-mail, Teams e Office para empresas"
    assert input_value(response, "quantity") == "1"


def test_own_service_detail_says_decreases_wait_for_the_end_of_the_term(adm, catalog):
    response = adm.get(f"/produtos/{catalog.vault.id}")
    assert "mensal: compromisso de 1 mês; serviço próprio: reduções no fim do termo" in section(response,
                                                                                               "term-meaning")


def test_annual_billing_detail_shows_the_monthly_equivalent(adm, catalog):
    facts = section(adm.get(f"/produtos/{catalog.annual.id}"), "product-facts")
    assert "R$ 946,80 por licença/ano" in facts and "equivale a R$ 78,90 por mês" in facts


def test_a_product_not_for_sale_is_404(adm, catalog):
    catalog.defender.active = False
    unpriced = factories.ProductFactory(family=catalog.m365, price=False)
    db.session.commit()
    for product_id in (catalog.defender.id, unpriced.id, 999_999, 2**40):
        assert adm.get(f"/produtos/{product_id}").status_code == 404


# ---------------------------------------------------------------- cart

def test_add_to_cart_goes_back_with_a_message(adm, catalog):
    response = add(adm, catalog.standard, 3, next_url="/produtos?familia=1")
    assert response.status_code == 302 and response.headers["Location"] == "/produtos?familia=1"
    assert "3 licenças de Microsoft 365 Business Standard adicionadas ao carrinho." in follow(adm, response)
    response = add(adm, catalog.standard, 2)
    assert response.headers["Location"] == f"/produtos/{catalog.standard.id}"
    assert cart_lines(adm) == {"Microsoft 365 Business Standard": 5}


@pytest.mark.parametrize("next_url", ["https://evil.example.com/", "//evil.example.com", "/\\evil.example.com"])
def test_add_to_cart_never_goes_back_to_another_site(adm, catalog, next_url):
    response = add(adm, catalog.standard, 1, next_url=next_url)
    assert response.headers["Location"] == f"/produtos/{catalog.standard.id}"


@pytest.mark.parametrize(("quantity", "message"), [
    ("abc", "O valor inteiro não é válido."),
    ("", "Informe a quantidade."),
    ("0", "Adicione pelo menos 1 licença."),
    ("-1", "Adicione pelo menos 1 licença."),  # never a way to take licenses out of the cart
    ("299", "O máximo para este produto é 300 licenças."),  # 2 are already in the cart
])
def test_a_wrong_quantity_comes_back_on_the_product_page_with_the_input_kept(adm, catalog, quantity, message):
    add(adm, catalog.standard, 2)
    response = add(adm, catalog.standard, quantity)
    assert response.status_code == 422
    assert message in field_errors(response)
    assert input_value(response, "quantity") == quantity
    assert cart_lines(adm) == {"Microsoft 365 Business Standard": 2}  # nothing lost, nothing added


def test_above_the_maximum_counts_what_is_already_in_the_cart(adm, catalog):
    add(adm, catalog.standard, 200)
    response = add(adm, catalog.standard, 101)
    assert response.status_code == 422 and "O máximo para este produto é 300 licenças." in field_errors(response)


@pytest.mark.parametrize("product_id", ["", "abc", "999999", "99999999999999999999"])
def test_adding_a_product_that_is_not_for_sale_says_so(adm, catalog, product_id):
    response = add(adm, product_id, 1)
    assert response.status_code == 302 and response.headers["Location"] == "/produtos"
    assert "Produto não encontrado." in follow(adm, response)


def test_adding_an_inactive_product_says_so(adm, catalog):
    catalog.defender.active = False
    db.session.commit()
    assert "Produto não encontrado." in follow(adm, add(adm, catalog.defender, 1))
    assert cart_lines(adm) == {}


def test_cart_update_and_remove(adm, catalog):
    add(adm, catalog.standard, 3)
    add(adm, catalog.annual, 1)
    body = section(adm.get("/carrinho"), "cart-table")
    assert "R$ 78,90 por licença/mês" in body and "R$ 236,70 por mês" in body and "R$ 946,80 por ano" in body
    totals = section(adm.get("/carrinho"), "cart-totals")
    assert "Total mensal R$ 236,70 por mês" in totals and "Total anual R$ 946,80 por ano" in totals
    response = set_quantity(adm, catalog.standard, 10)
    assert "Carrinho atualizado." in follow(adm, response)
    assert cart_lines(adm) == {"Microsoft 365 Business Standard": 10, "Microsoft 365 E3 (cobrança anual)": 1}
    response = set_quantity(adm, catalog.annual, 0)
    assert "Produto removido do carrinho." in follow(adm, response)
    assert cart_lines(adm) == {"Microsoft 365 Business Standard": 10}


@pytest.mark.parametrize(("quantity", "message"), [
    ("dez", "O valor inteiro não é válido."),
    ("", "Informe a quantidade."),
    ("301", "O máximo para este produto é 300 licenças."),
    ("-1", "O mínimo para este produto é 1 licença."),
])
def test_a_wrong_cart_quantity_is_shown_on_its_line(adm, catalog, quantity, message):
    add(adm, catalog.standard, 3)
    add(adm, catalog.defender, 2)
    response = set_quantity(adm, catalog.standard, quantity)
    assert response.status_code == 422
    assert field_errors(response) == [message]
    assert input_value(response, "quantity", f"quantity-{catalog.standard.id}") == quantity
    assert input_value(response, "quantity", f"quantity-{catalog.defender.id}") == "2"
    assert cart_lines(adm) == {"Microsoft 365 Business Standard": 3, "Defender for Business": 2}


def test_removing_what_is_not_in_the_cart_says_so(adm, catalog):
    response = set_quantity(adm, catalog.standard, 0)
    assert "Este produto não está no seu carrinho." in follow(adm, response)


def test_a_product_taken_off_sale_can_still_be_removed_and_blocks_the_review(adm, catalog):
    add(adm, catalog.standard, 3)
    add(adm, catalog.defender, 2)
    catalog.defender.active = False
    db.session.commit()
    page = adm.get("/carrinho")
    assert "indisponível" in section(page, "unavailable")
    assert "Remova os produtos indisponíveis para continuar." in alerts(page)
    assert "Produto não encontrado." in follow(adm, review(adm))
    set_quantity(adm, catalog.defender, 0)
    assert cart_lines(adm) == {"Microsoft 365 Business Standard": 3}


def test_each_user_has_its_own_cart(march, world, client, catalog):
    sign_in(client, world.adm)
    add(client, catalog.standard, 3)
    sign_in(client, world.master)
    assert cart_lines(client) == {}
    add(client, catalog.defender, 1)
    sign_in(client, world.adm)
    assert cart_lines(client) == {"Microsoft 365 Business Standard": 3}


def test_the_same_user_has_another_cart_in_another_organization(march, world, client, catalog):
    factories.MembershipFactory(user=world.adm, organization=world.other, roles=["adm"])
    db.session.commit()
    sign_in(client, world.adm, world.demo)
    add(client, catalog.standard, 3)
    sign_in(client, world.adm, world.other)
    assert cart_lines(client) == {}
    add(client, catalog.vault, 1)
    assert cart_lines(client) == {"Backup Cofre 1 TB": 1}
    sign_in(client, world.adm, world.demo)
    assert cart_lines(client) == {"Microsoft 365 Business Standard": 3}


def test_the_navigation_shows_the_catalog_and_the_cart_count_to_who_may_buy(march, world, login_as, catalog):
    client = login_as("adm")
    add(client, catalog.standard, 3)
    add(client, catalog.defender, 1)
    nav = text(client.get("/"))
    assert 'href="/produtos">Adicionar novos produtos</a>' in nav
    assert section(client.get("/"), "cart-link") == "Carrinho 2 produtos"
    for role in ("cobranca", "suporte"):
        body = text(login_as(role).get("/"))
        assert 'href="/produtos"' not in body and 'href="/carrinho"' not in body


def test_the_catalog_page_and_the_navigation_count_the_cart_once(march, world, login_as, catalog):
    client = login_as("adm")
    add(client, catalog.standard, 3)
    with counting(db.engine) as statements:
        body = text(client.get("/produtos"))
    counted = [statement for statement in statements if "cart_items" in statement]
    assert len(counted) == 1  # one statement for both badges, read once for the page
    assert section(client.get("/produtos"), "cart-link") == "Carrinho 1 produtos"
    assert 'href="/carrinho">Ver carrinho <span class="badge text-bg-primary">1</span>' in body


def test_a_page_reads_the_badges_with_the_memberships_and_a_form_sent_reads_them_apart(march, world, login_as,
                                                                                       catalog):
    """A GET has no statement of its own for the badges (they come with the memberships every request reads); a
    POST that renders a page reads them when the navigation asks, after whatever the form changed."""
    client = login_as("adm")
    add(client, catalog.standard, 3)
    add(client, catalog.defender, 1)
    with counting(db.engine) as on_a_page:
        page = client.get("/licencas")
    with counting(db.engine) as on_a_form:
        refused = set_quantity(client, catalog.standard, "muitas")  # re-rendered with its error: a page of a POST
    reads_on_a_page = [statement for statement in on_a_page if "cart_items" in statement]
    seen = [statement for statement in on_a_form if "cart_items" in statement]
    assert len(reads_on_a_page) == 1 and "FROM memberships" in reads_on_a_page[0]
    assert section(page, "cart-link") == "Carrinho 2 produtos"
    assert refused.status_code == 422
    assert any("FROM memberships" not in statement and "count(cart_items.id)" in statement for statement in seen)
    assert section(refused, "cart-link") == "Carrinho 2 produtos"


# ---------------------------------------------------------------- review and confirm

def test_reviewing_an_empty_cart_says_so(adm, catalog):
    response = review(adm)
    assert response.headers["Location"] == "/carrinho"
    assert "Seu carrinho está vazio." in follow(adm, response)


def test_the_review_shows_prorata_the_value_per_period_the_term_and_the_next_invoice(adm, catalog):
    add(adm, catalog.standard, 3)
    response = adm.get(f"/carrinho/orcamento/{token_of(review(adm))}")
    assert response.status_code == 200
    assert section(response, "prorata") == "R$ 160,35 agora, pelo período de 11/03 a 31/03 (21 de 31 dias)"
    assert section(response, "recurring") == "depois, R$ 236,70 por mês, a partir de 01/04/2026"
    assert section(response, "term") == "compromisso anual até 10/03/2027 (renovação em 11/03/2027)"
    summary = section(response, "checkout-summary")
    assert "Pró-rata deste período R$ 160,35" in summary
    assert "R$ 236,70 por mês, a partir de 01/04/2026" in summary
    assert section(response, "next-invoice") == (
        "R$ 397,05 pró-rata de R$ 160,35 + primeira mensalidade de R$ 236,70")
    assert "Este orçamento vale até o fim do dia 11/03/2026 (horário de Brasília)." in summary
    assert "Confirmar compra" in section(response, "confirm-actions")


def test_the_review_of_annual_billing_charges_the_first_year(adm, catalog):
    add(adm, catalog.annual, 2)
    response = adm.get(f"/carrinho/orcamento/{token_of(review(adm))}")
    assert section(response, "prorata") == (
        "R$ 1.893,60 agora, pelo período de 11/03/2026 a 10/03/2027 (365 de 365 dias)")
    assert section(response, "recurring") == "depois, R$ 1.893,60 por ano, a cada renovação"
    assert section(response, "next-invoice") == "R$ 1.893,60"


def test_confirming_buys_queues_the_orders_and_empties_the_cart(adm, world, catalog):
    add(adm, catalog.standard, 3)
    add(adm, catalog.vault, 1)
    token = token_of(review(adm))
    response = confirm(adm, token)
    assert response.status_code == 302 and response.headers["Location"] == "/licencas"
    assert DONE_FLASH in follow(adm, response)
    bought = db.session.scalars(select(Subscription).where(Subscription.organization_id == world.demo.id)
                                .order_by(Subscription.id)).all()
    assert [(s.product_id, s.quantity) for s in bought] == [(catalog.standard.id, 3), (catalog.vault.id, 1)]
    assert all(s.status in (SubscriptionStatus.PROVISIONING, SubscriptionStatus.ACTIVE) for s in bought)
    orders = db.session.scalars(select(Order).where(Order.organization_id == world.demo.id)).all()
    assert sorted((o.kind, o.subscription_id, o.quantity) for o in orders) == [
        (OrderKind.PURCHASE, bought[0].id, 3), (OrderKind.PURCHASE, bought[1].id, 1)]
    assert cart_lines(adm) == {}
    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.tag == AuditTag.QUOTE_CONFIRMED)).all()
    assert event.actor_id == world.adm.id and event.after["charge_cents"] == 16035 + 13481  # 199,00 × 21/31 = 134,806
    page = adm.get(f"/carrinho/orcamento/{token}")
    assert "Este pedido foi confirmado" in section(page, "confirmed")


def test_confirming_twice_buys_once(adm, world, catalog):
    add(adm, catalog.standard, 3)
    token = token_of(review(adm))
    confirm(adm, token)
    second = confirm(adm, token)
    assert second.headers["Location"] == "/licencas"
    assert db.session.scalar(select(func.count(Subscription.id)).where(Subscription.organization_id == world.demo.id)
                             ) == 1
    assert db.session.scalar(select(func.count(Order.id)).where(Order.organization_id == world.demo.id)) == 1


def test_a_price_change_after_the_review_sends_back_to_the_cart(adm, world, catalog):
    add(adm, catalog.standard, 3)
    token = token_of(review(adm))
    service.add_price(catalog.standard, unit_price_cents=9990, effective_from=clock.today(),
                      actor=Actor.for_user(world.staff_admin))
    response = confirm(adm, token)
    assert response.headers["Location"] == "/carrinho"
    assert "Os preços mudaram desde este orçamento. Confira os valores atualizados." in follow(adm, response)
    assert cart_lines(adm) == {"Microsoft 365 Business Standard": 3}
    assert db.session.scalar(select(func.count(Order.id))) == 0


def test_an_expired_review_asks_to_review_again(adm, world, catalog):
    add(adm, catalog.standard, 3)
    token = token_of(review(adm))
    clock.advance(timedelta(hours=12))  # past midnight in São Paulo
    sign_in(adm, world.adm)  # a new session: the old one timed out meanwhile
    page = adm.get(f"/carrinho/orcamento/{token}")
    assert "Este orçamento expirou" in section(page, "expired")
    response = confirm(adm, token)
    assert response.headers["Location"] == "/carrinho"
    assert "Este orçamento expirou. Confira os valores atualizados antes de confirmar." in follow(adm, response)
    assert db.session.scalar(select(func.count(Order.id))) == 0


def test_another_organizations_quote_and_a_quantity_change_quote_are_404(adm, world, catalog):
    other_product = factories.ProductFactory()
    carts.set_cart_quantity(organization=world.other, user=world.other_master, product_id=other_product.id,
                            quantity=1)
    other = subscriptions.quote_checkout(organization=world.other, user=world.other_master,
                                         actor=Actor.for_user(world.other_master))
    subscription = factories.subscription(world.demo, catalog.standard)
    change = subscriptions.quote_quantity_change(organization=world.demo, subscription=subscription, new_quantity=12,
                                                 actor=Actor.for_user(world.adm))
    for token in (other.token, change.token, "nao-existe"):
        assert adm.get(f"/carrinho/orcamento/{token}").status_code == 404
        assert confirm(adm, token).status_code == 404
    assert db.session.scalar(select(func.count(CartItem.id)).where(CartItem.organization_id == world.other.id)) == 1


def test_another_user_of_the_organization_may_confirm_and_the_buyers_cart_is_emptied(march, world, client, catalog):
    sign_in(client, world.adm)
    add(client, catalog.standard, 3)
    token = token_of(review(client))
    sign_in(client, world.master)
    assert confirm(client, token).headers["Location"] == "/licencas"
    sign_in(client, world.adm)
    assert cart_lines(client) == {}
