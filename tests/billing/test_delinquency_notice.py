"""An "inadimplente" organization is told before it tries (issue 13 point 11): a banner on every customer page
(what is overdue, how much and the link to pay for Master and Cobrança; what is blocked and whom to ask for the
others), and the catalog, the cart, a purchase offer and Licenças say that buying and increasing are blocked
before the user starts.

The clock is 2026-03-25 12:00 in São Paulo; invoices are R$ 789,00 (10 × R$ 78,90); "inadimplente" after more
than 15 days overdue.
"""

import re
from datetime import UTC, date, datetime

import pytest

from portal.billing import payments
from portal.billing.settings import BillingSettings
from portal.catalog import cart
from portal.extensions import db
from portal.shared import clock
from portal.shared.audit import Actor
from tests import factories
from tests.conftest import sign_in
from tests.html import shown, words
from tests.test_query_budget import counting

MARCH_25 = datetime(2026, 3, 25, 15, 0, tzinfo=UTC)
SYSTEM = Actor.system("tests")


@pytest.fixture(autouse=True)
def settings(app_ctx, monkeypatch):
    monkeypatch.setitem(app_ctx.config, "BILLING_DELINQUENT_AFTER_DAYS", 15)
    return BillingSettings.from_config(app_ctx.config)


@pytest.fixture(autouse=True)
def march(app_ctx):
    with clock.frozen(MARCH_25):
        yield


def banner(response) -> str | None:
    """The banner's visible text, or None when the page has none."""
    found = re.search(r'<div class="alert alert-danger" role="alert" data-testid="delinquency-banner">(.*?)</div>',
                      shown(response), re.S)
    return words(found.group(1)) if found else None


def client_of(app_ctx, user):
    return sign_in(app_ctx.test_client(), user)


@pytest.fixture
def overdue(world, settings):
    """One invoice due 2026-02-10 (43 days overdue) with R$ 100,00 paid: R$ 689,00 still owed; Demo is
    "inadimplente" by the billing rule itself (payments.refresh_delinquency)."""
    invoice = factories.invoice(world.demo, billing_date=date(2026, 2, 1), due_date=date(2026, 2, 10))
    payments.record_payment(invoice, amount_cents=10000, method="deposito", paid_on=date(2026, 2, 20), actor=SYSTEM)
    assert payments.refresh_delinquency(world.demo, clock.today(), settings, SYSTEM) == "delinquent"
    db.session.commit()
    return invoice


BLOCKED = ("Até o pagamento, novas compras e aumentos de licenças ficam bloqueados; reduções e cancelamentos "
           "continuam disponíveis.")
ASK = "Fale com um Master ou com quem tem o papel Cobrança na sua organização para regularizar."


@pytest.mark.parametrize("who", ["master", "cobranca"])
def test_who_sees_invoices_gets_what_is_overdue_how_much_and_the_link_to_pay(app_ctx, world, overdue, who):
    client = client_of(app_ctx, getattr(world, who))
    for path in ("/", "/faturas", "/licencas"):
        said = banner(client.get(path))
        assert said is not None, path
        assert said.startswith("Sua organização está inadimplente.")
        assert "1 fatura vencida desde 10/02/2026, com R$ 689,00 em aberto. Pagar a fatura" in said
        assert BLOCKED in said and ASK not in said
    assert f'href="/faturas/{overdue.id}" data-testid="delinquency-pay"' in shown(client.get("/"))


@pytest.mark.parametrize(("who", "path"), [("adm", "/"), ("adm", "/produtos"), ("suporte", "/chamados")])
def test_the_others_learn_what_is_blocked_and_whom_to_ask_without_amounts(app_ctx, world, overdue, who, path):
    said = banner(client_of(app_ctx, getattr(world, who)).get(path))
    assert said is not None
    assert "novas compras e aumentos de licenças ficam bloqueados" in said and ASK in said
    assert "R$" not in said and "/faturas" not in shown(client_of(app_ctx, getattr(world, who)).get(path))


def test_several_overdue_invoices_add_up_and_link_to_the_overdue_list(app_ctx, world, overdue):
    factories.invoice(world.demo, billing_date=date(2026, 3, 1), due_date=date(2026, 3, 10))
    factories.invoice(world.demo, billing_date=date(2026, 3, 20), due_date=date(2026, 3, 30))  # not due yet
    page = client_of(app_ctx, world.master).get("/")
    assert "2 faturas vencidas desde 10/02/2026, somando R$ 1.478,00 em aberto." in banner(page)
    assert 'href="/faturas?situacao=vencida" data-testid="delinquency-pay"' in shown(page)


def test_no_banner_in_good_standing_even_with_an_invoice_overdue_within_the_grace(app_ctx, world, settings):
    factories.invoice(world.demo, billing_date=date(2026, 3, 1), due_date=date(2026, 3, 20))  # 5 days overdue
    assert payments.refresh_delinquency(world.demo, clock.today(), settings, SYSTEM) is None
    for who in ("master", "adm", "suporte"):
        page = client_of(app_ctx, getattr(world, who)).get("/")
        assert banner(page) is None and 'data-testid="purchases-blocked"' not in shown(page)


def test_the_banner_leaves_when_the_payment_is_recorded(app_ctx, world, overdue, settings):
    payments.record_payment(overdue, amount_cents=68900, method="deposito", paid_on=date(2026, 3, 25),
                            actor=SYSTEM, settings=settings)
    assert banner(client_of(app_ctx, world.master).get("/")) is None


def test_the_catalog_says_it_before_the_user_starts(app_ctx, world, overdue):
    product = factories.ProductFactory()
    adm = client_of(app_ctx, world.adm)
    page = shown(adm.get("/produtos"))
    assert 'data-testid="purchases-blocked"' in page
    assert "Novas compras estão bloqueadas enquanto houver fatura vencida" in words(page)
    assert 'action="/carrinho/adicionar"' not in page  # no form to start a purchase
    assert '<button type="button" class="btn btn-primary btn-sm" disabled aria-describedby="purchases-blocked">' \
           'Adicionar ao carrinho</button>' in page
    page = shown(adm.get(f"/produtos/{product.id}"))
    assert 'data-testid="purchases-blocked"' in page and 'action="/carrinho/adicionar"' not in page
    assert 'disabled aria-describedby="purchases-blocked">Adicionar ao carrinho</button>' in page


def test_the_cart_cannot_be_reviewed(app_ctx, world, overdue):
    product = factories.ProductFactory()
    cart.update_cart(organization=world.demo, user=world.adm, product_id=product.id, quantity=2)
    db.session.commit()
    page = shown(client_of(app_ctx, world.adm).get("/carrinho"))
    assert 'data-testid="purchases-blocked"' in page
    assert re.search(r'<button type="submit" class="btn btn-primary" disabled aria-describedby="purchases-blocked">'
                     r'Revisar pedido</button>', page)


def test_a_purchase_offer_cannot_be_accepted(app_ctx, world, overdue):
    product = factories.ProductFactory()
    offer = factories.offer(world.staff_comercial, world.demo, products=[product])
    page = shown(client_of(app_ctx, world.master).get(f"/oferta/{offer.token}"))
    assert 'data-testid="purchases-blocked"' in page
    assert 'disabled aria-describedby="purchases-blocked">Aceitar oferta</button>' in page


def test_licencas_offer_only_decreases(app_ctx, world, overdue):
    subscription = factories.subscription(world.demo, quantity=10)
    db.session.commit()
    adm = client_of(app_ctx, world.adm)
    page = shown(adm.get("/licencas"))
    assert "Aumentos de licenças estão bloqueados enquanto houver fatura vencida. Você ainda pode reduzir ou " \
           "cancelar licenças." in words(page)
    assert "Reduzir quantidade" in page and "Alterar quantidades<" not in page
    detail = shown(adm.get(f"/licencas/{subscription.id}"))
    assert "Reduzir quantidade</a>" in detail and "Alterar quantidades</a>" not in detail
    assert "para aumentar ou reduzir" not in shown(adm.get("/"))
    change = shown(adm.get(f"/licencas/{subscription.id}/alterar"))
    assert 'data-testid="purchases-blocked"' in change
    assert re.search(r'<input[^>]*max="10"[^>]*name="quantity"|<input[^>]*name="quantity"[^>]*max="10"', change)
    # Read-only roles see the banner, not the notice about the buttons they do not have.
    assert 'data-testid="purchases-blocked"' not in shown(client_of(app_ctx, world.cobranca).get("/licencas"))


def test_the_banner_costs_one_statement_only_for_who_sees_invoices(app_ctx, world, settings):
    """A page reads the badges with the memberships; the overdue figures are one statement more, only for an
    "inadimplente" organization and only for who sees invoices (Master, Cobrança), and it does not grow with the
    invoices (tests/test_query_budget.py). Adm and Suporte see the banner without figures: nothing more."""
    factories.invoice(world.demo, billing_date=date(2026, 2, 1), due_date=date(2026, 2, 10))

    def statements(who) -> int:
        client = client_of(app_ctx, getattr(world, who))
        with counting(db.engine) as seen:
            assert client.get("/").status_code == 200
        return len(seen)

    before = {who: statements(who) for who in ("master", "cobranca", "adm", "suporte")}
    payments.refresh_delinquency(world.demo, clock.today(), settings, SYSTEM)
    db.session.commit()
    after = {who: statements(who) for who in ("master", "cobranca", "adm", "suporte")}
    assert banner(client_of(app_ctx, world.cobranca).get("/")) is not None
    assert {who: after[who] for who in ("adm", "suporte")} == {who: before[who] for who in ("adm", "suporte")}
    assert after["master"] == before["master"] + 1
    assert after["cobranca"] == before["cobranca"] + 1
    for month in (1, 2):  # more overdue invoices: the same statements
        factories.invoice(world.demo, billing_date=date(2026, month, 1 + month), due_date=date(2026, month, 10 + month))
    assert {who: statements(who) for who in after} == after
    assert "3 faturas vencidas desde 11/01/2026" in banner(client_of(app_ctx, world.cobranca).get("/"))
