"""The backoffice "Régua de cobrança" page (finance) and the Master's choice of who receives the reminders."""

import pytest
from sqlalchemy import func, select

from portal.billing import dunning
from portal.billing.models import DunningStep
from portal.extensions import db
from portal.shared.audit import AuditEvent, AuditTag
from tests.conftest import sign_in
from tests.html import alerts, field_errors, follow, input_value, section, shown, submission, textarea, visible

URL = "/backoffice/regua-de-cobranca"


@pytest.fixture
def finance(client, world):
    return sign_in(client, world.staff_financeiro)


def offsets() -> list[int]:
    db.session.expire_all()
    return [s.offset_days for s in dunning.steps()]


def step(offset: int) -> DunningStep:
    return db.session.scalar(select(DunningStep).where(DunningStep.offset_days == offset))


def test_the_page_lists_the_steps_in_words(app_ctx, finance):
    page = shown(finance.get(URL))
    listed = section(page, "dunning-steps")
    assert "3 dias antes do vencimento" in listed and "1 dia após o vencimento" in listed
    assert "7 dias após o vencimento" in listed and "Lembrete: a fatura {fatura} vence {prazo}" in listed


def test_the_billing_area_links_to_it(app_ctx, finance):
    assert f'href="{URL}"' in shown(finance.get("/backoffice/faturas"))


def test_finance_adds_a_step_through_the_rendered_form(app_ctx, finance):
    form = submission(shown(finance.get(URL)), URL, offset_days="-5", subject="Faltam {prazo}",
                      message="A fatura {fatura} vence {prazo}.")
    assert follow(finance, finance.post(URL, data=form)) == ["Etapa “5 dias antes do vencimento” adicionada à régua."]
    assert offsets() == [-5, -3, 1, 7]
    assert "5 dias antes do vencimento" in section(shown(finance.get(URL)), "dunning-steps")
    assert step(-5).active and step(-5).subject == "Faltam {prazo}"
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.tag == AuditTag.DUNNING_SCHEDULE_CHANGED))
    assert event.before is None and event.after["offset_days"] == -5 and event.actor_id is not None


def test_on_the_due_date_step(app_ctx, finance):
    form = submission(shown(finance.get(URL)), URL, offset_days="0", subject="Vence hoje",
                      message="A fatura {fatura} vence hoje.")
    assert finance.post(URL, data=form).status_code == 302
    assert "no vencimento" in section(shown(finance.get(URL)), "dunning-steps")


@pytest.mark.parametrize(("typed", "message"), [
    ({"offset_days": "dez"}, "inteiro"),
    ({"offset_days": ""}, "Informe o dia da etapa."),
    ({"offset_days": "120"}, "Informe um dia entre -60 (antes do vencimento) e +90 (depois)."),
    ({"offset_days": "-3"}, "Já existe uma etapa 3 dias antes do vencimento."),
    ({"message": ""}, "Preencha este campo."),
    ({"message": "x" * 2001}, "Use no máximo 2000 caracteres."),
    ({"subject": "x" * 151}, "Use no máximo 150 caracteres."),
    ({"message": "Olá {cliente}"}, "Marcador desconhecido: {cliente}."),
])
def test_bad_input_is_explained_and_nothing_typed_is_lost(app_ctx, finance, typed, message):
    values = {"offset_days": "-5", "subject": "Faltam {prazo}", "message": "A fatura {fatura} vence {prazo}.",
              **typed}
    response = finance.post(URL, data=submission(shown(finance.get(URL)), URL, **values))
    assert response.status_code == 422
    assert any(message in error for error in field_errors(response)), field_errors(response)
    assert input_value(response, "offset_days") == values["offset_days"]
    assert input_value(response, "subject") == values["subject"]
    assert textarea(response, "message") == values["message"]
    assert offsets() == [-3, 1, 7]


def test_finance_edits_a_step(app_ctx, finance):
    url = f"{URL}/{step(1).id}"
    page = shown(finance.get(url))
    assert input_value(page, "offset_days") == "1" and textarea(page, "message").startswith("A fatura {fatura}")
    form = submission(page, url, offset_days="2", subject="Venceu {prazo}", message="Pague hoje: {valor}.")
    assert follow(finance, finance.post(url, data=form)) == ["Etapa “2 dias após o vencimento” salva."]
    assert offsets() == [-3, 2, 7] and step(2).message == "Pague hoje: {valor}."
    bad = finance.post(url, data=submission(page, url, offset_days="7"))
    assert bad.status_code == 422 and "Já existe uma etapa 7 dias após o vencimento." in field_errors(bad)


def test_finance_deactivates_activates_and_removes_a_step(app_ctx, finance):
    page = shown(finance.get(URL))
    target = step(7)
    toggle = f"{URL}/{target.id}/ativa"
    assert follow(finance, finance.post(toggle, data=submission(page, toggle))) == [
        "Etapa “7 dias após o vencimento” desativada: este lembrete não é mais enviado."]
    assert step(7).active is False and dunning.active_offsets() == [-3, 1]
    assert "desativada" in section(shown(finance.get(URL)), "dunning-steps")
    assert follow(finance, finance.post(toggle, data=submission(page, toggle))) == [
        "Etapa “7 dias após o vencimento” ativada."]
    remove = f"{URL}/{target.id}/remover"
    assert 'data-confirm="Remover a etapa “7 dias após o vencimento” da régua? Ela deixa de ser enviada."' in page
    assert follow(finance, finance.post(remove, data=submission(page, remove))) == [
        "Etapa “7 dias após o vencimento” removida da régua."]
    assert offsets() == [-3, 1]
    assert finance.get(f"{URL}/{target.id}").status_code == 404
    assert finance.post(remove, data=submission(page, remove)).status_code == 404
    changes = db.session.scalar(select(func.count()).where(AuditEvent.tag == AuditTag.DUNNING_SCHEDULE_CHANGED))
    assert changes == 3


def test_the_preview_shows_the_email_of_a_step(app_ctx, finance):
    page = shown(finance.get(f"{URL}/{step(-3).id}/previa"))
    assert "vence em 3 dias" in section(page, "preview-subject")
    shown_text = visible(page)
    assert "Empresa Exemplo Ltda vence em 3 dias" in shown_text and "Linha digitável do boleto:" in shown_text


# ---------------------------------------------------------------- the Master's choice

CONTACTS = "/faturas/contatos"
CHOICE = "/faturas/contatos/lembretes"


def test_the_master_ticks_who_receives_the_reminders(app_ctx, world, client):
    master = sign_in(client, world.master, world.demo)
    page = shown(master.get(CONTACTS))
    form = submission(page, CHOICE)
    assert sorted(int(v) for v in form.getlist("users")) == sorted(
        [world.master_membership.id, world.cobranca_membership.id])  # today's default, ticked
    form.setlist("users", [str(world.adm_membership.id)])
    assert follow(master, master.post(CHOICE, data=form)) == ["Lista de quem recebe os lembretes de vencimento salva."]
    assert [r.email for r in dunning.reminder_recipients(world.demo.id)] == [world.adm.email]
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.tag == AuditTag.DUNNING_RECIPIENTS_CHANGED))
    assert event.organization_id == world.demo.id and event.after == {"to": [world.adm.email]}


def test_another_organizations_user_is_refused(app_ctx, world, client):
    master = sign_in(client, world.master, world.demo)
    form = submission(shown(master.get(CONTACTS)), CHOICE)
    form.setlist("users", [str(world.other_master_membership.id)])
    response = master.post(CHOICE, data=form)
    assert response.status_code == 422
    assert "Escolha apenas usuários desta organização." in field_errors(response) + alerts(response)
    assert sorted(r.email for r in dunning.reminder_recipients(world.demo.id)) == sorted(
        [world.master.email, world.cobranca.email])
