"""Catalog verbs: what a customer may buy and see before buying, and the staff's audited edits."""

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from portal.catalog import cart as carts
from portal.catalog import service
from portal.catalog.models import CartItem, Product, ProductFamily, ProductPrice, Provider
from portal.extensions import db
from portal.shared import clock
from portal.shared.audit import Actor, AuditEvent, AuditTag
from portal.shared.errors import NotFound, ServiceError
from portal.subscriptions import service as subscriptions
from portal.subscriptions.models import Order, QuoteKind, Subscription
from portal.subscriptions.service import StaleQuote
from tests import factories

MARCH_11_DAY = date(2026, 3, 11)


def events(tag: AuditTag) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.tag == tag).order_by(AuditEvent.seq)))


def skus(page: service.CatalogPage) -> list[str]:
    return [item.product.sku for item in page.items]


def browse(**kwargs) -> service.CatalogPage:
    return service.browse(today=clock.today(), **kwargs)


# ---------------------------------------------------------------- browsing

def test_the_catalog_lists_sellable_products_by_family_position(march, catalog):
    page = browse()
    assert skus(page) == ["M365-BB", "M365-BS", "M365-E3-A", "DEF-B", "BKP-1TB"]
    assert page.total == 5 and page.page == 1 and not page.has_next
    assert page.items[1].price.unit_price_cents == 7890


def test_inactive_products_inactive_families_and_unpriced_products_are_not_sold(march, catalog):
    catalog.basic.active = False
    catalog.backup.active = False
    factories.ProductFactory(sku="NO-PRICE", family=catalog.m365, price=False)
    later = factories.ProductFactory(sku="LATER", family=catalog.m365, price=False)
    db.session.add(ProductPrice(product=later, unit_price_cents=1000, effective_from=MARCH_11_DAY + timedelta(days=1)))
    db.session.commit()
    assert skus(browse()) == ["M365-BS", "M365-E3-A", "DEF-B"]
    clock.advance(timedelta(days=1))
    assert "LATER" in skus(browse())  # on sale from the day its first price is in force


def test_family_filter(march, catalog):
    assert skus(browse(family_id=catalog.security.id)) == ["DEF-B"]
    assert skus(browse(family_id=catalog.m365.id)) == ["M365-BB", "M365-BS", "M365-E3-A"]


@pytest.mark.parametrize("bad", ["abc", -1, 0, 2**40, True, 3.5])
def test_a_family_that_cannot_exist_is_reported_not_a_crash(march, catalog, bad):
    with pytest.raises(NotFound) as error:
        browse(family_id=bad)
    assert error.value.field == "familia"


def test_an_unknown_or_inactive_family_is_not_found(march, catalog):
    catalog.security.active = False
    db.session.commit()
    for family_id in (catalog.security.id, catalog.backup.id + 1000):
        with pytest.raises(NotFound, match="Família de produtos não encontrada"):
            browse(family_id=family_id)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("business", ["M365-BB", "M365-BS", "DEF-B"]),  # name, any case
        ("m365-e3", ["M365-E3-A"]),  # SKU
        ("teams", ["M365-BS"]),  # description
        ("PROTECAO", ["DEF-B"]),  # accents and case do not matter: "Proteção"
        ("cópia diaria", ["BKP-1TB"]),  # every word, in any field, accents either way
        ("business premium", []),
        ("   ", ["M365-BB", "M365-BS", "M365-E3-A", "DEF-B", "BKP-1TB"]),
        ("%", []),  # no wildcard
    ],
)
def test_text_search(march, catalog, query, expected):
    assert skus(browse(query=query)) == expected


def test_search_and_family_together(march, catalog):
    assert skus(browse(family_id=catalog.security.id, query="business")) == ["DEF-B"]
    assert skus(browse(family_id=catalog.m365.id, query="defender")) == []


def test_pagination_by_24(march, catalog):
    family = factories.ProductFamilyFactory(name="Muitos", position=9)
    for n in range(25):
        factories.ProductFactory(name=f"Item {n:02d}", sku=f"ITEM-{n:02d}", family=family)
    first = browse(family_id=family.id)
    second = browse(family_id=family.id, page=2)
    assert len(first.items) == 24 and first.has_next and first.total == 25
    assert skus(second) == ["ITEM-24"] and not second.has_next
    assert browse(family_id=family.id, page=50).items == []
    assert browse(family_id=family.id, page=-3).page == 1


def test_the_price_shown_is_the_one_in_force_today(march, catalog):
    db.session.add(ProductPrice(product=catalog.standard, unit_price_cents=8290, effective_from=MARCH_11_DAY))
    db.session.add(ProductPrice(product=catalog.standard, unit_price_cents=9990,
                                effective_from=MARCH_11_DAY + timedelta(days=20)))
    db.session.commit()
    assert service.sellable_product(catalog.standard.id, today=clock.today()).price.unit_price_cents == 8290
    # The catalog's page (the price joined in its one statement) and its search (prices loaded) agree.
    for query in ("", catalog.standard.name):
        shown = {item.product.id: item.price.unit_price_cents
                 for item in service.browse(query=query, today=clock.today()).items}
        assert shown[catalog.standard.id] == 8290
    assert {item.product.id: item.price.unit_price_cents for item in service.browse(today=MARCH_11_DAY + timedelta(
        days=20)).items}[catalog.standard.id] == 9990


def test_sellable_product(march, catalog):
    item = service.sellable_product(catalog.annual.id, today=clock.today())
    assert item.product == catalog.annual and item.monthly_cents == 7890  # R$ 946,80 a year, twelfths
    catalog.defender.active = False
    db.session.commit()
    for bad in (catalog.defender.id, 0, -1, None, "1", True, 2**40):
        with pytest.raises(NotFound):
            service.sellable_product(bad, today=clock.today())


# ---------------------------------------------------------------- cart

def put(world, product, quantity, user=None, organization=None):
    return carts.set_cart_quantity(organization=organization or world.demo, user=user or world.adm,
                                   product_id=product.id, quantity=quantity, add=True)


def test_cart_lines_at_todays_prices_with_totals_per_period(march, world, catalog):
    put(world, catalog.standard, 3)
    put(world, catalog.annual, 2)
    cart = carts.cart(world.demo, world.adm, today=clock.today())
    assert [(line.product.sku, line.quantity, line.total_cents) for line in cart.lines] == [
        ("M365-BS", 3, 23670), ("M365-E3-A", 2, 189360)]
    assert cart.monthly_cents == 23670 and cart.annual_cents == 189360 and not cart.has_unavailable
    assert carts.cart_count(world.demo, world.adm) == 2


def test_each_user_has_a_cart_per_organization(march, world, catalog):
    factories.MembershipFactory(user=world.adm, organization=world.other, roles=["adm"])
    put(world, catalog.standard, 3)
    put(world, catalog.defender, 1, user=world.master)
    put(world, catalog.vault, 2, organization=world.other)
    assert [line.product.sku for line in carts.cart(world.demo, world.adm, today=clock.today()).lines] == ["M365-BS"]
    assert [line.product.sku for line in carts.cart(world.demo, world.master, today=clock.today()).lines] == [
        "DEF-B"]
    assert [line.product.sku for line in carts.cart(world.other, world.adm, today=clock.today()).lines] == [
        "BKP-1TB"]


def test_update_cart_sets_and_zero_removes(march, world, catalog):
    put(world, catalog.standard, 3)
    carts.update_cart(organization=world.demo, user=world.adm, product_id=catalog.standard.id, quantity=7)
    assert carts.cart(world.demo, world.adm, today=clock.today()).lines[0].quantity == 7
    assert carts.update_cart(organization=world.demo, user=world.adm, product_id=catalog.standard.id,
                               quantity=0) is None
    assert carts.cart(world.demo, world.adm, today=clock.today()).lines == []
    with pytest.raises(NotFound, match="não está no seu carrinho"):
        carts.update_cart(organization=world.demo, user=world.adm, product_id=catalog.standard.id, quantity=0)


def test_a_product_taken_off_sale_stays_in_the_cart_as_unavailable_and_can_be_removed(march, world, catalog):
    put(world, catalog.defender, 2)
    catalog.defender.active = False
    db.session.commit()
    cart = carts.cart(world.demo, world.adm, today=clock.today())
    assert not cart.lines[0].available and cart.has_unavailable and cart.monthly_cents == 0
    with pytest.raises(ServiceError):  # it cannot be bought…
        carts.update_cart(organization=world.demo, user=world.adm, product_id=catalog.defender.id, quantity=3)
    carts.update_cart(organization=world.demo, user=world.adm, product_id=catalog.defender.id, quantity=0)
    assert carts.cart_count(world.demo, world.adm) == 0  # …but it can be taken out


@pytest.mark.parametrize(("quantity", "message"), [
    (1, "O mínimo"), (-2, "O mínimo"), (301, "O máximo"), ("3", "números inteiros"), (None, "números inteiros"),
])
def test_update_cart_refuses_what_cannot_be_bought(march, world, catalog, quantity, message):
    catalog.standard.min_quantity = 2
    put(world, catalog.standard, 3)
    with pytest.raises(ServiceError, match=message):
        carts.update_cart(organization=world.demo, user=world.adm, product_id=catalog.standard.id,
                            quantity=quantity)
    assert carts.cart(world.demo, world.adm, today=clock.today()).lines[0].quantity == 3


# ---------------------------------------------------------------- checkout preview

def quote(world, *items, user=None, organization=None):
    for product, quantity in items:
        put(world, product, quantity, user=user, organization=organization)
    return subscriptions.quote_checkout(organization=organization or world.demo, user=user or world.adm,
                                        actor=subscriptions_actor(user or world.adm))


def subscriptions_actor(user):
    return Actor.for_user(user)


def test_checkout_preview_of_three_licenses_on_march_11(march, world, catalog):
    """E1 of the pró-rata spec: 78,90 × 3 × 21/31 = 160,3452 → R$ 160,35."""
    preview = service.checkout_preview(world.demo, quote(world, (catalog.standard, 3)).token)
    [line] = preview.lines
    assert line.amount_cents == 16035
    assert (line.effective_on, line.last_day, line.days_charged, line.days_in_period) == (
        MARCH_11_DAY, date(2026, 3, 31), 21, 31)
    assert line.recurring_cents == 23670
    assert (line.term_end, line.term_last_day) == (date(2027, 3, 11), date(2027, 3, 10))
    assert preview.charge_cents == 16035 and preview.monthly_cents == 23670
    assert preview.next_period_start == date(2026, 4, 1)
    assert preview.next_invoice_cents == 16035 + 23670
    assert not preview.confirmed and not preview.expired


def test_annual_billing_charges_the_whole_first_year_now(march, world, catalog):
    preview = service.checkout_preview(world.demo, quote(world, (catalog.annual, 2)).token)
    [line] = preview.lines
    assert (line.period_start, line.period_end, line.days_in_period) == (MARCH_11_DAY, date(2027, 3, 11), 365)
    assert line.amount_cents == 189360 and line.annual_billing
    assert preview.monthly_cents == 0 and preview.next_invoice_cents == 189360


def test_a_checkout_preview_is_only_for_checkout_quotes_of_the_organization(march, world, catalog):
    token = quote(world, (catalog.standard, 3)).token
    with pytest.raises(NotFound):
        service.checkout_preview(world.other, token)
    subscription = factories.subscription(world.demo, catalog.standard)
    change = subscriptions.quote_quantity_change(organization=world.demo, subscription=subscription, new_quantity=12,
                                                 actor=subscriptions_actor(world.adm))
    assert change.kind == QuoteKind.QUANTITY_CHANGE
    for bad in (change.token, "nope", "", None, "x" * 500):
        with pytest.raises(NotFound):
            service.checkout_quote(world.demo, bad)


def test_confirming_twice_buys_once_and_empties_the_cart(march, world, catalog):
    token = quote(world, (catalog.standard, 3), (catalog.vault, 1)).token
    first = subscriptions.confirm_quote(organization=world.demo, token=token, actor=subscriptions_actor(world.adm))
    second = subscriptions.confirm_quote(organization=world.demo, token=token, actor=subscriptions_actor(world.adm))
    assert [o.id for o in first] == [o.id for o in second]
    assert db.session.scalar(select(func.count(Subscription.id)).where(Subscription.organization_id == world.demo.id)
                             ) == 2
    assert carts.cart_count(world.demo, world.adm) == 0
    assert service.checkout_preview(world.demo, token).confirmed


# ---------------------------------------------------------------- staff: families

def test_create_family_is_audited(app_ctx, admin_actor):
    family = service.create_family(name="  Segurança ", description="Proteção", position=2, actor=admin_actor)
    assert (family.name, family.position, family.active) == ("Segurança", 2, True)
    [event] = events(AuditTag.CATALOG_FAMILY_CREATED)
    assert event.subject == f"product_family:{family.id}" and event.actor_label == admin_actor.label
    assert event.after == {"name": "Segurança", "description": "Proteção", "position": 2, "active": True}
    assert event.organization_id is None and event.ip == "198.51.100.9"


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"name": ""}, "name", "Informe o nome"),
    ({"name": "   "}, "name", "Informe o nome"),
    ({"name": "SEGURANCA"}, "name", "Já existe uma família chamada Segurança"),
    ({"name": "x" * 101}, "name", "no máximo 100"),
    ({"position": -1}, "position", "posição"),
    ({"position": 10_001}, "position", "posição"),
    ({"position": "2"}, "position", "posição"),
    ({"description": "x" * 501}, "description", "no máximo 500"),
])
def test_family_errors_name_their_field_and_write_nothing(app_ctx, admin_actor, changes, field, message):
    service.create_family(name="Segurança", actor=admin_actor)
    before = db.session.scalar(select(func.count(AuditEvent.seq)))
    with pytest.raises(ServiceError, match=message) as error:
        service.create_family(**{"name": "Nova", "description": "", "position": 0, **changes}, actor=admin_actor)
    assert error.value.field == field
    assert db.session.scalar(select(func.count(AuditEvent.seq))) == before
    assert db.session.scalar(select(func.count(ProductFamily.id))) == 1


def test_update_family_audits_only_what_changed(app_ctx, admin_actor):
    family = service.create_family(name="Backup", position=3, actor=admin_actor)
    service.update_family(family, name="Backup em Nuvem", description="", position=1, active=False, actor=admin_actor)
    [event] = events(AuditTag.CATALOG_FAMILY_UPDATED)
    assert event.before == {"name": "Backup", "position": 3, "active": True}
    assert event.after == {"name": "Backup em Nuvem", "position": 1, "active": False}
    service.update_family(family, name="Backup em Nuvem", description="", position=1, active=False, actor=admin_actor)
    assert len(events(AuditTag.CATALOG_FAMILY_UPDATED)) == 1  # nothing changed, nothing recorded
    service.update_family(family, name="backup em nuvem", description="", position=1, active=False, actor=admin_actor)
    assert family.name == "backup em nuvem"  # its own name, re-cased, is not a duplicate


def test_reordering_families_reorders_the_catalog(march, catalog, admin_actor):
    service.update_family(catalog.backup, name=catalog.backup.name, position=0, actor=admin_actor)
    assert skus(browse())[0] == "BKP-1TB"


# ---------------------------------------------------------------- staff: products

def product_data(family, **changes) -> service.ProductData:
    values = {
        "sku": "M365-BP", "name": "Microsoft 365 Business Premium", "description": "Segurança avançada",
        "family_id": family.id, "provider": "microsoft_csp", "offer_id": "CFQ7TTC0LCHC:0002:CFQ7TTC0LCHD",
        "term": "annual", "billing_frequency": "monthly", "decrease_window_hours": None, "min_quantity": 1,
        "max_quantity": 300, "active": True,
    }
    return service.ProductData(**{**values, **changes})


def test_create_product_is_audited_with_the_providers_default_window(app_ctx, admin_actor):
    family = factories.ProductFamilyFactory()
    product = service.create_product(product_data(family, sku=" M365-BP "), actor=admin_actor)
    assert (product.sku, product.decrease_window_hours, product.provider) == ("M365-BP", 168, Provider.MICROSOFT_CSP)
    [event] = events(AuditTag.CATALOG_PRODUCT_CREATED)
    assert event.subject == f"product:{product.id}"
    assert event.after["sku"] == "M365-BP" and event.after["decrease_window_hours"] == 168
    own = service.create_product(product_data(family, sku="BKP-5TB", provider="own_service", offer_id="  ",
                                              term="monthly"), actor=admin_actor)
    assert own.decrease_window_hours == 0 and own.offer_id is None


def test_a_new_product_is_not_sold_until_it_has_a_price(march, catalog, admin_actor):
    product = service.create_product(product_data(catalog.m365), actor=admin_actor)
    assert "M365-BP" not in skus(browse())
    service.add_price(product, unit_price_cents=13200, effective_from=clock.today(), actor=admin_actor)
    assert "M365-BP" in skus(browse())


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"sku": ""}, "sku", "Informe o SKU"),
    ({"sku": "m365-bs"}, "sku", "Já existe um produto com o SKU m365-bs"),
    ({"sku": "x" * 61}, "sku", "no máximo 60"),
    ({"name": " "}, "name", "Informe o nome"),
    ({"family_id": 999_999}, "family_id", "Escolha a família"),
    ({"family_id": None}, "family_id", "Escolha a família"),
    ({"provider": "aws"}, "provider", "fornecedor"),
    ({"offer_id": None}, "offer_id", "productId:skuId:availabilityId"),
    ({"offer_id": "CFQ7TTC0LCHC"}, "offer_id", "productId:skuId:availabilityId"),
    ({"offer_id": "a:b:c:d"}, "offer_id", "productId:skuId:availabilityId"),
    ({"provider": "own_service", "offer_id": "A:B:C"}, "offer_id", "Serviços próprios não têm oferta"),
    ({"term": "weekly"}, "term", "termo"),
    ({"billing_frequency": "daily"}, "billing_frequency", "frequência"),
    ({"term": "monthly", "billing_frequency": "annual"}, "billing_frequency", "anual exige termo anual"),
    ({"decrease_window_hours": -1}, "decrease_window_hours", "janela"),
    ({"decrease_window_hours": 10**9}, "decrease_window_hours", "janela"),
    ({"min_quantity": 0}, "min_quantity", "mínima vai de 1"),
    ({"min_quantity": 5, "max_quantity": 4}, "max_quantity", "máxima vai da mínima"),
    ({"max_quantity": 10**12}, "max_quantity", "máxima"),
])
def test_product_errors_name_their_field_and_write_nothing(march, catalog, admin_actor, changes, field, message):
    before = db.session.scalar(select(func.count(AuditEvent.seq)))
    with pytest.raises(ServiceError, match=message) as error:
        service.create_product(product_data(catalog.m365, **changes), actor=admin_actor)
    assert error.value.field == field
    assert db.session.scalar(select(func.count(AuditEvent.seq))) == before
    assert db.session.scalar(select(func.count(Product.id)).where(Product.name == "Microsoft 365 Business Premium")
                             ) == 0


def test_update_product_audits_before_and_after(march, catalog, admin_actor):
    data = product_data(catalog.security, sku="M365-BS", name="Microsoft 365 Business Standard (NCE)",
                        description=catalog.standard.description, offer_id=catalog.standard.offer_id,
                        decrease_window_hours=168, max_quantity=300)
    service.update_product(catalog.standard, data, actor=admin_actor)
    [event] = events(AuditTag.CATALOG_PRODUCT_UPDATED)
    assert event.before == {"name": "Microsoft 365 Business Standard", "family_id": catalog.m365.id}
    assert event.after == {"name": "Microsoft 365 Business Standard (NCE)", "family_id": catalog.security.id}
    service.update_product(catalog.standard, data, actor=admin_actor)
    assert len(events(AuditTag.CATALOG_PRODUCT_UPDATED)) == 1


def test_deactivating_a_product_keeps_its_licenses(march, world, catalog, admin_actor):
    subscription = factories.subscription(world.demo, catalog.standard)
    data = product_data(catalog.m365, sku="M365-BS", name=catalog.standard.name, active=False,
                        description=catalog.standard.description, offer_id=catalog.standard.offer_id, max_quantity=300)
    service.update_product(catalog.standard, data, actor=admin_actor)
    assert "M365-BS" not in skus(browse())
    assert db.session.get(Subscription, subscription.id).quantity == 10


# ---------------------------------------------------------------- staff: prices

def test_add_price_keeps_history_and_is_audited(march, catalog, admin_actor):
    today = clock.today()
    price = service.add_price(catalog.standard, unit_price_cents=8290, effective_from=today, actor=admin_actor)
    future = service.add_price(catalog.standard, unit_price_cents=8990, effective_from=today + timedelta(days=21),
                               actor=admin_actor)
    assert [(p.unit_price_cents, p.effective_from) for p in service.price_history(catalog.standard)] == [
        (8990, date(2026, 4, 1)), (8290, today), (7890, date(2020, 1, 1))]
    assert catalog.standard.price_on(today).id == price.id
    assert catalog.standard.price_on(date(2026, 4, 1)).id == future.id
    first, second = events(AuditTag.CATALOG_PRICE_ADDED)
    assert first.subject == f"product:{catalog.standard.id}" and first.actor_id == admin_actor.user_id
    assert first.before == {"unit_price_cents": 7890, "effective_from": "2020-01-01"}
    assert first.after == {"unit_price_cents": 8290, "effective_from": "2026-03-11", "price_id": price.id}
    assert second.before == {"unit_price_cents": 8290, "effective_from": "2026-03-11"}
    assert price.created_by_id == admin_actor.user_id


@pytest.mark.parametrize(("cents", "day", "field", "message"), [
    (-1, 0, "unit_price", "negativo"),
    ("78,90", 0, "unit_price", "Informe o preço"),
    (2**31, 0, "unit_price", "alto demais"),
    (8290, -1, "effective_from", "hoje ou depois"),
    (8290, None, "effective_from", "data de início"),
])
def test_price_errors(march, catalog, admin_actor, cents, day, field, message):
    effective = clock.today() + timedelta(days=day) if day is not None else None
    with pytest.raises(ServiceError, match=message) as error:
        service.add_price(catalog.standard, unit_price_cents=cents, effective_from=effective, actor=admin_actor)
    assert error.value.field == field
    assert events(AuditTag.CATALOG_PRICE_ADDED) == []


def test_a_second_price_on_the_same_day_is_refused(march, catalog, admin_actor):
    service.add_price(catalog.standard, unit_price_cents=8290, effective_from=clock.today(), actor=admin_actor)
    with pytest.raises(ServiceError, match="Já existe um preço") as error:
        service.add_price(catalog.standard, unit_price_cents=8390, effective_from=clock.today(), actor=admin_actor)
    assert error.value.field == "effective_from"
    assert len(service.price_history(catalog.standard)) == 2


def test_a_free_product_is_a_price_of_zero(march, catalog, admin_actor):
    service.add_price(catalog.vault, unit_price_cents=0, effective_from=clock.today(), actor=admin_actor)
    assert service.sellable_product(catalog.vault.id, today=clock.today()).price.unit_price_cents == 0


def test_a_new_price_leaves_licenses_already_bought_at_their_price(march, world, catalog, admin_actor):
    subscription = factories.subscription(world.demo, catalog.standard, quantity=10)
    assert subscriptions.recurring_cents(subscription) == 78900
    service.add_price(catalog.standard, unit_price_cents=9990, effective_from=clock.today(), actor=admin_actor)
    db.session.expire_all()
    assert subscriptions.recurring_cents(db.session.get(Subscription, subscription.id)) == 78900
    assert service.sellable_product(catalog.standard.id, today=clock.today()).price.unit_price_cents == 9990


def test_a_new_price_makes_an_open_checkout_quote_stale(march, world, catalog, admin_actor):
    token = quote(world, (catalog.standard, 3)).token
    service.add_price(catalog.standard, unit_price_cents=9990, effective_from=clock.today(), actor=admin_actor)
    with pytest.raises(StaleQuote, match="preços mudaram"):
        subscriptions.confirm_quote(organization=world.demo, token=token, actor=subscriptions_actor(world.adm))
    assert db.session.scalar(select(func.count(Order.id))) == 0
    assert db.session.scalar(select(func.count(CartItem.id))) == 1  # the cart is still there to re-quote

