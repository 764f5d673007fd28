"""Backoffice "Catálogo": the admin edits families, products and prices; every edit is audited; nobody else may."""

import re

import pytest
from sqlalchemy import select

from portal.catalog.models import Product, ProductFamily, ProductPrice
from portal.extensions import db
from portal.shared import clock
from portal.shared.audit import AuditEvent, AuditTag
from portal.subscriptions import service as subscriptions
from portal.subscriptions.models import Subscription
from tests import factories
from tests.catalog.conftest import catalog, march  # noqa: F401 - fixtures
from tests.catalog.test_views import cards
from tests.conftest import sign_in
from tests.html import alerts, field_errors, follow, input_value, section, text

PRODUCT = {
    "sku": "M365-BP", "name": "Microsoft 365 Business Premium", "description": "Segurança avançada",
    "provider": "microsoft_csp", "offer_id": "CFQ7TTC0LCHC:0002:CFQ7TTC0LCHD", "term": "annual",
    "billing_frequency": "monthly", "decrease_window_hours": "", "min_quantity": "1", "max_quantity": "300",
    "active": "y",
}


def events(tag: AuditTag) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.tag == tag).order_by(AuditEvent.seq)))


def selected(response, name: str) -> str | None:
    body = text(response)
    select_tag = body[body.index(f'name="{name}"'):]
    select_tag = select_tag[:select_tag.index("</select>")]
    found = re.search(r'<option selected value="([^"]*)"', select_tag)
    return found.group(1) if found else None


@pytest.fixture
def admin(march, login_as):  # noqa: F811 - the fixture imported above
    return login_as("staff_admin")


# ---------------------------------------------------------------- who may

@pytest.mark.parametrize("role", ["staff_comercial", "staff_financeiro", "staff_suporte", "staff_compliance"])
def test_only_the_admin_edits_the_catalog(login_as, catalog, role):  # noqa: F811
    client = login_as(role)
    for url in ("/backoffice/catalogo", "/backoffice/catalogo/familias/nova", "/backoffice/catalogo/produtos/nova",
                f"/backoffice/catalogo/produtos/{catalog.standard.id}"):
        assert client.get(url).status_code == 403
    response = client.post(f"/backoffice/catalogo/produtos/{catalog.standard.id}/precos/novo",
                           data={"price-unit_price": "1,00", "price-effective_from": "2030-01-01"})
    assert response.status_code == 403
    assert len(catalog.standard.prices) == 1
    assert 'href="/backoffice/catalogo"' not in text(client.get("/backoffice/"))


def test_the_admin_sees_catalog_in_the_navigation(admin):
    assert 'href="/backoffice/catalogo">Catálogo</a>' in text(admin.get("/backoffice/"))


def test_unknown_family_or_product_is_404(admin):
    for url in ("/backoffice/catalogo/familias/999999", "/backoffice/catalogo/produtos/999999",
                "/backoffice/catalogo/produtos/999999/precos/novo"):
        assert admin.get(url).status_code == 404


# ---------------------------------------------------------------- families

def test_the_catalog_page_lists_families_and_products(admin, catalog):  # noqa: F811
    response = admin.get("/backoffice/catalogo")
    families = section(response, "families-table")
    assert families.index("Microsoft 365") < families.index("Segurança") < families.index("Backup em Nuvem")
    products = section(response, "products-table")
    assert ("M365-BS Microsoft 365 Business Standard Microsoft 365 Microsoft CSP anual / mensal R$ 78,90 ativo"
            in products)


def test_product_list_filters(admin, catalog):  # noqa: F811
    catalog.basic.active = False
    db.session.commit()
    only_security = section(admin.get("/backoffice/catalogo", query_string={"familia": catalog.security.id}),
                            "products-table")
    assert "DEF-B" in only_security and "M365-BS" not in only_security
    inactive = section(admin.get("/backoffice/catalogo", query_string={"situacao": "inativos"}), "products-table")
    assert "M365-BB" in inactive and "M365-BS" not in inactive
    active = section(admin.get("/backoffice/catalogo", query_string={"situacao": "ativos"}), "products-table")
    assert "M365-BB" not in active and "M365-BS" in active
    for junk in ({"familia": "abc"}, {"familia": "99999999999999"}, {"situacao": "x"}):
        assert admin.get("/backoffice/catalogo", query_string=junk).status_code == 200


def test_admin_creates_a_family(admin, world):
    response = admin.post("/backoffice/catalogo/familias/nova",
                          data={"name": "Segurança", "description": "Proteção", "position": "2", "active": "y"})
    assert response.headers["Location"] == "/backoffice/catalogo"
    assert "Família Segurança criada." in follow(admin, response)
    family = db.session.scalar(select(ProductFamily).where(ProductFamily.name == "Segurança"))
    assert (family.position, family.active) == (2, True)
    [event] = events(AuditTag.CATALOG_FAMILY_CREATED)
    assert event.actor_id == world.staff_admin.id and event.after["name"] == "Segurança"


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"name": ""}, "name", "Preencha este campo."),
    ({"name": "microsoft 365"}, "name", "Já existe uma família chamada Microsoft 365."),
    ({"position": "dez"}, "position", "O valor inteiro não é válido."),
    ({"position": ""}, "position", "Preencha este campo."),
    ({"position": "-1"}, "position", "A posição vai de 0 a 10000."),
])
def test_family_form_errors_keep_the_input(admin, catalog, data, field, message):  # noqa: F811
    form = {"name": "Nova família", "description": "Algo", "position": "4", "active": "y", **data}
    response = admin.post("/backoffice/catalogo/familias/nova", data=form)
    assert response.status_code == 422
    assert field_errors(response) == [message]
    assert input_value(response, field) == form[field] or form[field] == ""
    assert input_value(response, "description") == "Algo"
    assert events(AuditTag.CATALOG_FAMILY_CREATED) == []


def test_admin_renames_reorders_and_deactivates_a_family(admin, world, catalog):  # noqa: F811
    page = admin.get(f"/backoffice/catalogo/familias/{catalog.backup.id}")
    assert input_value(page, "name") == "Backup em Nuvem"
    response = admin.post(f"/backoffice/catalogo/familias/{catalog.backup.id}",
                          data={"name": "Backup", "description": "", "position": "0"})
    assert response.status_code == 302
    [event] = events(AuditTag.CATALOG_FAMILY_UPDATED)
    assert event.before == {"name": "Backup em Nuvem", "position": 3, "active": True}
    assert event.after == {"name": "Backup", "position": 0, "active": False}
    client = sign_in(admin.application.test_client(), world.adm)
    assert "BKP-1TB" not in cards(client.get("/produtos"))


# ---------------------------------------------------------------- products

def test_admin_creates_a_product_then_prices_it(admin, world, catalog):  # noqa: F811
    response = admin.post("/backoffice/catalogo/produtos/nova", data={**PRODUCT, "family_id": catalog.m365.id})
    product = db.session.scalar(select(Product).where(Product.sku == "M365-BP"))
    assert response.headers["Location"] == f"/backoffice/catalogo/produtos/{product.id}"
    assert "Produto Microsoft 365 Business Premium criado. Cadastre o preço para que ele apareça no catálogo." in \
        follow(admin, response)
    assert (product.decrease_window_hours, product.family_id, product.active) == (168, catalog.m365.id, True)
    [event] = events(AuditTag.CATALOG_PRODUCT_CREATED)
    assert event.after["offer_id"] == "CFQ7TTC0LCHC:0002:CFQ7TTC0LCHD"
    page = admin.get(f"/backoffice/catalogo/produtos/{product.id}")
    assert "Sem preço" in section(page, "price-history")
    response = admin.post(f"/backoffice/catalogo/produtos/{product.id}/precos/novo",
                          data={"price-unit_price": "1.234,56", "price-effective_from": "2026-03-11"})
    assert "Novo preço de Microsoft 365 Business Premium: R$ 1.234,56 a partir de 11/03/2026." in follow(
        admin, response)
    assert [(p.unit_price_cents, p.created_by_id) for p in product.prices] == [(123456, world.staff_admin.id)]
    assert "11/03/2026 R$ 1.234,56 em vigor" in section(admin.get(f"/backoffice/catalogo/produtos/{product.id}"),
                                                        "price-history")


def test_an_own_service_gets_no_offer_and_an_end_of_term_window(admin, catalog):  # noqa: F811
    data = {**PRODUCT, "sku": "BKP-5TB", "provider": "own_service", "offer_id": "", "term": "monthly",
            "family_id": catalog.backup.id}
    assert admin.post("/backoffice/catalogo/produtos/nova", data=data).status_code == 302
    product = db.session.scalar(select(Product).where(Product.sku == "BKP-5TB"))
    assert (product.decrease_window_hours, product.offer_id) == (0, None)


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"sku": ""}, "sku", "Preencha este campo."),
    ({"sku": "m365-bs"}, "sku", "Já existe um produto com o SKU m365-bs."),
    ({"offer_id": ""}, "offer_id", "productId:skuId:availabilityId"),
    ({"offer_id": "CFQ7TTC0LCHC"}, "offer_id", "productId:skuId:availabilityId"),
    ({"provider": "own_service", "term": "monthly"}, "offer_id", "Serviços próprios não têm oferta"),
    ({"term": "monthly", "billing_frequency": "annual"}, "billing_frequency", "A cobrança anual exige"),
    ({"min_quantity": "0"}, "min_quantity", "A quantidade mínima vai de 1 a 1000000."),
    ({"min_quantity": "dez"}, "min_quantity", "O valor inteiro não é válido."),
    ({"min_quantity": "10", "max_quantity": "5"}, "max_quantity", "A quantidade máxima não pode ser menor"),
    ({"max_quantity": "99999999999999999999"}, "max_quantity", "A quantidade máxima vai de 1 a 1000000."),
    ({"decrease_window_hours": "-1"}, "decrease_window_hours", "A janela de redução vai de 0 a 8784 horas."),
    ({"decrease_window_hours": "sete dias"}, "decrease_window_hours", "O valor inteiro não é válido."),
    ({"family_id": "999999"}, "family_id", "Escolha"),
    ({"family_id": ""}, "family_id", "Escolha a família de produtos."),
    ({"provider": "aws"}, "provider", "Escolha inválida."),
    ({"upgrade_to": "M365-XX, M365-BB"}, "upgrade_to", "SKU não encontrado no catálogo: M365-XX."),
    ({"upgrade_to": "BKP-1TB"}, "upgrade_to", "Upgrade só para produtos Microsoft; não são: BKP-1TB."),
    ({"upgrade_to": "m365-bp"}, "upgrade_to", "Um produto não é upgrade de si mesmo: tire o SKU M365-BP."),
    ({"provider": "own_service", "term": "monthly", "offer_id": "", "upgrade_to": "M365-BB"}, "upgrade_to",
     "Só produtos Microsoft têm upgrade na renovação"),
])
def test_product_form_errors_keep_the_input(admin, catalog, data, field, message):  # noqa: F811
    form = {**PRODUCT, "family_id": str(catalog.m365.id), **data}
    response = admin.post("/backoffice/catalogo/produtos/nova", data=form)
    assert response.status_code == 422
    errors = field_errors(response)
    assert len(errors) == 1 and message in errors[0], errors
    assert f'id="{field}-error"' in text(response)
    assert input_value(response, "name") == PRODUCT["name"]
    if field != "sku":
        assert input_value(response, "sku") == form["sku"]
    assert events(AuditTag.CATALOG_PRODUCT_CREATED) == []


def test_admin_edits_a_product(admin, catalog):  # noqa: F811
    page = admin.get(f"/backoffice/catalogo/produtos/{catalog.standard.id}")
    assert input_value(page, "sku") == "M365-BS" and input_value(page, "decrease_window_hours") == "168"
    assert selected(page, "family_id") == str(catalog.m365.id)
    data = {**PRODUCT, "sku": "M365-BS", "name": "Microsoft 365 Business Standard (NCE)",
            "offer_id": catalog.standard.offer_id, "family_id": catalog.m365.id, "decrease_window_hours": "168",
            "description": catalog.standard.description, "active": ""}
    data.pop("active")
    response = admin.post(f"/backoffice/catalogo/produtos/{catalog.standard.id}", data=data)
    assert response.headers["Location"] == f"/backoffice/catalogo/produtos/{catalog.standard.id}"
    [event] = events(AuditTag.CATALOG_PRODUCT_UPDATED)
    assert event.before == {"name": "Microsoft 365 Business Standard", "active": True}
    assert event.after == {"name": "Microsoft 365 Business Standard (NCE)", "active": False}


def test_admin_marks_the_upgrades_a_subscription_may_move_to_at_renewal(admin, world, catalog):  # noqa: F811
    """Partner Center's next-term instructions may move a subscription to another product: the catalog says which
    (Product.upgrade_to), and "Renovações" offers them."""
    from portal.subscriptions import next_term

    url = f"/backoffice/catalogo/produtos/{catalog.basic.id}"
    assert input_value(admin.get(url), "upgrade_to") == ""
    data = {**PRODUCT, "sku": "M365-BB", "name": catalog.basic.name, "offer_id": catalog.basic.offer_id,
            "family_id": catalog.m365.id, "decrease_window_hours": "168", "description": catalog.basic.description,
            "upgrade_to": "m365-bs;  DEF-B\nM365-BS"}  # any separator, any case, repeated: each once, as spelled
    assert admin.post(url, data=data).status_code == 302
    product = db.session.get(Product, catalog.basic.id)
    assert product.upgrade_to == ["M365-BS", "DEF-B"]
    [event] = events(AuditTag.CATALOG_PRODUCT_UPDATED)
    assert (event.before, event.after) == ({"upgrade_to": []}, {"upgrade_to": ["M365-BS", "DEF-B"]})
    assert input_value(admin.get(url), "upgrade_to") == "M365-BS, DEF-B"
    subscription = factories.subscription(world.demo, product)
    offered = {p.sku for p in next_term.options(subscription)}
    assert {"M365-BB", "M365-BS", "DEF-B"} <= offered


def test_a_product_edit_error_keeps_the_input(admin, catalog):  # noqa: F811
    data = {**PRODUCT, "sku": "DEF-B", "name": "Outro nome", "family_id": catalog.m365.id}
    response = admin.post(f"/backoffice/catalogo/produtos/{catalog.standard.id}", data=data)
    assert response.status_code == 422
    assert field_errors(response) == ["Já existe um produto com o SKU DEF-B."]
    assert input_value(response, "name") == "Outro nome"
    assert db.session.get(Product, catalog.standard.id).name == "Microsoft 365 Business Standard"


# ---------------------------------------------------------------- prices

def new_price(client, product, amount, day="2026-03-11"):
    return client.post(f"/backoffice/catalogo/produtos/{product.id}/precos/novo",
                       data={"price-unit_price": amount, "price-effective_from": day})


@pytest.mark.parametrize(("amount", "day", "field", "message"), [
    ("abc", "2026-03-11", "price-unit_price", "Valor inválido: use o formato 1.234,56."),
    ("12,345", "2026-03-11", "price-unit_price", "Valor inválido: use o formato 1.234,56."),
    ("-5,00", "2026-03-11", "price-unit_price", "O preço não pode ser negativo."),
    ("", "2026-03-11", "price-unit_price", "Preencha este campo."),
    ("99.999.999,99", "2026-03-11", "price-unit_price", "Preço alto demais: confira o valor."),
    ("82,90", "2026-03-10", "price-effective_from", "A vigência começa hoje ou depois"),
    ("82,90", "31/02/2026", "price-effective_from", "Informe a data no formato dd/mm/aaaa."),
    ("82,90", "", "price-effective_from", "Informe a data de início da vigência."),
])
def test_price_errors_keep_the_input(admin, catalog, amount, day, field, message):  # noqa: F811
    response = new_price(admin, catalog.standard, amount, day)
    assert response.status_code == 422
    errors = field_errors(response)
    assert len(errors) == 1 and errors[0].startswith(message), errors
    assert f'id="{field}-error"' in text(response)
    assert input_value(response, "price-unit_price") == amount
    assert len(db.session.get(Product, catalog.standard.id).prices) == 1
    assert events(AuditTag.CATALOG_PRICE_ADDED) == []


def test_a_brazilian_date_is_understood_too(admin, catalog):  # noqa: F811
    assert new_price(admin, catalog.standard, "R$ 82,90", "01/04/2026").status_code == 302
    assert [(p.unit_price_cents, p.effective_from.isoformat()) for p in catalog.standard.prices][-1] == (
        8290, "2026-04-01")


def test_a_second_price_on_the_same_day_is_refused(admin, catalog):  # noqa: F811
    assert new_price(admin, catalog.standard, "82,90").status_code == 302
    response = new_price(admin, catalog.standard, "83,90")
    assert response.status_code == 422
    assert field_errors(response) == ["Já existe um preço para este produto a partir desta data. Escolha outra data."]
    assert [p.unit_price_cents for p in db.session.scalars(
        select(ProductPrice).where(ProductPrice.product_id == catalog.standard.id))] == [7890, 8290]


def test_the_price_page_get_goes_to_the_product(admin, catalog):  # noqa: F811
    response = admin.get(f"/backoffice/catalogo/produtos/{catalog.standard.id}/precos/novo")
    assert response.headers["Location"] == f"/backoffice/catalogo/produtos/{catalog.standard.id}#novo-preco"


def test_licenses_already_bought_keep_their_price(admin, world, catalog):  # noqa: F811
    subscription = factories.subscription(world.demo, catalog.standard, quantity=10)
    db.session.commit()
    assert new_price(admin, catalog.standard, "99,90").status_code == 302
    db.session.expire_all()
    assert subscriptions.recurring_cents(db.session.get(Subscription, subscription.id)) == 78900  # 10 × 78,90
    assert catalog.standard.price_on(clock.today()).unit_price_cents == 9990
    history = section(admin.get(f"/backoffice/catalogo/produtos/{catalog.standard.id}"), "price-history")
    assert "11/03/2026 R$ 99,90 em vigor" in history and "01/01/2020 R$ 78,90" in history
    assert alerts(admin.get("/backoffice/catalogo")) == []
