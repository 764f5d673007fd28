"""The renewals pages (issue 17 points 4-6): the calendar and its toggle, "Mudar a renovação" through the forms the
pages render (confirmation, then saved; withdrawn; too late), "Não renovar" going to the cancellation, the warning
on a quantity change's confirmation, the subscription's renewal box, and the reminders' box in "Minha conta"."""

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.integrations.partner_center import PartnerCenterSimulator
from portal.shared import clock
from portal.shared.audit import Actor
from portal.subscriptions import next_term, next_term_changes, service
from portal.subscriptions.models import NextTermStatus, Subscription
from tests import factories
from tests.html import alerts, field_errors, section, submission, text, visible
from tests.subscriptions.conftest import NOW
from tests.test_query_budget import counting


@pytest.fixture
def products(app_ctx):
    basic = factories.ProductFactory(name="Business Basic", sku="BASIC", offer_id="CFQ7TTC0LH18:0001:CFQ7TTC0LCHC",
                                     price=3600, upgrade_to=["STANDARD"])
    standard = factories.ProductFactory(name="Business Standard", sku="STANDARD",
                                        offer_id="CFQ7TTC0LDPB:0001:CFQ7TTC0LDQ6", price=7890)
    monthly = factories.ProductFactory(name="Teams Essentials", sku="TEAMS", term="monthly", price=2500)
    db.session.flush()
    return {"basic": basic, "standard": standard, "monthly": monthly}


@pytest.fixture
def renewing(setting, world, products, use_provisioner):
    use_provisioner(PartnerCenterSimulator())
    start = clock.to_business(NOW).date() + timedelta(days=40) - timedelta(days=365)
    subscription = factories.subscription(world.demo, product=products["basic"], quantity=10,
                                          added_at=datetime(start.year, start.month, start.day, 15, tzinfo=UTC),
                                          term_start=start)
    db.session.commit()
    return subscription



def test_the_calendar_comes_25_renewals_a_page_soonest_first(setting, world, products, login_as):
    start = clock.to_business(NOW).date() - timedelta(days=300)
    bought = datetime(start.year, start.month, start.day, 15, tzinfo=UTC)
    renewing = [factories.subscription(world.demo, product=products["basic"], quantity=1,
                                       term_start=start + timedelta(days=n), added_at=bought + timedelta(days=n))
                for n in range(26)]
    factories.subscription(world.demo, product=products["monthly"], quantity=1, added_at=NOW - timedelta(days=5))
    db.session.commit()
    client = login_as("cobranca")
    first = client.get("/renovacoes")
    assert re.findall(r'<tr data-subscription="(\d+)">', text(first)) == [str(s.id) for s in renewing[:25]]
    assert section(first, "page-position") == "Mostrando 1–25 de 26 renovações"
    links = dict(re.findall(r'<a class="page-link" href="([^"]+)">(Próxima|Anterior)</a>', text(first)))
    assert links == {"/renovacoes?pagina=2": "Próxima"}
    second = client.get("/renovacoes?pagina=2")
    assert re.findall(r'<tr data-subscription="(\d+)">', text(second)) == [str(renewing[25].id)]
    # With the monthly rollovers, the pages keep them: the link to the next page says so.
    monthly = client.get("/renovacoes?mensais=1")
    assert section(monthly, "page-position") == "Mostrando 1–25 de 27 renovações"
    hrefs = [html.unescape(h) for h in re.findall(r'<a class="page-link" href="([^"]+)">Próxima</a>', text(monthly))]
    assert len(hrefs) == 1 and set(hrefs[0].split("?")[1].split("&")) == {"pagina=2", "mensais=1"}

def test_the_calendar_by_default_and_with_monthly_rollovers(renewing, world, products, login_as):
    monthly = factories.subscription(world.demo, product=products["monthly"], quantity=2,
                                     added_at=NOW - timedelta(days=5))
    db.session.commit()
    client = login_as("cobranca")  # reads licenses: sees the calendar, not the button to change it
    page = client.get("/renovacoes")
    table = section(page, "renewals-table")
    assert "Business Basic" in table and "Teams Essentials" not in table
    assert next_term.decide_by(renewing).astimezone(clock.BUSINESS_TZ).strftime("%d/%m/%Y") in table
    assert "R$ 360,00 por mês" in table and "Mudar a renovação" not in table
    assert "Renovações" in visible(page)
    with_monthly = client.get("/renovacoes?mensais=1")
    assert "Teams Essentials" in section(with_monthly, "renewals-table")
    assert f'data-subscription="{monthly.id}"' in text(with_monthly)
    adm_page = login_as("adm").get("/renovacoes")
    assert "Mudar a renovação" in section(adm_page, "renewals-table")


def test_schedule_through_the_forms_then_withdraw(renewing, world, products, login_as):
    client = login_as("adm")
    form_page = client.get(f"/licencas/{renewing.id}/renovacao")
    action = f"/licencas/{renewing.id}/renovacao"
    confirm = client.post(action, data=submission(text(form_page), action, product_id=str(products["standard"].id),
                                                  quantity="8"))
    assert confirm.status_code == 200
    changes = section(confirm, "next-term-changes")
    assert "Upgrade: de Business Basic para Business Standard" in changes and "de 10 para 8" in changes
    assert "R$ 631,20 por mês" in section(confirm, "next-term-summary")  # 8 × R$ 78,90
    assert next_term.current_change(renewing) is None  # nothing saved before confirming
    save = f"/licencas/{renewing.id}/renovacao/agendar"
    saved = client.post(save, data=submission(text(confirm), save))
    assert saved.status_code == 302 and saved.headers["Location"].endswith(f"/licencas/{renewing.id}")
    detail = client.get(saved.headers["Location"])
    assert "Mudança agendada para a renovação" in " ".join(alerts(detail))
    assert "Business Standard, 8 licenças" in section(detail, "next-term-change")
    change = next_term.current_change(renewing)
    assert (change.product_id, change.quantity) == (products["standard"].id, 8)

    withdraw = f"/licencas/{renewing.id}/renovacao/retirar"
    withdrawn = client.post(withdraw, data=submission(text(detail), withdraw))
    after = client.get(withdrawn.headers["Location"])
    assert "Mudança retirada" in " ".join(alerts(after))
    assert "nenhuma: renova como está" in section(after, "next-term-change")
    db.session.refresh(change)
    assert change.status == NextTermStatus.WITHDRAWN


def test_a_license_page_reads_its_scheduled_change_with_the_subscription(renewing, world, products, login_as):
    """The change scheduled for the next term (and its product) come in the subscription's statement: no statement
    of their own, with a change or without."""
    client, page_url = login_as("adm"), f"/licencas/{renewing.id}"
    with counting(db.engine) as without:
        assert "nenhuma: renova como está" in section(client.get(page_url), "next-term-change")
    subscription = db.session.get(Subscription, renewing.id)  # the request's end closed the test's session
    next_term_changes.schedule(organization=subscription.organization, subscription=subscription,
                               product_id=products["standard"].id, quantity=8, actor=Actor.for_user(world.adm))
    db.session.commit()
    db.session.expunge_all()  # the page reads it, not this session's identity map
    with counting(db.engine) as with_change:
        page = client.get(page_url)
    assert "Business Standard, 8 licenças" in section(page, "next-term-change")
    for statements in (without, with_change):
        [read] = [statement for statement in statements if "next_term_changes" in statement]
        assert "FROM subscriptions" in read and "products" in read.split("FROM subscriptions")[1]


def test_bad_input_comes_back_on_the_form(renewing, world, products, login_as):
    client = login_as("adm")
    action = f"/licencas/{renewing.id}/renovacao"
    page = client.get(action)
    for quantity, message in (("dez", "números inteiros"), ("10", "Nada muda"), ("0", "Não renovar")):
        answer = client.post(action, data=submission(text(page), action, quantity=quantity))
        assert answer.status_code == 422
        assert any(message in error for error in field_errors(answer)), field_errors(answer)


def test_too_late_is_refused_with_a_clear_message(renewing, world, products, login_as, setting):
    client = login_as("adm")
    page = client.get(f"/licencas/{renewing.id}/renovacao")
    action = f"/licencas/{renewing.id}/renovacao"
    confirm = client.post(action, data=submission(text(page), action, quantity="7"))
    setting.advance(next_term.decide_by(renewing) - clock.now() + timedelta(minutes=1))
    client = login_as("adm")  # a session idle for weeks has ended: signed in again
    save = f"/licencas/{renewing.id}/renovacao/agendar"
    refused = client.post(save, data=submission(text(confirm), save))
    assert refused.status_code == 422
    assert any("O prazo para mudar a renovação" in a for a in alerts(refused) + field_errors(refused))
    assert next_term.current_change(renewing) is None
    assert "O prazo para mudar a renovação" in section(client.get(action), "not-schedulable")


def test_not_renewing_is_a_cancellation_with_its_reason(renewing, world, login_as):
    client = login_as("adm")
    page = client.get(f"/licencas/{renewing.id}/renovacao")
    action = f"/licencas/{renewing.id}/renovacao/nao-renovar"
    empty = client.post(action, data=submission(text(page), action))
    assert empty.status_code == 422 and field_errors(empty)
    answer = client.post(action, data=submission(text(page), action, category="custo",
                                                 reason="O contrato com o cliente final terminou."))
    assert answer.status_code == 302, field_errors(answer)
    assert "O contrato com o cliente final terminou." in text(client.get(answer.headers["Location"]))


def test_the_quantity_change_confirmation_warns_of_the_scheduled_change(renewing, world, products, login_as):
    actor = Actor.for_user(world.adm)
    next_term_changes.schedule(organization=world.demo, subscription=renewing, product_id=products["basic"].id,
                               quantity=8, actor=actor)
    quote = service.quote_quantity_change(organization=world.demo, subscription=renewing, new_quantity=12,
                                          actor=actor)
    page = login_as("adm").get(f"/licencas/orcamento/{quote.token}")
    warning = section(page, "next-term-warning")
    assert "Business Basic com 8 licenças" in warning and "envia a mudança agendada de novo" in warning


def test_the_cancellation_says_it_withdraws_the_scheduled_change(renewing, world, products, login_as):
    """"Não renovar" (or "Cancelar") with a change scheduled: the page that asks for the password says the change
    goes, and confirming withdraws it."""
    next_term_changes.schedule(organization=world.demo, subscription=renewing, product_id=products["standard"].id,
                               quantity=8, actor=Actor.for_user(world.adm))
    db.session.commit()
    client = login_as("adm")
    page = client.get(f"/licencas/{renewing.id}/renovacao")
    action = f"/licencas/{renewing.id}/renovacao/nao-renovar"
    answer = client.post(action, data=submission(text(page), action, category="custo",
                                                 reason="O contrato com o cliente final terminou."))
    preview = client.get(answer.headers["Location"])
    said = section(preview, "withdraws-schedule")
    assert "8 licenças de Business Standard" in said and "será retirada: a assinatura não renova" in said
    confirm = answer.headers["Location"] + "/confirmar"
    done = client.post(confirm, data=submission(text(preview), confirm, password=factories.PASSWORD))
    assert done.status_code == 302, field_errors(done)
    assert next_term.current_change(db.session.get(Subscription, renewing.id)) is None
    assert "withdraws-schedule" not in text(client.get(answer.headers["Location"]))  # confirmed: history


def test_the_reminders_can_be_turned_off_in_minha_conta(app_ctx, world, login_as):
    client = login_as("adm")
    page = client.get("/conta")
    assert "lembretes de renovação" in visible(page)
    answer = client.post("/conta", data=submission(text(page), "/conta"))  # as rendered: ticked
    assert answer.status_code == 302
    db.session.refresh(world.adm)
    assert world.adm.renewal_reminders is True
    fields = submission(text(page), "/conta")
    fields.pop("renewal_reminders")  # unticked
    client.post("/conta", data=fields)
    db.session.refresh(world.adm)
    assert world.adm.renewal_reminders is False
    staff_page = login_as("staff_admin").get("/conta")
    assert "lembretes de renovação" not in visible(staff_page)


def test_withdrawing_nothing_says_so(renewing, world, login_as):
    client = login_as("adm")
    detail = client.get(f"/licencas/{renewing.id}")
    assert 'data-testid="withdraw-next-term"' not in text(detail)
    answer = client.post(f"/licencas/{renewing.id}/renovacao/retirar")
    assert "Não há mudança agendada" in " ".join(alerts(client.get(answer.headers["Location"])))
    assert db.session.scalar(select(Subscription.renewal_quantity).where(Subscription.id == renewing.id)) is None
