""""Cancelar" and "Rescisão de contrato" as a person uses them: reason → consequences → password.

Unless a test says otherwise, the day is 2026-03-11 15:00 in São Paulo (18:00 UTC), Demo Tecnologia is billed on
day 1 (period 2026-03-01 → 2026-04-01, 31 days) and a license costs R$ 78,90 a month. A subscription from
`factories.subscription` was bought 60 days earlier: its term renews on 10/01/2027 and its window is closed.
"""

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from portal.accounts.models import OrganizationStatus
from portal.cancellations.models import CancellationRequest, CancellationStatus
from portal.extensions import db
from portal.shared import clock
from portal.shared.audit import Actor, AuditEvent, AuditTag
from portal.subscriptions import service
from portal.subscriptions.models import Order, OrderStatus, Quote, SubscriptionStatus
from tests import factories
from tests.conftest import sign_in
from tests.html import alerts, field_errors, section, text, textarea, words

MARCH_11 = datetime(2026, 3, 11, 18, 0, tzinfo=UTC)  # 15:00 in São Paulo
REASON = "Vamos migrar toda a equipe para outro fornecedor no próximo trimestre."
STAFF = "equipe@portal.example.com"


@pytest.fixture
def march(app_ctx, world):
    world.demo.billing_day = 1
    world.demo.microsoft_tenant_id = "tenant-demo"
    db.session.commit()
    with clock.frozen(MARCH_11):
        yield clock


# ---------------------------------------------------------------- steps

def hidden(response, name: str) -> str:
    tag = re.search(rf'<input[^>]*name="{name}"[^>]*>', text(response)).group(0)
    return html.unescape(re.search(r'value="([^"]*)"', tag).group(1))


def ask_cancel(client, subscription, category="", reason=""):
    return client.post(f"/licencas/{subscription.id}/cancelar", data={"category": category, "reason": reason})


def token_of(response) -> str:
    assert response.status_code == 302, text(response)
    found = re.fullmatch(r"/licencas/cancelamento/(\w+)", response.headers["Location"])
    assert found, response.headers["Location"]
    return found.group(1)


def confirm(client, token, password=factories.PASSWORD):
    return client.post(f"/licencas/cancelamento/{token}/confirmar", data={"password": password})


def ask_rescission(client, reason=REASON):
    return client.post("/rescisao", data={"reason": reason})


def confirm_rescission(client, preview_page, password=factories.PASSWORD):
    return client.post("/rescisao/confirmar", data={"reason": hidden(preview_page, "reason"),
                                                    "fingerprint": hidden(preview_page, "fingerprint"),
                                                    "password": password})


def requests() -> list[CancellationRequest]:
    return list(db.session.scalars(select(CancellationRequest).order_by(CancellationRequest.id)))


def quotes() -> int:
    return db.session.scalar(select(func.count(Quote.id)))


# ---------------------------------------------------------------- buttons and who may

@pytest.mark.parametrize("role", ["master", "adm"])
def test_master_and_adm_see_cancelar_on_each_active_license_and_the_rescission_link(march, world, login_as, role):
    active = factories.subscription(world.demo)
    cancelled = factories.subscription(world.demo, quantity=0, status=SubscriptionStatus.CANCELLED)
    client = login_as(role)
    listing = client.get("/licencas")
    assert f'href="/licencas/{active.id}/cancelar"' in text(listing)
    assert f'href="/licencas/{cancelled.id}/cancelar"' not in text(listing)
    assert "Rescisão de contrato" in section(listing, "rescission-link") and 'href="/rescisao"' in text(listing)
    nav = text(listing)[text(listing).index('data-testid="nav"'):]
    assert 'href="/rescisao"' not in nav[:nav.index("</ul>")]  # not a main navigation item
    assert section(client.get(f"/licencas/{active.id}"), "cancel") == "Cancelar"


@pytest.mark.parametrize("role", ["cobranca", "suporte"])
def test_cobranca_and_suporte_may_not_cancel_or_rescind(march, world, login_as, role):
    subscription = factories.subscription(world.demo)
    zero = service.quote_quantity_change(organization=world.demo, subscription=subscription, new_quantity=0,
                                         actor=Actor.for_user(world.adm), category="custo", reason=REASON)
    client = login_as(role)
    if role == "cobranca":
        listing = text(client.get("/licencas"))
        assert "/cancelar" not in listing and 'href="/rescisao"' not in listing
    assert client.get(f"/licencas/{subscription.id}/cancelar").status_code == 403
    assert ask_cancel(client, subscription, "custo", REASON).status_code == 403
    assert client.get(f"/licencas/cancelamento/{zero.token}").status_code == 403
    assert confirm(client, zero.token).status_code == 403
    assert client.get("/rescisao").status_code == 403 and ask_rescission(client).status_code == 403
    assert client.post("/rescisao/confirmar", data={"password": factories.PASSWORD}).status_code == 403
    assert client.post("/rescisao/retirar", data={"password": factories.PASSWORD}).status_code == 403
    assert subscription.renewal_quantity is None and requests() == []


def test_another_organizations_license_is_not_found(march, world, login_as):
    theirs = factories.subscription(world.other)
    their_zero = service.quote_quantity_change(organization=world.other, subscription=theirs, new_quantity=0,
                                               actor=Actor.for_user(world.other_master), category="custo",
                                               reason=REASON)
    client = login_as("master")
    assert client.get(f"/licencas/{theirs.id}/cancelar").status_code == 404
    assert ask_cancel(client, theirs, "custo", REASON).status_code == 404
    assert client.get(f"/licencas/cancelamento/{their_zero.token}").status_code == 404
    assert confirm(client, their_zero.token).status_code == 404
    mine = factories.subscription(world.demo)
    form = client.get(f"/licencas/{mine.id}/cancelar?orcamento={their_zero.token}")  # not a way to peek
    assert form.status_code == 200 and REASON not in text(form)
    assert theirs.renewal_quantity is None and requests() == []


def test_an_increase_quote_is_not_a_cancellation(march, world, login_as):
    subscription = factories.subscription(world.demo)
    increase = service.quote_quantity_change(organization=world.demo, subscription=subscription, new_quantity=12,
                                             actor=Actor.for_user(world.adm))
    client = login_as("adm")
    assert client.get(f"/licencas/cancelamento/{increase.token}").status_code == 404
    assert confirm(client, increase.token).status_code == 404


# ---------------------------------------------------------------- the reason

def test_a_missing_or_short_reason_comes_back_with_the_text_kept(march, world, login_as):
    subscription = factories.subscription(world.demo)
    client = login_as("adm")
    form = client.get(f"/licencas/{subscription.id}/cancelar")
    assert form.status_code == 200
    assert "Rescisão de contrato" in text(form) and "Migração para outro fornecedor" in text(form)
    response = ask_cancel(client, subscription, reason="caro demais")
    assert response.status_code == 422
    assert field_errors(response) == ["Escolha o motivo do cancelamento.",
                                      "Explique o motivo com pelo menos 20 caracteres."]
    assert textarea(response, "reason") == "caro demais"
    response = ask_cancel(client, subscription, category="custo", reason="   ")
    assert response.status_code == 422 and field_errors(response) == [
        "Explique o motivo com pelo menos 20 caracteres."]
    assert '<option selected value="custo">' in text(response)
    assert quotes() == 0 and requests() == []


# ---------------------------------------------------------------- consequences, password, confirmation

def test_the_consequences_show_the_exact_credit_and_dates(march, world, login_as):
    subscription = factories.subscription(world.demo, quantity=10)
    client = login_as("adm")
    increase = service.quote_quantity_change(organization=world.demo, subscription=subscription, new_quantity=13,
                                             actor=Actor.for_user(world.adm))
    service.confirm_quote(organization=world.demo, token=increase.token, actor=Actor.for_user(world.adm))
    clock.advance(timedelta(days=4))  # 03-15, 96 h later
    sign_in(client, world.adm)
    page = client.get(f"/licencas/cancelamento/{token_of(ask_cancel(client, subscription, 'custo', REASON))}")
    assert page.status_code == 200
    lines = section(page, "quote-lines")
    assert "−3 licenças dentro da janela de 7 dias (até 18/03/2026 15:00): crédito de R$ 129,80" in lines
    assert ("10 licenças saem no fim do termo, em 10/01/2027, sem crédito: a janela de redução de 168 horas já "
            "terminou") in lines
    assert section(page, "ends-now") == (
        "3 licenças, com crédito de R$ 129,80 para a organização, abatido das próximas faturas")
    assert section(page, "ends-later") == (
        "10 licenças seguem em uso até 10/01/2027, sem crédito; a assinatura termina nesse dia")
    assert f"Motivo informado: Custo — {REASON}" in section(page, "cancellation")
    assert "Confirmar cancelamento" in section(page, "confirm-form") and 'type="password"' in text(page)


def test_a_wrong_password_is_refused_with_422_and_nothing_changes(march, world, login_as, outbox):
    subscription = factories.subscription(world.demo, quantity=4, added_at=clock.now())
    client = login_as("adm")
    token = token_of(ask_cancel(client, subscription, "nao_utiliza", REASON))
    wrong = confirm(client, token, "nao-e-essa")
    assert wrong.status_code == 422
    assert field_errors(wrong) == ["Senha incorreta. Nada foi alterado."]
    assert 'value="nao-e-essa"' not in text(wrong)
    empty = confirm(client, token, "")
    assert empty.status_code == 422 and field_errors(empty) == ["Preencha este campo."]
    db.session.expire_all()
    assert (subscription.quantity, subscription.status, subscription.renewal_quantity) == (4, "active", None)
    assert requests() == [] and db.session.scalar(select(func.count(Order.id))) == 0 and outbox == []
    assert db.session.scalar(select(func.count(AuditEvent.seq)).where(
        AuditEvent.tag == AuditTag.CANCELLATION_PASSWORD_REFUSED)) == 1


def test_cancelling_with_the_password_records_it_and_tells_masters_and_staff(march, world, login_as, outbox):
    subscription = factories.subscription(world.demo, quantity=2, added_at=clock.now())
    client = login_as("adm")
    token = token_of(ask_cancel(client, subscription, "nao_utiliza", REASON))
    done = confirm(client, token)
    assert done.status_code == 302 and done.headers["Location"] == "/licencas"
    listing = client.get("/licencas")
    assert alerts(listing) == [
        "Cancelamento registrado com o motivo informado. A alteração será refletida em até 30 minutos."]
    assert subscription.status == SubscriptionStatus.CANCELLED
    [request] = requests()
    assert (request.requested_by_id, request.requester_roles, request.ip, request.category) == (
        world.adm.id, "adm", "127.0.0.1", "nao_utiliza")
    staff = [m for m in outbox if m["To"] == STAFF]
    master = [m for m in outbox if m["To"] == world.master.email and m["Subject"].startswith("Cancelamento")]
    assert len(staff) == len(master) == 1
    for message in staff + master:
        assert f"Motivo: Não utiliza mais — {REASON}" in message.get_body(("plain",)).get_content()
    confirmed = client.get(f"/licencas/cancelamento/{token}")
    assert "Este cancelamento foi confirmado em 11/03/2026 15:00." in section(confirmed, "confirmed")
    assert 'name="password"' not in text(confirmed)


def test_a_cancellation_comes_back_to_the_page_of_licencas_that_lists_the_cancelled_license(march, world, login_as):
    # 27 licenses are two pages; a cancelled one is listed after the active ones, so the first one, once cancelled,
    # is on the second page: that is where the confirmation comes back to, its row in sight.
    subscriptions = [factories.subscription(world.demo, quantity=2, added_at=clock.now()) for _ in range(27)]
    db.session.commit()
    client = login_as("adm")
    done = confirm(client, token_of(ask_cancel(client, subscriptions[0], "nao_utiliza", REASON)))
    assert done.status_code == 302 and done.headers["Location"] == "/licencas?pagina=2"
    back = client.get(done.headers["Location"])
    assert f'data-testid="license-{subscriptions[0].id}"' in text(back)
    assert alerts(back) == [
        "Cancelamento registrado com o motivo informado. A alteração será refletida em até 30 minutos."]
    # (with one page, the confirmation comes back to "/licencas": the test above)


def test_an_expired_quote_asks_to_look_again_with_the_reason_kept(march, world, login_as):
    subscription = factories.subscription(world.demo)
    client = login_as("adm")
    token = token_of(ask_cancel(client, subscription, "custo", REASON))
    clock.advance(timedelta(hours=9, minutes=1))  # 00:01 the next day in São Paulo
    sign_in(client, world.adm)
    assert "Estes valores expiraram" in section(client.get(f"/licencas/cancelamento/{token}"), "expired")
    response = confirm(client, token)
    assert response.headers["Location"] == f"/licencas/{subscription.id}/cancelar?orcamento={token}"
    form = client.get(response.headers["Location"])
    assert alerts(form) == ["Este orçamento expirou. Confira os valores atualizados antes de confirmar."]
    assert '<option selected value="custo">' in text(form) and textarea(form, "reason") == REASON
    assert subscription.renewal_quantity is None and requests() == []


# ---------------------------------------------------------------- "Rescisão de contrato"

def test_rescission_end_to_end_and_withdrawal_within_the_grace_period(march, world, login_as, outbox):
    plain = factories.subscription(world.demo, quantity=10)
    recent = factories.subscription(world.demo, quantity=3, added_at=clock.now())
    adm = login_as("adm")
    form = adm.get("/rescisao")
    assert form.status_code == 200 and section(form, "category") == "" and 'value="Rescisão de contrato"' in text(form)
    short = ask_rescission(adm, "acabou o contrato")
    assert short.status_code == 422 and field_errors(short) == ["Explique o motivo com pelo menos 20 caracteres."]
    assert textarea(short, "reason") == "acabou o contrato"
    preview = ask_rescission(adm)
    assert preview.status_code == 200
    assert f"Motivo informado: Rescisão de contrato — {REASON}" in section(preview, "rescission")
    assert "o contrato termina em 11/03/2027" in section(preview, "rescission")  # the recent one's term end
    assert "10 licenças seguem em uso até 10/01/2027, quando a assinatura termina, sem crédito." in section(
        preview, f"item-{plain.id}")
    assert ("3 licenças ainda estão na janela de 7 dias: podem, em vez disso, ser canceladas agora com crédito "
            "pelo botão “Cancelar” da licença, até 18/03/2026 15:00.") in section(preview, f"item-{recent.id}")
    wrong = confirm_rescission(adm, preview, "errada")
    assert wrong.status_code == 422 and field_errors(wrong) == ["Senha incorreta. Nada foi alterado."]
    assert world.demo.status == OrganizationStatus.ACTIVE and requests() == []
    outbox.clear()
    done = confirm_rescission(adm, preview)
    assert done.headers["Location"] == "/rescisao"
    status = adm.get("/rescisao")
    assert "O contrato está em rescisão." in section(status, "rescinding")
    assert "Só um Master pode retirar a rescisão." in section(status, "withdrawal")
    assert world.demo.status == OrganizationStatus.RESCINDING
    assert {m["To"] for m in outbox} == {world.adm.email, world.master.email, STAFF}
    listing = adm.get("/licencas")
    assert "O contrato está em rescisão" in section(listing, "contract-rescinding")
    assert "Alterar quantidades" not in text(listing) and f"/licencas/{recent.id}/cancelar" in text(listing)
    assert adm.post("/rescisao/retirar", data={"password": factories.PASSWORD}).status_code == 403

    master = sign_in(adm, world.master)
    clock.advance(timedelta(minutes=30))
    sign_in(master, world.master)
    status = master.get("/rescisao")
    assert "um Master pode retirar a rescisão" in section(status, "withdrawal")
    assert 'action="/rescisao/retirar"' in text(status)
    wrong = master.post("/rescisao/retirar", data={"password": "errada"})
    assert wrong.status_code == 422 and field_errors(wrong) == ["Senha incorreta. Nada foi alterado."]
    back = master.post("/rescisao/retirar", data={"password": factories.PASSWORD})
    assert back.headers["Location"] == "/licencas"
    assert world.demo.status == OrganizationStatus.ACTIVE
    assert (plain.renewal_quantity, recent.renewal_quantity) == (None, None)
    assert all(r.status == CancellationStatus.WITHDRAWN for r in requests())
    assert {o.status for o in db.session.scalars(select(Order))} == {OrderStatus.WITHDRAWN}
    assert "Alterar quantidades" in text(master.get("/licencas"))


def test_after_the_grace_period_the_withdrawal_is_refused_with_a_clear_message(march, world, login_as):
    factories.subscription(world.demo, quantity=10)
    client = login_as("master")
    assert confirm_rescission(client, ask_rescission(client)).status_code == 302
    clock.advance(timedelta(minutes=61))
    sign_in(client, world.master)
    assert "O prazo para retirar a rescisão terminou em 11/03/2026 16:00" in section(
        client.get("/rescisao"), "withdrawal")
    refused = client.post("/rescisao/retirar", data={"password": factories.PASSWORD})
    assert refused.status_code == 422
    assert section(refused, "refusal").startswith("O prazo para retirar a rescisão terminou em 11/03/2026 16:00.")
    assert world.demo.status == OrganizationStatus.RESCINDING


def test_a_changed_contract_shows_the_consequences_again(march, world, login_as):
    factories.subscription(world.demo, quantity=10)
    client = login_as("adm")
    preview = ask_rescission(client)
    added = factories.subscription(world.demo, quantity=4)
    db.session.commit()
    response = confirm_rescission(client, preview)
    assert response.status_code == 422
    assert "As licenças mudaram desde a prévia" in " ".join(alerts(response))
    assert f'data-testid="item-{added.id}"' in text(response)
    assert world.demo.status == OrganizationStatus.ACTIVE and requests() == []
    assert confirm_rescission(client, response).status_code == 302
    assert world.demo.status == OrganizationStatus.RESCINDING


# ---------------------------------------------------------------- "Histórico"

def test_the_history_shows_cancellations_with_their_reason(march, world, login_as):
    subscription = factories.subscription(world.demo, quantity=10)
    adm = login_as("adm")
    increase = service.quote_quantity_change(organization=world.demo, subscription=subscription, new_quantity=11,
                                             actor=Actor.for_user(world.adm))
    service.confirm_quote(organization=world.demo, token=increase.token, actor=Actor.for_user(world.adm))
    confirm(adm, token_of(ask_cancel(adm, subscription, "custo", REASON)), "errada")
    confirm(adm, token_of(ask_cancel(adm, subscription, "custo", REASON)))
    history = sign_in(adm, world.master).get("/historico")
    page = text(history)
    sentences = [words(s) for s in re.findall(r'data-testid="history-sentence">(.*?)</td>', page, re.S)]
    product = subscription.product.name
    for sentence in (
        f"Adm Demo cancelou {product} (11 licenças); a assinatura termina em 10/01/2027. Crédito: R$ 53,45. "
        f"Motivo: Custo — {REASON}",
        f"Adm Demo aumentou {product} de 10 para 11 licenças (pró-rata R$ 53,45).",
        f"Adm Demo agendou a redução de {product} para 0 licenças na renovação, em 10/01/2027.",
        "Adm Demo digitou a senha errada ao confirmar um cancelamento ou rescisão; nada foi cancelado.",
    ):
        assert sentence in sentences, (sentence, sentences)


def test_the_pages_render_in_english_too(march, world, login_as):
    world.master.language = "en"
    db.session.commit()
    subscription = factories.subscription(world.demo, quantity=10)
    client = login_as("master")
    token = token_of(ask_cancel(client, subscription, "custo", REASON))
    for url in (f"/licencas/{subscription.id}/cancelar", f"/licencas/cancelamento/{token}", "/rescisao"):
        response = client.get(url)
        assert response.status_code == 200 and 'lang="en"' in text(response), url
    assert ask_rescission(client).status_code == 200


# ---------------------------------------------------------------- the words for one licence, some, and all (point 14a)

def rules(client, subscription) -> str:
    return section(client.get(f"/licencas/{subscription.id}/cancelar"), "cancel-rules")


def preview_banner(client, subscription) -> str:
    return section(client.get(f"/licencas/cancelamento/{token_of(ask_cancel(client, subscription, 'custo', REASON))}"),
                   "cancellation")


def test_one_licence_outside_the_window_is_not_called_the_others(march, world, login_as):
    subscription = factories.subscription(world.demo, quantity=1)
    client = login_as("adm")
    said = rules(client, subscription)
    assert "A licença segue em uso até o fim do termo, em 10/01/2027, sem crédito; a assinatura termina então." in said
    assert "As demais" not in said and "outras" not in said
    banner = preview_banner(client, subscription)
    assert "A licença segue em uso até 10/01/2027, quando a assinatura termina." in banner
    assert "As licenças" not in banner and "fora da janela" not in banner


def test_one_licence_inside_the_window_ends_now_and_nothing_remains(march, world, login_as):
    subscription = factories.subscription(world.demo, quantity=1, added_at=clock.now() - timedelta(hours=1))
    said = rules(login_as("adm"), subscription)
    assert ("Esta licença está dentro da janela: termina agora, com crédito proporcional, e a assinatura termina "
            "hoje.") in said
    assert "As demais" not in said and "segue em uso" not in said and "seguem em uso" not in said


def test_all_licences_and_some_licences_are_said_as_such(march, world, login_as):
    client = login_as("adm")
    old = factories.subscription(world.demo, quantity=5)
    said = rules(client, old)
    assert "Todas as 5 licenças seguem em uso até o fim do termo, em 10/01/2027" in said and "As demais" not in said
    assert "Todas as 5 licenças seguem em uso até 10/01/2027, quando a assinatura termina." in preview_banner(
        client, old)
    mixed = factories.subscription(world.demo, quantity=10)
    increase = service.quote_quantity_change(organization=world.demo, subscription=mixed, new_quantity=13,
                                             actor=Actor.for_user(world.adm))
    service.confirm_quote(organization=world.demo, token=increase.token, actor=Actor.for_user(world.adm))
    sign_in(client, world.adm)
    said = rules(client, mixed)
    assert "As outras 10 licenças seguem em uso até o fim do termo, em 10/01/2027" in said
    assert "3 licenças podem ser canceladas com crédito até" in said
    assert "As 10 licenças fora da janela seguem em uso até 10/01/2027" in preview_banner(client, mixed)
