"""Backoffice "Venda conjunta" pages: the tabs and favourites per user, filters and pages, the referral form with
its refusals under each field, the lifecycle buttons, the eligibility of won deals, and who may do what."""

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from portal.backoffice import cosell as cosell_views
from portal.cosell import service
from portal.cosell.models import Deal, DealStage, DealType
from portal.extensions import db
from portal.shared import clock
from tests import factories
from tests.conftest import sign_in
from tests.cosell.routes import comercial
from tests.html import field_errors, text

NOON = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)  # 12:00 in São Paulo
LIST = "/backoffice/venda-conjunta"


@pytest.fixture
def frozen():
    with clock.frozen(NOON):
        yield


def staff(client, world, role="comercial"):
    return sign_in(client, getattr(world, f"staff_{role}"))


def rows(body: str) -> list[int]:
    return [int(n) for n in re.findall(r'data-testid="deal-row-(\d+)"', body)]


def form(**overrides) -> dict:
    fields = {
        "deal_type": "services_cosell", "name": "Migração para o Azure — Metalúrgica Alfa", "location": "BR",
        "customer_name": "Metalúrgica Alfa Ltda", "customer_location": "Joinville, SC",
        "account_managed_by_microsoft": "y", "estimated_value": "1.234.567,89", "currency": "BRL",
        "estimated_close_date": "2026-05-29", "crm_id": "OPP-0042", "campaign_id": "",
        "partner_role": "deployment", "solution_area": "infrastructure", "solution_play": "Migrate and Modernize",
        "notes": "Sair do datacenter próprio até dezembro; precisamos de arquitetura da Microsoft.",
        "marketplace_intent": "undecided",
        "team-0-name": "Ana Souza", "team-0-phone": "+55 11 98888-7777", "team-0-email": "ana@revenda.example.com",
        "team-1-name": "", "team-1-phone": "", "team-1-email": "",
        "solutions-0-name": "", "solutions-1-name": "",
    }
    fields.update(overrides)
    return {k: v for k, v in fields.items() if v is not None}


def error_under(body: str, field_id: str) -> str:
    match = re.search(rf'id="{re.escape(field_id)}-error" class="invalid-feedback d-block">([^<]*)<', body)
    return html.unescape(match.group(1)) if match else ""


def criteria(body: str) -> dict[str, str]:
    return dict(re.findall(r'data-testid="criterion-(\w+)" data-met="([01])"', body))


# ---------------------------------------------------------------- tabs, filters, favourites

def test_inbound_and_outbound_deals_are_in_their_tabs(app_ctx, world, client, frozen):
    inbound = factories.deal(world.staff_comercial, DealType.IP_COSELL, inbound=True, name="Indicação Microsoft")
    outbound = factories.deal(world.staff_comercial, name="Negócio nosso")
    staff(client, world)
    entrada = text(client.get(LIST))
    assert rows(entrada) == [inbound.id] and "expira em 24/03/2026 12:00" in entrada
    assert 'data-testid="tab-entrada"' in entrada and "Venda conjunta" in entrada
    assert rows(text(client.get(LIST, query_string={"aba": "saida"}))) == [outbound.id]
    assert rows(text(client.get(LIST, query_string={"aba": "favoritos"}))) == []


def test_favourites_are_each_users_own(app_ctx, world, client, frozen):
    first = factories.deal(world.staff_comercial, name="Primeiro")
    second = factories.deal(world.staff_comercial, DealType.SERVICES_COSELL, inbound=True, name="Segundo")
    staff(client, world, "comercial")
    response = client.post(f"{LIST}/{first.id}/favorito", data={"next": f"{LIST}?aba=saida"})
    assert response.status_code == 302 and response.headers["Location"] == f"{LIST}?aba=saida"
    body = text(client.get(LIST, query_string={"aba": "favoritos"}))
    assert rows(body) == [first.id] and f'aria-pressed="true" data-testid="heart-{first.id}"' in body
    staff(client, world, "compliance")  # read-only, and still hearts for itself
    assert rows(text(client.get(LIST, query_string={"aba": "favoritos"}))) == []
    assert client.post(f"{LIST}/{second.id}/favorito").status_code == 302
    assert rows(text(client.get(LIST, query_string={"aba": "favoritos"}))) == [second.id]
    staff(client, world, "comercial")
    assert rows(text(client.get(LIST, query_string={"aba": "favoritos"}))) == [first.id]
    client.post(f"{LIST}/{first.id}/favorito", data={"next": f"{LIST}?aba=favoritos"})  # the heart again: removed
    assert rows(text(client.get(LIST, query_string={"aba": "favoritos"}))) == []


@pytest.mark.parametrize("next_url", ["https://evil.example/", "//evil.example/x", "/backoffice/usuarios", ""])
def test_the_heart_goes_back_only_to_our_pages(app_ctx, world, client, frozen, next_url):
    deal = factories.deal(world.staff_comercial)
    response = staff(client, world).post(f"{LIST}/{deal.id}/favorito", data={"next": next_url})
    assert response.headers["Location"] == f"{LIST}/{deal.id}"


def test_filters_by_type_stage_and_name(app_ctx, world, client, frozen):
    private = factories.deal(world.staff_comercial, DealType.PRIVATE, name="Backup dos servidores",
                             customer_name="Loja Gama")
    services = factories.deal(world.staff_comercial, DealType.SERVICES_COSELL, name="Migração",
                              customer_name="Metalúrgica Alfa")
    service.mark_stage(services, DealStage.QUALIFIED, actor=comercial(world))
    staff(client, world)

    def shown(**args):
        return rows(text(client.get(LIST, query_string={"aba": "saida", **args})))

    assert shown(tipo="private") == [private.id]
    assert shown(etapa="qualified") == [services.id]
    assert shown(q="gama") == [private.id] and shown(q="MIGRA") == [services.id]
    response = client.get(LIST, query_string={"aba": "saida", "tipo": "consultoria", "etapa": "fechado"})
    assert response.status_code == 422
    body = text(response)
    assert "Tipo não reconhecido: “consultoria”" in body and "Etapa não reconhecida: “fechado”" in body
    assert rows(body) == [services.id, private.id]


def test_the_list_has_pages(app_ctx, world, client, frozen, monkeypatch):
    monkeypatch.setattr(cosell_views, "PER_PAGE", 2)
    deals = [factories.deal(world.staff_comercial, name=f"Negócio {n}") for n in range(3)]
    staff(client, world)
    first = text(client.get(LIST, query_string={"aba": "saida"}))
    assert rows(first) == [deals[2].id, deals[1].id] and "pagina=2" in first
    assert rows(text(client.get(LIST, query_string={"aba": "saida", "pagina": 2}))) == [deals[0].id]
    assert rows(text(client.get(LIST, query_string={"aba": "saida", "pagina": 10**9}))) == []


# ---------------------------------------------------------------- the referral form

def test_comercial_creates_an_outbound_deal(app_ctx, world, client, frozen):
    staff(client, world)
    assert client.get(f"{LIST}/novo").status_code == 200
    response = client.post(f"{LIST}/novo", data=form())
    assert response.status_code == 302
    deal = db.session.scalars(select(Deal)).one()
    assert response.headers["Location"] == f"{LIST}/{deal.id}"
    assert (deal.stage, deal.estimated_value_minor, deal.currency, deal.crm_id) == (
        DealStage.CREATED, 1_234_567_89, "BRL", "OPP-0042")
    assert deal.account_managed_by_microsoft is True and [m.name for m in deal.team] == ["Ana Souza"]
    body = text(client.get(response.headers["Location"]))
    assert "Negócio “Migração para o Azure — Metalúrgica Alfa” criado no estágio Criado (10%)." in body
    assert "R$ 1.234.567,89" in body and 'data-stage="created" data-marked="1"' in body


@pytest.mark.parametrize(("typed", "minor"), [("1.234,56", 123_456), ("R$ 25.000", 2_500_000), ("25000", 2_500_000),
                                              ("1.234.567", 123_456_700), ("10,5", 1050)])
def test_the_value_is_typed_the_brazilian_way(app_ctx, world, client, frozen, typed, minor):
    assert staff(client, world).post(f"{LIST}/novo", data=form(estimated_value=typed)).status_code == 302
    assert db.session.scalars(select(Deal)).one().estimated_value_minor == minor


def test_an_ip_co_sell_deal_in_dollars_with_a_solution(app_ctx, world, client, frozen):
    response = staff(client, world).post(f"{LIST}/novo", data=form(
        deal_type="ip_cosell", currency="USD", estimated_value="30.000,00", partner_role="", solution_area="",
        solution_play="", marketplace_intent="yes", microsoft_accepted="y",
        **{"solutions-0-name": "Backup em Nuvem", "solutions-0-ip_cosell_ready": "y"}))
    assert response.status_code == 302
    deal = db.session.scalars(select(Deal)).one()
    assert (deal.deal_type, deal.estimated_value_minor, deal.marketplace_intent, deal.microsoft_accepted) == (
        "ip_cosell", 30_000_00, "yes", True)
    assert [(s.name, s.ip_cosell_ready) for s in deal.solutions] == [("Backup em Nuvem", True)]


@pytest.mark.parametrize(("overrides", "field_id", "message"), [
    ({"team-0-phone": ""}, "team-0-phone", "Informe o telefone do membro da equipe."),
    ({"partner_role": ""}, "partner_role", "Informe a função do parceiro: é obrigatória em co-sell de serviços."),
    ({"solution_play": ""}, "solution_play", "Informe o solution play: é obrigatório em co-sell de serviços."),
    ({"estimated_value": "mil reais"}, "estimated_value", "Não foi possível ler o valor: use como 1.234,56."),
    ({"estimated_value": ""}, "estimated_value", "Informe o valor estimado do negócio, como 1.234,56."),
    ({"estimated_value": "1234.56"}, "estimated_value",
     "Use vírgula para os centavos e ponto para os milhares, como 1.234,56."),
    ({"estimated_value": "-10,00"}, "estimated_value", "O valor estimado deve ser maior que zero."),
    ({"estimated_close_date": "31/02/2026"}, "estimated_close_date", "Data inválida: use dd/mm/aaaa."),
    ({"estimated_close_date": "2026-03-09"}, "estimated_close_date",
     "A data prevista de fechamento deve ser hoje ou uma data futura."),
    ({"notes": ""}, "notes", "Escreva as anotações: o problema do cliente e a ajuda que se espera da Microsoft."),
    ({"customer_contact_email": "contato@"}, "customer_contact_email",
     "Informe um e-mail válido para o contato do cliente."),
])
def test_a_refusal_is_shown_under_its_field_and_the_input_is_kept(app_ctx, world, client, frozen, overrides,
                                                                   field_id, message):
    response = staff(client, world).post(f"{LIST}/novo", data=form(**overrides))
    assert response.status_code == 422
    body = text(response)
    assert error_under(body, field_id) == message
    assert 'value="Metalúrgica Alfa Ltda"' in body and 'value="OPP-0042"' in body
    assert ("Sair do datacenter próprio" in body) is ("notes" not in overrides)
    assert db.session.scalars(select(Deal)).all() == []


def test_section_refusals_for_team_and_solutions(app_ctx, world, client, frozen):
    staff(client, world)
    body = text(client.post(f"{LIST}/novo", data=form(**{"team-0-name": "", "team-0-phone": "",
                                                          "team-0-email": ""})))
    assert "Adicione pelo menos um membro da equipe com nome, telefone e e-mail." in body
    response = client.post(f"{LIST}/novo", data=form(deal_type="solution_assessment", **{
        "solutions-0-name": "Avaliação de segurança", "solutions-1-name": "Avaliação de dados"}))
    assert response.status_code == 422
    assert "Uma avaliação de solução tem exatamente uma solução (informadas: 2)." in text(response)
    response = client.post(f"{LIST}/novo", data=form(deal_type="ip_cosell", partner_role=""))
    assert "Co-sell de IP precisa de pelo menos uma solução." in text(response)


def test_staff_register_a_received_referral(app_ctx, world, client, frozen):
    staff(client, world)
    page = text(client.get(f"{LIST}/indicacao-recebida"))
    assert "API de referências do Partner Center" in page
    assert 'id="deal_type"' in page and 'value="private"' not in page  # Microsoft sends co-sell, partners P2P
    response = client.post(f"{LIST}/indicacao-recebida", data=form(microsoft_accepted="y"))
    assert response.status_code == 302
    deal = db.session.scalars(select(Deal)).one()
    assert (deal.direction, deal.stage, deal.microsoft_accepted) == ("inbound", DealStage.RECEIVED, True)
    body = text(client.get(response.headers["Location"]))
    assert "aceite ou recuse em até 14 dias" in body and 'data-testid="expiry-note"' in body
    assert text(client.post(f"{LIST}/indicacao-recebida", data=form(deal_type="private"))).count(
        "Indicações recebidas são de co-sell de IP") == 1


def test_an_edit_shows_the_deal_and_saves_changes(app_ctx, world, client, frozen):
    deal = factories.deal(world.staff_comercial)
    staff(client, world)
    page = text(client.get(f"{LIST}/{deal.id}/editar"))
    assert 'value="150.000,00"' in page and 'value="Ana Souza"' in page and 'name="team-1-name"' in page
    response = client.post(f"{LIST}/{deal.id}/editar", data=form(
        name=deal.name, estimated_value="175.000,00", location="PT", deal_type="p2p"))
    assert response.status_code == 302  # the type and the location are not inputs there: they stay
    db.session.expire_all()
    deal = db.session.get(Deal, deal.id)
    assert (deal.estimated_value_minor, deal.location, deal.deal_type) == (175_000_00, "BR", "services_cosell")


# ---------------------------------------------------------------- the lifecycle on the page

def test_the_lifecycle_through_the_buttons(app_ctx, world, client, frozen):
    deal = factories.deal(world.staff_comercial, DealType.SERVICES_COSELL, inbound=True)
    staff(client, world)
    url = f"{LIST}/{deal.id}"
    response = client.post(f"{url}/recusar", data={"decline_reason": ""})
    assert response.status_code == 422
    assert error_under(text(response), "decline_reason") == "Informe o motivo da recusa."
    assert client.post(f"{url}/aceitar").status_code == 302
    body = text(client.get(url))
    assert 'data-testid="deal-stage">Aceito · 10%' in body and "Marcar Qualificado (20%)" in body
    response = client.post(f"{url}/ganho")
    assert response.status_code == 422
    assert "Ganho só depois de marcar todas as etapas anteriores. Falta marcar: Qualificado, Desenvolvido, " \
           "Proposto, Negociado." in text(response)
    response = client.post(f"{url}/etapa", data={"stage": "proposed"})
    assert response.status_code == 422 and "Marque as etapas em ordem: a próxima é Qualificado." in text(response)
    for stage in ("qualified", "developed", "proposed", "negotiated"):
        assert client.post(f"{url}/etapa", data={"stage": stage}).status_code == 302
    assert "Marcar como ganho" in text(client.get(url))
    assert client.post(f"{url}/ganho").status_code == 302
    body = text(client.get(url))
    assert 'data-testid="deal-stage">Ganho · 100%' in body and 'data-testid="terminal-note"' in body
    assert 'data-testid="eligibility"' in body and f"{url}/editar" not in body
    response = client.post(f"{url}/perdido", data={"lost_reason": "tarde demais"})
    assert response.status_code == 422 and "está encerrado (Ganho) e não pode mais ser alterado" in text(response)
    assert client.get(f"{url}/editar").status_code == 302


def test_the_eligibility_shows_each_criterion_and_the_rate(app_ctx, world, client):
    actor = comercial(world)
    created = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)
    with clock.frozen(created):
        deal = factories.deal(world.staff_comercial, DealType.IP_COSELL, estimated_value_minor=150_000_00,
                              currency="BRL",
                         account_managed_by_microsoft=True, microsoft_accepted=True)
        for stage in service.SALES_STAGES:
            service.mark_stage(deal, stage, actor=actor)
    with clock.frozen(created + timedelta(hours=71)):
        service.win(deal, actor=actor)
        body = text(staff(client, world).get(f"{LIST}/{deal.id}"))
    assert criteria(body) == {"ip_solution": "1", "deal_type": "1", "microsoft_accepted": "1", "value": "1",
                              "managed_account": "1", "gap": "0"}
    assert ("R$ 150.000,00 × 0,18 (taxa de câmbio BRL→USD configurada no portal) = US$ 27.000,00; "
            "mínimo US$ 25.000,00.") in html.unescape(body)
    assert "71 h 00 min depois (mínimo 72 h)" in body and 'data-testid="eligible">não elegível' in body


def test_the_rate_setting_decides_the_conversion(app_ctx, world, client, monkeypatch):
    monkeypatch.setitem(app_ctx.config, "COSELL_USD_RATES", "BRL=0.1")
    actor = comercial(world)
    created = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)
    with clock.frozen(created):
        deal = factories.deal(world.staff_comercial, DealType.IP_COSELL, estimated_value_minor=150_000_00,
                              currency="BRL")
        for stage in service.SALES_STAGES:
            service.mark_stage(deal, stage, actor=actor)
    with clock.frozen(created + timedelta(hours=72)):
        service.win(deal, actor=actor)
        body = html.unescape(text(staff(client, world).get(f"{LIST}/{deal.id}")))
    assert criteria(body)["value"] == "0" and criteria(body)["gap"] == "1"
    assert "× 0,1 (taxa de câmbio BRL→USD configurada no portal) = US$ 15.000,00" in body


def test_an_open_deal_shows_no_eligibility(app_ctx, world, client, frozen):
    body = text(staff(client, world).get(f"{LIST}/{factories.deal(world.staff_comercial).id}"))
    assert 'data-testid="eligibility"' not in body and "Ganho” fica disponível depois de marcar" in body


def test_upgrade_and_close_as_error_on_the_page(app_ctx, world, client, frozen):
    deal = factories.deal(world.staff_comercial, DealType.PRIVATE)
    staff(client, world)
    url = f"{LIST}/{deal.id}"
    response = client.post(f"{url}/converter", data={"upgrade_type": "services_cosell"})
    assert response.status_code == 422
    assert error_under(text(response), "upgrade_partner_role") == \
        "Informe a função do parceiro: é obrigatória em co-sell de serviços."
    response = client.post(f"{url}/converter", data={
        "upgrade_type": "services_cosell", "upgrade_partner_role": "solution_design",
        "upgrade_solution_area": "data_ai", "upgrade_solution_play": "Innovate with Azure AI"})
    assert response.status_code == 302
    body = text(client.get(url))
    assert "Negócio convertido em Co-sell de serviços." in body and 'data-testid="upgrade-form"' not in body
    response = client.post(f"{url}/erro", data={"error_reason": ""})
    assert response.status_code == 422 and "Informe o motivo do erro" in error_under(text(response), "error_reason")
    assert client.post(f"{url}/erro", data={"error_reason": "Negócio duplicado do nº 12."}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Deal, deal.id).stage == DealStage.ERROR


# ---------------------------------------------------------------- who may do what

ACTIONS = ["aceitar", "recusar", "etapa", "ganho", "perdido", "erro", "converter", "editar"]


@pytest.mark.parametrize("role", ["financeiro", "compliance", "suporte"])
def test_read_only_staff_see_deals_and_act_on_nothing(app_ctx, world, client, frozen, role):
    deal = factories.deal(world.staff_comercial, DealType.SERVICES_COSELL, inbound=True)
    staff(client, world, role)
    list_page = client.get(LIST)
    assert list_page.status_code == 200 and rows(text(list_page)) == [deal.id]
    assert "Novo negócio" not in text(list_page) and "Venda conjunta" in text(list_page)
    body = text(client.get(f"{LIST}/{deal.id}"))
    assert "Aceitar" not in body and 'data-testid="decline-form"' not in body
    for action in ACTIONS:
        assert client.post(f"{LIST}/{deal.id}/{action}").status_code == 403, action
    for path in ("novo", "indicacao-recebida"):
        assert client.get(f"{LIST}/{path}").status_code == 403
        assert client.post(f"{LIST}/{path}", data=form()).status_code == 403
    db.session.expire_all()
    assert db.session.get(Deal, deal.id).stage == DealStage.RECEIVED


@pytest.mark.parametrize("role", ["comercial", "admin"])
def test_comercial_and_admin_act(app_ctx, world, client, frozen, role):
    deal = factories.deal(world.staff_comercial, DealType.SERVICES_COSELL, inbound=True)
    staff(client, world, role)
    assert "Aceitar" in text(client.get(f"{LIST}/{deal.id}"))
    assert client.post(f"{LIST}/{deal.id}/aceitar").status_code == 302
    db.session.expire_all()
    assert db.session.get(Deal, deal.id).stage == DealStage.ACCEPTED


@pytest.mark.parametrize("role", ["master", "adm", "cobranca", "suporte"])
def test_customers_get_404(app_ctx, world, client, frozen, role):
    deal = factories.deal(world.staff_comercial)
    sign_in(client, getattr(world, role))
    for url in (LIST, f"{LIST}/{deal.id}", f"{LIST}/novo"):
        assert client.get(url).status_code == 404
    assert client.post(f"{LIST}/{deal.id}/favorito").status_code == 404


def test_an_unknown_deal_is_404(app_ctx, world, client, frozen):
    staff(client, world)
    assert client.get(f"{LIST}/999999").status_code == 404
    assert client.post(f"{LIST}/999999/aceitar").status_code == 404


def test_field_errors_helper_sees_the_refusals(app_ctx, world, client, frozen):
    response = staff(client, world).post(f"{LIST}/novo", data=form(name="", notes=""))
    assert {"Informe o nome do negócio.", "Escreva as anotações: o problema do cliente e a ajuda que se espera "
            "da Microsoft."} <= set(field_errors(response))
