"""The "Uso de licenças" page, "Atualizar agora", a Master's rules, and the one-line summary on the licence pages."""

from sqlalchemy import select

from portal.extensions import db
from portal.licence_usage.models import SkuRule
from tests import factories
from tests.html import visible as text_of
from tests.licence_usage.helpers import STANDARD, read, standard_product, tenant_of


def _setup(app, world):
    subscription = factories.subscription(world.demo, standard_product(), quantity=20)
    tenant_of(world.demo)
    db.session.commit()
    read(app, world.demo)
    return subscription


def test_the_page_shows_the_numbers_and_reduce_opens_the_quantity_change(app_ctx, world, login_as):
    subscription = _setup(app_ctx, world)
    page = login_as("adm").get("/uso-de-licencas")
    assert page.status_code == 200
    text = text_of(page)
    assert "Microsoft 365 Business Standard" in text and "EXCHANGESTANDARD" in text
    assert "bruno@cliente.example.com" in text
    html = page.get_data(as_text=True)
    assert f'href="/licencas/{subscription.id}/alterar?reduzir=5"' in html
    change = login_as("adm").get(f"/licencas/{subscription.id}/alterar?reduzir=5")
    assert 'value="15"' in change.get_data(as_text=True)


def test_cobranca_reads_without_reduce_buttons_or_rules(app_ctx, world, login_as):
    subscription = _setup(app_ctx, world)
    html = login_as("cobranca").get("/uso-de-licencas").get_data(as_text=True)
    assert "alterar?reduzir" not in html and "rule-form" not in html
    assert "5 licenças poderiam ser reduzidas" in html
    assert subscription.id


def test_summary_on_the_licence_pages(app_ctx, world, login_as):
    subscription = _setup(app_ctx, world)
    client = login_as("master")
    assert "20 compradas · 17 atribuídas · 2 inativas" in text_of(client.get("/licencas"))
    assert "20 compradas · 17 atribuídas · 2 inativas" in text_of(client.get(f"/licencas/{subscription.id}"))


def test_consent_missing_explains_how_to_grant_it(app_ctx, world, login_as):
    _setup(app_ctx, world)
    read(app_ctx, world.demo, consent=False)
    html = login_as("adm").get("/uso-de-licencas").get_data(as_text=True)
    assert 'data-testid="consent-missing"' in html
    assert f"/{world.demo.microsoft_tenant_id}/adminconsent?client_id=" in html
    assert 'data-testid="usage-table"' not in html


def test_concealed_names_show_counts_only(app_ctx, world, login_as):
    _setup(app_ctx, world)
    read(app_ctx, world.demo, concealed=True)
    text = text_of(login_as("adm").get("/uso-de-licencas"))
    assert "Nomes ocultos" in text and "bruno@" not in text


def test_refresh_now_then_throttled(app_ctx, world, login_as):
    _setup(app_ctx, world)
    client = login_as("cobranca")
    answer = client.post("/uso-de-licencas/atualizar", follow_redirects=True)
    assert "Tente de novo em" in text_of(answer)


def test_refresh_without_a_tenant(app_ctx, world, login_as):
    answer = login_as("master").post("/uso-de-licencas/atualizar", follow_redirects=True)
    assert "ainda não tem um tenant" in text_of(answer)


def test_master_keeps_a_buffer_and_bad_input_is_a_message(app_ctx, world, login_as):
    _setup(app_ctx, world)
    client = login_as("master")
    prefix = f"rule-{STANDARD}"
    bad = client.post(f"/uso-de-licencas/regras/{STANDARD}", data={f"{prefix}-buffer": "dois"})
    assert bad.status_code == 422 and "Informe um número inteiro" in text_of(bad)
    good = client.post(f"/uso-de-licencas/regras/{STANDARD}", data={f"{prefix}-buffer": "2"})
    assert good.status_code == 302
    rule = db.session.scalar(select(SkuRule).where(SkuRule.organization_id == world.demo.id))
    assert (rule.sku_id, rule.buffer, rule.excluded) == (STANDARD, 2, False)
    unknown = client.post("/uso-de-licencas/regras/nao-existe", data={"rule-nao-existe-buffer": "1"},
                          follow_redirects=True)
    assert "não aparece na última leitura" in text_of(unknown)
