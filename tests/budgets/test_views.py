"""The "Orçamento" page: only the Master, money as Brazilians type it, clear errors with nothing lost, the card."""

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from portal.budgets.models import Budget
from portal.extensions import db
from portal.shared import clock
from portal.shared.audit import AuditEvent, AuditTag
from tests import factories
from tests.html import visible

URL = "/orcamento"
MARCH = datetime(2026, 3, 12, 15, tzinfo=UTC)


def field_value(html: str, name: str) -> str:
    found = re.search(rf'<input[^>]* name="{name}"[^>]* value="([^"]*)"', html)
    assert found, name
    return found.group(1)


@pytest.fixture
def family(app_ctx, world):
    """One family with a subscription of the demo organization (R$ 789,00 a month), billed on the 20th."""
    world.demo.billing_day = 20
    found = factories.ProductFamilyFactory(name="Microsoft 365")
    with clock.frozen(datetime(2026, 1, 5, 15, tzinfo=UTC)):
        factories.subscription(world.demo, product=factories.ProductFactory(family=found), quantity=10)
    db.session.commit()
    return found


@pytest.mark.parametrize("role", ["adm", "cobranca", "suporte"])
def test_only_the_master(login_as, role):
    client = login_as(role)
    assert client.get(URL).status_code == 403
    assert client.post(URL, data={"total": "1.000,00"}).status_code == 403
    assert db.session.scalars(select(Budget)).all() == []
    assert 'href="/orcamento"' not in client.get("/").get_data(as_text=True)


def test_the_master_sets_a_budget_and_sees_the_card(login_as, world, family):
    client = login_as("master")
    with clock.frozen(MARCH):
        page = client.get(URL)
        assert page.status_code == 200
        assert "A organização ainda não tem orçamento." in visible(page)
        saved = client.post(URL, data={"total": "1.234,56", f"family_{family.id}": "R$ 900"})
        assert saved.status_code == 302
        shown = client.get(URL)
        history = visible(client.get("/historico"))
    text = visible(shown)
    assert "Orçamento salvo." in text
    rows = {row.family_id: row.amount_cents for row in db.session.scalars(select(Budget))}
    assert rows == {None: 123_456, family.id: 90_000}
    assert "Orçamento de 03/2026" in text
    assert "R$ 0,00 de R$ 1.234,56 (0%)" in text
    assert "Previsão para o mês: R$ 789,00" in text  # the billing day's draft: 10 × R$ 78,90
    assert "Microsoft 365" in text and "R$ 0,00 de R$ 900,00 (0%)" in text
    html = shown.get_data(as_text=True)
    assert 'value="1.234,56"' in html and 'value="900,00"' in html  # the form shows what is saved
    assert '<progress class="w-100 budget-bar" value="0" max="123456"' in html
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.tag == AuditTag.BUDGET_CHANGED))
    assert event.after == {"total_cents": 123_456, "families": {"Microsoft 365": 90_000}}
    assert "Master Demo definiu o orçamento mensal: R$ 1.234,56 para a organização; Microsoft 365: R$ 900,00." \
        in history


@pytest.mark.parametrize(("total", "family_value", "message"), [
    ("mil reais", "", "Valor inválido: use o formato 1.234,56."),
    ("1.23,45", "", "Valor inválido: use o formato 1.234,56."),
    ("0", "", "Informe um valor maior que zero, ou deixe em branco para não ter orçamento."),
    ("-10", "", "Informe um valor maior que zero, ou deixe em branco para não ter orçamento."),
    ("99.999.999,00", "", "Informe no máximo R$ 10.000.000,00."),
    ("9" * 40, "", "Valor inválido: use o formato 1.234,56."),
    ("", "500,00", "Defina primeiro o orçamento mensal da organização."),
    ("400,00", "500,00", "O orçamento de uma família não pode passar o da organização."),
])
def test_bad_input_is_explained_and_kept(login_as, family, total, family_value, message):
    client = login_as("master")
    with clock.frozen(MARCH):
        response = client.post(URL, data={"total": total, f"family_{family.id}": family_value})
    assert response.status_code == 422
    assert message in visible(response)
    html = response.get_data(as_text=True)
    assert (field_value(html, "total"), field_value(html, f"family_{family.id}")) == (total, family_value)
    assert db.session.scalars(select(Budget)).all() == []


def test_removing_the_budget(login_as, world, family):
    client = login_as("master")
    with clock.frozen(MARCH):
        client.post(URL, data={"total": "1.000"})
        response = client.post(URL, data={"total": "", f"family_{family.id}": ""}, follow_redirects=True)
    assert "Orçamento removido." in visible(response)
    assert db.session.scalars(select(Budget)).all() == []


def test_another_organizations_budget_is_not_shown(login_as, world, family):
    db.session.add(Budget(organization_id=world.other.id, family_id=None, amount_cents=777_700))
    db.session.commit()
    with clock.frozen(MARCH):
        text = visible(login_as("master").get(URL))
    assert "R$ 7.777,00" not in text and "A organização ainda não tem orçamento." in text
