"""The approvals pages: the rules form (money as Brazilians type it, errors with the input kept), the Adm's
"Confirmar" that lands on "aguardando aprovação", the Master's queue and decisions as the page's forms post them,
and the withdrawal."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from portal.approvals.models import ApprovalRequest, ApprovalStatus
from portal.extensions import db
from portal.shared import clock
from portal.subscriptions.models import Order, Subscription
from tests import factories
from tests.html import alerts, field_errors, follow, input_value, section, submission, text, visible

NOW = datetime(2026, 3, 11, 15, 0, tzinfo=UTC)


@pytest.fixture
def day(app_ctx, world):
    world.demo.billing_day = 1
    db.session.commit()
    with clock.frozen(NOW):
        yield clock


@pytest.fixture
def license_(day, world):
    found = factories.subscription(world.demo, quantity=10)
    db.session.commit()
    return found


def _set_rules(client, **data):
    return client.post("/aprovacoes/regras", data=data)


def test_the_rules_form_keeps_what_was_typed_and_says_what_is_wrong(day, login_as):
    client = login_as("master")
    bad = _set_rules(client, monthly="12,3,4", one_off="500", new_family="y")
    assert bad.status_code == 422
    assert input_value(bad, "monthly") == "12,3,4" and input_value(bad, "one_off") == "500"
    assert field_errors(bad) == ["Valor inválido: use o formato 1.234,56."]
    saved = _set_rules(client, monthly="R$ 300,00", one_off="", new_family="y")
    assert saved.status_code == 302
    assert follow(client, saved) == ["Regras de aprovação salvas."]
    page = client.get("/aprovacoes/regras")
    assert input_value(page, "monthly") == "300,00" and input_value(page, "one_off") == ""
    assert ("definiu as regras de aprovação de compras: valor mensal acima de R$ 300,00; produto de uma família "
            "nova.") in visible(client.get("/historico"))


def test_the_adms_increase_waits_and_the_master_approves_it(license_, world, login_as, client):
    master = login_as("master")
    _set_rules(master, monthly="300,00")
    adm = login_as("adm")
    asked = adm.post(f"/licencas/{license_.id}/alterar", data={"quantity": "15"})
    token = asked.headers["Location"].rsplit("/", 1)[-1]
    confirmed = adm.post(f"/licencas/orcamento/{token}/confirmar")
    request = db.session.scalar(select(ApprovalRequest))
    assert confirmed.headers["Location"] == f"/aprovacoes/{request.id}"
    page = adm.get(confirmed.headers["Location"])
    assert "aguardando aprovação" in section(page, "approval-status")
    assert "Este pedido precisa da aprovação de um Master" in " ".join(alerts(page))
    assert "valor mensal de R$ 394,50, acima do limite de R$ 300,00" in section(page, "approval-reasons")
    assert "decision-form" not in text(page)  # the Adm does not decide
    quote_page = visible(adm.get(f"/licencas/orcamento/{token}"))
    assert "Este orçamento foi enviado para a aprovação de um Master." in quote_page
    assert db.session.scalars(select(Order)).all() == []

    master = login_as("master")
    queue = master.get("/aprovacoes")
    assert f"nº {request.id}" in section(queue, "waiting")
    page = master.get(f"/aprovacoes/{request.id}")
    approved = master.post(f"/aprovacoes/{request.id}/aprovar",
                           data=submission(text(page), f"/aprovacoes/{request.id}/aprovar", comment="Pode seguir."))
    assert approved.status_code == 302
    done = master.get(approved.headers["Location"])
    assert "Compra aprovada e pedido registrado." in " ".join(alerts(done))
    assert "Pode seguir." in section(done, "decision-comment")
    assert section(done, "approval-orders").startswith("Pedido nº")
    assert db.session.get(Subscription, license_.id).quantity == 15
    assert "nothing-waiting" in text(master.get("/aprovacoes"))


def test_the_master_refuses_with_a_comment(license_, world, login_as):
    master = login_as("master")
    _set_rules(master, monthly="0,00")
    adm = login_as("adm")
    token = adm.post(f"/licencas/{license_.id}/alterar", data={"quantity": "11"}).headers["Location"].rsplit("/")[-1]
    adm.post(f"/licencas/orcamento/{token}/confirmar")
    request = db.session.scalar(select(ApprovalRequest))
    master = login_as("master")
    url, form = f"/aprovacoes/{request.id}/recusar", f"/aprovacoes/{request.id}/aprovar"  # "Recusar": formaction
    assert f'formaction="{url}"' in text(master.get(f"/aprovacoes/{request.id}"))
    empty = master.post(url, data=submission(text(master.get(f"/aprovacoes/{request.id}")), form))
    assert empty.status_code == 422
    assert field_errors(empty) == ["Escreva o motivo da recusa: quem pediu vai lê-lo."]
    refused = master.post(url, data=submission(text(empty), form, comment="Sem verba este mês."))
    assert follow(master, refused) == ["Compra recusada. Avisamos quem pediu."]
    assert db.session.get(ApprovalRequest, request.id).status == ApprovalStatus.REFUSED
    assert db.session.get(Subscription, license_.id).quantity == 10


def test_the_requester_withdraws(license_, world, login_as):
    _set_rules(login_as("master"), monthly="0,00")
    adm = login_as("adm")
    token = adm.post(f"/licencas/{license_.id}/alterar", data={"quantity": "11"}).headers["Location"].rsplit("/")[-1]
    page = adm.get(adm.post(f"/licencas/orcamento/{token}/confirmar").headers["Location"])
    request = db.session.scalar(select(ApprovalRequest))
    url = f"/aprovacoes/{request.id}/retirar"
    withdrawn = adm.post(url, data=submission(text(page), url))
    assert follow(adm, withdrawn) == ["Pedido de aprovação retirado. Nada foi pedido."]
    assert db.session.get(ApprovalRequest, request.id).status == ApprovalStatus.WITHDRAWN
    assert f"nº {request.id}" in section(adm.get("/aprovacoes/minhas"), "mine")


def test_a_stale_quote_is_shown_again_with_todays_pro_rata_before_it_is_confirmed(license_, world, login_as):
    _set_rules(login_as("master"), monthly="0,00")
    adm = login_as("adm")
    token = adm.post(f"/licencas/{license_.id}/alterar", data={"quantity": "11"}).headers["Location"].rsplit("/")[-1]
    adm.post(f"/licencas/orcamento/{token}/confirmar")  # 1 licence, 21 of 31 days: R$ 53,45
    request = db.session.scalar(select(ApprovalRequest))
    url = f"/aprovacoes/{request.id}/aprovar"
    with clock.frozen(datetime(2026, 3, 16, 15, 0, tzinfo=UTC)):  # 16 of 31 days left: R$ 40,72
        master = login_as("master")
        page = master.get(f"/aprovacoes/{request.id}")
        assert "Refazer os valores" in visible(page)
        repriced = master.post(url, data=submission(text(page), url))
        shown = master.get(repriced.headers["Location"])
        assert alerts(shown)[0] == ("O orçamento tinha expirado e foi refeito com a pró-rata de hoje: de R$ 53,45 para "
                                    "R$ 40,72 na próxima fatura. Confira os novos valores e aprove de novo para "
                                    "confirmar o pedido.")
        assert section(shown, "approval-charge") == "R$ 40,72" and "repriced" in text(shown)
        assert db.session.scalars(select(Order)).all() == []
        approved = master.post(url, data=submission(text(shown), url))
        assert "Compra aprovada e pedido registrado." in " ".join(follow(master, approved))
    assert db.session.get(Subscription, license_.id).quantity == 11
