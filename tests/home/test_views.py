"""The home by role: which cards each role sees (in the page and at the cards' own routes), what the cards say,
the spend CSV."""

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from portal.billing.models import InvoiceStatus
from portal.budgets import service as budgets
from portal.extensions import db
from portal.shared import clock
from portal.shared.audit import Actor
from tests import factories
from tests.html import section, shown, text, visible
from tests.test_query_budget import counting

CARDS = {"home-billing": "/inicio/cartoes/faturas", "home-spend": "/inicio/cartoes/gastos",
         "home-licences": "/inicio/cartoes/licencas", "home-tickets": "/inicio/cartoes/chamados"}
SEEN = {
    "master": set(CARDS),
    "cobranca": {"home-billing", "home-spend"},
    "adm": {"home-licences"},
    "suporte": {"home-tickets"},
}
TODAY = date(2026, 6, 15)


@pytest.fixture
def frozen():
    with clock.frozen(datetime(2026, 6, 15, 15, tzinfo=UTC)):
        yield


@pytest.fixture
def data(world, frozen):
    """Demo's licences in two families, an overdue and an open invoice, an annual renewal soon, a ticket."""
    demo = world.demo
    office, security = factories.ProductFactory(price=7890), factories.ProductFactory(price=1800)
    factories.subscription(demo, office, quantity=10, term_start=date(2025, 7, 20))
    factories.subscription(demo, security, quantity=4)
    overdue = factories.invoice(demo, billing_date=TODAY - timedelta(days=36), due_date=TODAY - timedelta(days=26),
                                with_documents=True)
    current = factories.invoice(demo, billing_date=TODAY - timedelta(days=5), due_date=TODAY + timedelta(days=5),
                                with_documents=True)
    factories.invoice(demo, billing_date=TODAY - timedelta(days=66), status=InvoiceStatus.PAID)
    ticket = factories.ticket(demo, world.suporte, subject="Impressora não imprime",
                              created_at=clock.now() - timedelta(hours=10))
    db.session.commit()
    return {"office": office, "security": security, "overdue": overdue, "current": current, "ticket": ticket}


@pytest.mark.parametrize("role", sorted(SEEN))
def test_each_role_sees_only_its_cards(data, login_as, role):
    client = login_as(role)
    page = shown(client.get("/"))
    for testid, url in CARDS.items():
        assert (f'data-testid="{testid}"' in page) is (testid in SEEN[role]), testid
        alone = client.get(url)
        assert alone.status_code == (200 if testid in SEEN[role] else 403), url
        if testid in SEEN[role]:
            assert f'data-testid="{testid}"' in text(alone) and "<html" not in text(alone)  # a fragment
    assert 'data-testid="my-roles"' in page and 'data-testid="home-shortcuts"' in page
    assert ("vendor/chartjs" in page) is bool(SEEN[role] & {"home-spend", "home-licences"})


def test_the_billing_card_shows_what_we_pay_and_the_invoices_to_pay(data, login_as):
    page = shown(login_as("cobranca").get("/"))
    card = section(page, "home-billing")
    assert "R$ 861,00 por mês" in section(page, "recurring-monthly")  # 10 × 78,90 + 4 × 18,00
    assert "em 10/07/2026" in section(page, "next-invoice")
    overdue, current = data["overdue"], data["current"]
    assert card.index(overdue.display_number) < card.index(current.display_number)  # overdue first
    invoices = section(page, "home-open-invoices")
    assert "vencida" in invoices and "aberta" in invoices
    # The open one: "copiar Pix" with its code, "baixar boleto"; the overdue one (boleto past due): the 2ª via.
    assert current.boletos[0].pix_payload in section(page, "home-pix-payload")
    assert f'data-copy="home-pix-{current.id}"' in page and f'id="home-pix-{current.id}"' in page
    assert f'href="/faturas/{current.id}/boleto.pdf"' in page
    assert f'href="/faturas/{overdue.id}/segunda-via"' in page
    assert f'data-copy="home-pix-{overdue.id}"' not in page and overdue.boletos[0].pix_payload not in page


def test_the_licences_card_shows_families_renewals_and_orders(data, login_as):
    page = shown(login_as("adm").get("/"))
    table = section(page, "home-licences-table")
    assert f"{data['office'].family.name} 10 1" in table and f"{data['security'].family.name} 4 1" in table
    renewals = section(page, "home-renewals")
    assert data["office"].name in renewals and "renova em 20/07/2026" in renewals and "10 licenças" in renewals
    assert "R$ 789,00 por mês" in renewals
    assert 'data-testid="home-no-orders"' in page
    assert 'href="/uso-de-licencas" data-testid="home-usage-link"' in page


def test_the_home_kept_for_the_day_shows_a_change_at_once(data, login_as, world, app_ctx):
    """The home keeps what it read until the organization's data changes (data_versions): the next view after a
    quantity change, an invoice paid, or a catalog price shows it; the views in between are served kept."""
    from portal.subscriptions import service as subscriptions
    from portal.subscriptions.models import Subscription

    client = login_as("master")
    cache = app_ctx.extensions["read_models"]
    first = shown(client.get("/"))
    assert f"{data['office'].family.name} 10 1" in section(first, "home-licences-table")
    hits = cache.hits
    assert shown(client.get("/")) == first and cache.hits > hits  # nothing changed: kept
    office = db.session.scalars(select(Subscription).where(Subscription.product_id == data["office"].id)).one()
    adm = Actor.for_user(world.adm)
    quote = subscriptions.quote_quantity_change(organization=world.demo, subscription=office, new_quantity=12,
                                                actor=adm)
    subscriptions.confirm_quote(organization=world.demo, token=quote.token, actor=adm)
    db.session.commit()
    after = shown(client.get("/"))
    assert f"{data['office'].family.name} 12 1" in section(after, "home-licences-table")
    assert data["office"].name in section(after, "home-changes")
    data["overdue"].status = InvoiceStatus.PAID
    db.session.commit()
    paid = shown(client.get("/"))
    assert data["overdue"].display_number not in section(paid, "home-billing")



def test_without_the_read_model_the_home_reads_no_versions(data, login_as, app_ctx, monkeypatch):
    """READ_MODEL_CACHE_BYTES=0: nothing is kept, so the versions are not read; the same home, one statement less."""
    client = login_as("master")
    with counting(db.engine) as kept:
        first = shown(client.get("/"))
    monkeypatch.setattr(app_ctx.extensions["read_models"], "max_bytes", 0)
    with counting(db.engine) as afresh:
        assert shown(client.get("/")) == first
    assert any("data_versions" in statement for statement in kept)
    assert not any("data_versions" in statement for statement in afresh)

def test_the_tickets_card_shows_the_sla(data, login_as):
    page = shown(login_as("suporte").get("/"))
    card = section(page, "home-tickets")
    assert "Impressora não imprime" in card and "1ª resposta: aguardando há 10 h" in card and "atrasada" in card
    assert f'href="/chamados/{data["ticket"].id}"' in page


def test_the_spend_table_and_csv_hold_the_invoices(data, login_as):
    client = login_as("master")
    page = shown(client.get("/inicio/cartoes/gastos"))
    assert "data-chart=" in page and section(page, "home-spend-total") == "R$ 2.367,00"  # 3 invoices × 789,00
    response = client.get("/inicio/gastos.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "gastos-12-meses-2026-06-15.csv" in response.headers["Content-Disposition"]
    rows = [line.split(";") for line in response.get_data(as_text=True).lstrip("\ufeff").split("\r\n") if line]
    assert rows[0] == ["Mês", "Créditos e ajustes", "Total"]  # invoices of the factory have no subscription lines
    assert rows[1][0] == "07/2025" and rows[12][0] == "06/2026" and rows[-1] == ["Total", "2367,00", "2367,00"]
    assert len(rows) == 14


def test_the_budget_card_and_the_shortcuts(data, login_as, world):
    page = shown(login_as("master").get("/"))
    for link in ("Ver licenças", "Ver faturas", "Ver chamados", "Gerenciar usuários", "Ver histórico"):
        assert link in visible(page)
    assert 'data-testid="home-budget"' not in page  # no budget set
    budgets.set_budgets(world.demo, total_cents=100000, family_cents={}, actor=Actor.system("tests"))
    for role, sees in (("master", True), ("cobranca", True), ("adm", False), ("suporte", False)):
        page = shown(login_as(role).get("/"))
        assert ('data-testid="home-budget"' in page) is sees, role
        if sees:
            assert "R$ 1.000,00" in visible(page)
