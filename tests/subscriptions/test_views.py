"""The licenses pages as a person uses them: "Licenças", "Alterar quantidades" → preview → confirm, orders.

Unless a test says otherwise, the day is 2026-03-11 15:00 in São Paulo (18:00 UTC), Demo Tecnologia is billed
on day 1 (period 2026-03-01 → 2026-04-01, 31 days) and a license costs R$ 78,90 a month. A subscription from
`factories.subscription` was bought 60 days earlier (2026-01-10), so its term renews on 10/01/2027 and its
168-hour decrease window is closed.
"""

import html
import re
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from portal.accounts.roles import ROLE_PERMISSIONS, Permission, Role
from portal.billing.models import CreditEntry
from portal.cancellations.models import CancellationRequest
from portal.catalog import cart as carts
from portal.catalog.models import BillingFrequency, ProductPrice
from portal.extensions import db
from portal.shared import clock
from portal.shared.audit import Actor
from portal.subscriptions import service
from portal.subscriptions.models import (
    Order,
    OrderEvent,
    OrderKind,
    OrderStatus,
    QuantityChange,
    Quote,
    SubscriptionStatus,
)
from tests import factories
from tests.conftest import sign_in
from tests.html import alerts, field_errors, input_value, section, text, textarea, words

MARCH_11 = datetime(2026, 3, 11, 18, 0, tzinfo=UTC)  # 15:00 in São Paulo
REASON = "Vamos migrar toda a equipe para outro fornecedor no próximo trimestre."
DONE_FLASH = "Pedido registrado. A alteração será refletida em até 30 minutos."


@pytest.fixture
def march(app_ctx, world):
    """The clock on 2026-03-11 15:00 (São Paulo) and Demo Tecnologia billed on day 1."""
    world.demo.billing_day = 1
    world.demo.microsoft_tenant_id = "tenant-demo"
    db.session.commit()
    with clock.frozen(MARCH_11):
        yield clock


@pytest.fixture
def m365(app_ctx):
    family = factories.ProductFamilyFactory(name="Microsoft 365")
    return factories.ProductFactory(name="Microsoft 365 Business Standard", family=family, price=7890)


# ---------------------------------------------------------------- steps

def ask_change(client, subscription, quantity, category="", reason=""):
    return client.post(f"/licencas/{subscription.id}/alterar",
                       data={"quantity": str(quantity), "category": category, "reason": reason})


def token_of(response) -> str:
    assert response.status_code == 302, text(response)
    found = re.fullmatch(r"/licencas/orcamento/(\w+)", response.headers["Location"])
    assert found, response.headers["Location"]
    return found.group(1)


def preview(client, token):
    return client.get(f"/licencas/orcamento/{token}")


def confirm(client, token):
    return client.post(f"/licencas/orcamento/{token}/confirmar")


def quote_lines(response) -> dict[str, list[str]]:
    """The preview's lines by kind ("charge", "credit", "scheduled"), as the customer reads them."""
    found: dict[str, list[str]] = {}
    for kind, body in re.findall(r'<li data-kind="(\w+)">(.*?)</li>', text(response), re.S):
        found.setdefault(kind, []).append(words(body))
    return found


def license_row(response, subscription) -> str:
    body = text(response)
    row = re.search(rf'<tr data-testid="license-{subscription.id}">(.*?)</tr>', body, re.S)
    assert row, f"no row for subscription {subscription.id}"
    return words(row.group(1))


def orders_of(subscription) -> list[Order]:
    return list(db.session.scalars(select(Order).where(Order.subscription_id == subscription.id).order_by(Order.id)))


def ledger(subscription) -> list[tuple[str, int]]:
    rows = db.session.scalars(select(QuantityChange).where(QuantityChange.subscription_id == subscription.id)
                              .order_by(QuantityChange.id))
    return [(row.kind, row.delta) for row in rows]


def change_and_confirm(client, subscription, quantity, **reason):
    token = token_of(ask_change(client, subscription, quantity, **reason))
    response = confirm(client, token)
    assert response.status_code == 302 and response.headers["Location"] == "/licencas"
    return token


def manual_order(subscription, status=OrderStatus.PENDING, messages=("order created",)) -> Order:
    order = Order(organization_id=subscription.organization_id, kind=OrderKind.QUANTITY_CHANGE,
                  subscription_id=subscription.id, quantity=12, status=status, correlation_id=str(uuid.uuid4()),
                  created_at=clock.now())
    db.session.add(order)
    db.session.flush()
    for message, step in zip(messages, _statuses(status, len(messages)), strict=True):
        db.session.add(OrderEvent(order_id=order.id, status=step, message=message, created_at=clock.now()))
    db.session.commit()
    return order


def _statuses(final, n):
    return [OrderStatus.PENDING] * (n - 1) + [final] if n > 1 else [final]


# ---------------------------------------------------------------- "Licenças"

def test_licenses_lists_every_subscription_with_its_facts(march, world, login_as, m365):
    monthly = factories.subscription(world.demo, product=m365, quantity=10)
    annual_product = factories.ProductFactory(name="Defender para Endpoint", billing_frequency=BillingFrequency.ANNUAL,
                                              price=94680)
    annual = factories.subscription(world.demo, product=annual_product, quantity=2)
    response = login_as("adm").get("/licencas")
    assert response.status_code == 200
    row = license_row(response, monthly)
    for expected in ("Microsoft 365 Business Standard", "Microsoft 365", "10", "R$ 78,90", "R$ 789,00 por mês",
                     "Termo anual", "renova em 10/01/2027", "ativa", "Alterar quantidades"):
        assert expected in row, (expected, row)
    row = license_row(response, annual)
    assert "R$ 1.893,60 por ano" in row and "equivale a R$ 157,80 por mês" in row
    totals = section(response, "totals")
    assert "Total por mês (cobrança mensal) R$ 789,00" in totals
    assert "Total por ano (cobrança anual) R$ 1.893,60" in totals
    assert "Equivalente mensal total R$ 946,80" in totals



def _pager_links(response) -> dict[str, str]:
    """The pager's links by their words ("Anterior", "Próxima")."""
    return {words(label): html.unescape(href) for href, label in
            re.findall(r'<a class="page-link" href="([^"]+)">(.*?)</a>', text(response))}


def test_licenses_come_25_a_page_and_the_totals_count_them_all(march, world, login_as, m365):
    subscriptions = [factories.subscription(world.demo, product=m365, quantity=2) for _ in range(27)]
    db.session.commit()
    client = login_as("adm")
    first = client.get("/licencas")
    shown = re.findall(r'<tr data-testid="license-(\d+)">', text(first))
    assert shown == [str(s.id) for s in subscriptions[:25]]
    assert section(first, "page-position") == "Mostrando 1–25 de 27 licenças"
    totals = "Total por mês (cobrança mensal) R$ 4.260,60"  # 27 × 2 × R$ 78,90: every subscription, not the page's
    assert totals in section(first, "totals")
    assert _pager_links(first) == {"Próxima": "/licencas?pagina=2"}
    second = client.get(_pager_links(first)["Próxima"])
    assert re.findall(r'<tr data-testid="license-(\d+)">', text(second)) == [str(s.id) for s in subscriptions[25:]]
    assert section(second, "page-position") == "Mostrando 26–27 de 27 licenças"
    assert totals in section(second, "totals")
    assert _pager_links(second) == {"Anterior": "/licencas?pagina=1"}
    # A page that is not a number is the first; one past the end (the list got shorter) is the last.
    assert f"license-{subscriptions[0].id}" in text(client.get("/licencas?pagina=abc"))
    past = client.get("/licencas?pagina=99")
    assert past.status_code == 200 and section(past, "page-position") == "Mostrando 26–27 de 27 licenças"
    # A change confirmed from the second page comes back to it, where its row is.
    confirmed = confirm(client, token_of(ask_change(client, subscriptions[-1], 3)))
    assert confirmed.status_code == 302 and confirmed.headers["Location"] == "/licencas?pagina=2"
    back = client.get(confirmed.headers["Location"])
    assert f'data-testid="license-{subscriptions[-1].id}"' in text(back) and "Pedido registrado" in text(back)


def test_a_single_page_of_licenses_shows_no_pager(march, world, login_as, m365):
    factories.subscription(world.demo, product=m365, quantity=2)
    db.session.commit()
    page = login_as("adm").get("/licencas")
    assert 'data-testid="page-position"' not in text(page) and _pager_links(page) == {}

def test_licenses_shows_status_scheduled_change_and_the_last_order(march, world, login_as):
    scheduled = factories.subscription(world.demo, quantity=10, renewal_quantity=8)
    order = manual_order(scheduled)
    cancelled = factories.subscription(world.demo, quantity=0, status=SubscriptionStatus.CANCELLED)
    provisioning = factories.subscription(world.demo, quantity=5, status=SubscriptionStatus.PROVISIONING)
    response = login_as("master").get("/licencas")
    row = license_row(response, scheduled)
    assert "2 licenças a menos a partir de 10/01/2027" in row
    assert f"Pedido nº {order.id}: pendente será refletido em até 30 minutos" in row
    assert f'href="/pedidos/{order.id}"' in text(response)
    assert "cancelada" in license_row(response, cancelled)
    assert "Alterar quantidades" not in license_row(response, cancelled)
    assert "provisionando" in license_row(response, provisioning)
    assert "Alterar quantidades" not in license_row(response, provisioning)


def test_a_finished_order_no_longer_promises_30_minutes(march, world, login_as):
    subscription = factories.subscription(world.demo)
    order = manual_order(subscription, OrderStatus.DONE, ("order created", "done"))
    row = license_row(login_as("adm").get("/licencas"), subscription)
    assert f"Pedido nº {order.id}: concluído" in row and "30 minutos" not in row


def test_licenses_seen_again_show_whatever_changed_in_between(march, world, login_as):
    """The rendered rows are reused while nothing they show changes (portal/shared/fragments.py); every change
    a row shows makes a new entry, never a stale page."""
    subscription = factories.subscription(world.demo)
    order = manual_order(subscription)
    client = login_as("adm")
    cache = client.application.extensions["fragments"]
    assert "pendente será refletido em até 30 minutos" in license_row(client.get("/licencas"), subscription)
    hits, entries = cache.hits, len(cache)
    assert "pendente" in license_row(client.get("/licencas"), subscription)
    assert cache.hits > hits and len(cache) == entries  # nothing changed: the same rows, not rendered again
    order.status = OrderStatus.DONE
    db.session.commit()
    row = license_row(client.get("/licencas"), subscription)
    assert f"Pedido nº {order.id}: concluído" in row and "30 minutos" not in row
    subscription.product.name = "Microsoft 365 E3"
    subscription.renewal_quantity = 8
    db.session.commit()
    row = license_row(client.get("/licencas"), subscription)
    assert "Microsoft 365 E3" in row and "2 licenças a menos a partir de 10/01/2027" in row
    world.demo.status = "rescinding"
    db.session.commit()
    assert "Alterar quantidades" not in license_row(client.get("/licencas"), subscription)


def test_cached_licenses_follow_who_looks_and_in_which_language(march, world, login_as):
    subscription = factories.subscription(world.demo)
    client = login_as("adm")
    assert "Alterar quantidades" in license_row(client.get("/licencas"), subscription)
    sign_in(client, world.cobranca)
    assert "Alterar quantidades" not in license_row(client.get("/licencas"), subscription)
    world.cobranca.language = "en"
    db.session.commit()
    row = license_row(client.get("/licencas"), subscription)
    assert "active" in row and "renews on 01/10/2027" in row and "ativa" not in row


def test_the_cached_table_is_the_table_rendered_afresh(march, world, login_as, m365):
    factories.subscription(world.demo, product=m365, quantity=10)
    factories.subscription(world.demo, product=factories.ProductFactory(billing_frequency=BillingFrequency.ANNUAL),
                           quantity=2)
    manual_order(factories.subscription(world.demo, quantity=3))
    client = login_as("master")
    client.get("/licencas")
    cached = text(client.get("/licencas"))
    cache = client.application.extensions["fragments"]
    size, cache.max_bytes = cache.max_bytes, 0
    try:
        fresh = text(client.get("/licencas"))
    finally:
        cache.max_bytes = size
    strip_tokens = re.compile(r'name="csrf_token" type="hidden" value="[^"]+"|value="[^"]{40,}"')
    # A cached fragment keeps no indentation (portal/shared/fragments.py); runs of white space read the same.
    indentation = re.compile(r"\n\s+")
    assert indentation.sub("\n", strip_tokens.sub("", cached)) == indentation.sub("\n", strip_tokens.sub("", fresh))


def test_licenses_at_several_prices_say_so(march, world, login_as, m365):
    subscription = factories.subscription(world.demo, product=m365, quantity=10)
    db.session.add(ProductPrice(product=m365, unit_price_cents=8500, effective_from=date(2026, 3, 1)))
    db.session.commit()
    client = login_as("adm")
    change_and_confirm(client, subscription, 13)
    row = license_row(client.get("/licencas"), subscription)
    assert "vários preços 10 licenças a R$ 78,90 3 licenças a R$ 85,00" in row
    assert "R$ 1.044,00 por mês" in row  # 10 × 78,90 + 3 × 85,00


def test_an_organization_without_licenses_sees_an_empty_state(world, login_as):
    response = login_as("adm").get("/licencas")
    assert response.status_code == 200
    assert "Sua organização ainda não tem licenças." in section(response, "empty")
    assert "licenses-table" not in text(response)


def test_cobranca_reads_licenses_but_sees_no_buttons_and_may_not_change(march, world, login_as):
    subscription = factories.subscription(world.demo)
    adm_quote = service.quote_quantity_change(organization=world.demo, subscription=subscription, new_quantity=12,
                                              actor=Actor.for_user(world.adm))
    client = login_as("cobranca")
    listing = client.get("/licencas")
    assert listing.status_code == 200 and "Alterar quantidades" not in text(listing)
    assert "Você pode consultar, mas não alterar, as licenças." in text(listing)
    detail = client.get(f"/licencas/{subscription.id}")
    assert detail.status_code == 200 and "Alterar quantidades" not in text(detail)
    assert client.get(f"/licencas/{subscription.id}/alterar").status_code == 403
    assert ask_change(client, subscription, 12).status_code == 403
    assert preview(client, adm_quote.token).status_code == 403
    assert confirm(client, adm_quote.token).status_code == 403
    assert subscription.quantity == 10 and orders_of(subscription) == []


@pytest.mark.parametrize("role", ["master", "adm"])
def test_master_and_adm_see_the_change_button(march, world, login_as, role):
    subscription = factories.subscription(world.demo)
    client = login_as(role)
    assert f'href="/licencas/{subscription.id}/alterar"' in text(client.get("/licencas"))
    assert f'href="/licencas/{subscription.id}/alterar"' in text(client.get(f"/licencas/{subscription.id}"))
    assert client.get(f"/licencas/{subscription.id}/alterar").status_code == 200


def test_suporte_has_no_licenses(world, login_as):
    client = login_as("suporte")
    assert client.get("/licencas").status_code == 403
    assert 'href="/licencas"' not in text(client.get("/"))


@pytest.mark.parametrize(("role", "shown"), [("master", True), ("adm", True), ("cobranca", True),
                                             ("suporte", False)])
def test_navigation_and_home_lead_to_licenses(world, login_as, role, shown):
    body = text(login_as(role).get("/"))
    nav = body[body.index('data-testid="nav"'):body.index("</ul>", body.index('data-testid="nav"'))]
    assert ('href="/licencas"' in nav) is shown
    assert ("Ver licenças" in body) is shown


# ---------------------------------------------------------------- a license's page

def test_a_license_page_shows_the_history_and_the_orders(march, world, login_as, m365):
    subscription = factories.subscription(world.demo, product=m365, quantity=10)
    client = login_as("adm")
    change_and_confirm(client, subscription, 13)
    clock.advance(timedelta(days=10))  # 2026-03-21: the new lot's window is over
    sign_in(client, world.adm)
    change_and_confirm(client, subscription, 11)
    response = client.get(f"/licencas/{subscription.id}")
    assert response.status_code == 200
    facts = section(response, "facts")
    assert "Microsoft 365" in facts and "Licenças em uso 13" in facts
    assert "2 licenças a menos a partir de 10/01/2027" in facts
    history = section(response, "history-table")
    assert "Redução agendada para o fim do termo, em 10/01/2027 -2 13 — Adm Demo" in history
    assert "11/03/2026 15:00 Aumento +3 13 R$ 160,35 de pró-rata Adm Demo" in history
    assert "Contratação +10 10 — Sistema" in history
    orders = section(response, "orders-table")
    assert "Microsoft 365 Business Standard: 11 licenças a partir da renovação concluído" in orders
    assert "Microsoft 365 Business Standard: quantidade alterada para 13 licenças concluído" in orders


def test_a_license_in_its_window_says_until_when_it_can_be_reduced_with_credit(march, world, login_as):
    subscription = factories.subscription(world.demo, quantity=4, added_at=clock.now())
    response = login_as("adm").get(f"/licencas/{subscription.id}")
    assert "4 licenças podem ser reduzidas com crédito até 18/03/2026 15:00" in section(response, "facts")


# ---------------------------------------------------------------- increase: the whole flow

def test_increase_preview_confirm_and_the_order_is_done(march, world, login_as, m365, outbox):
    subscription = factories.subscription(world.demo, product=m365, quantity=10)
    client = login_as("adm")
    form = client.get(f"/licencas/{subscription.id}/alterar")
    assert form.status_code == 200 and input_value(form, "quantity") == "10"
    assert "Zero cancela a assinatura e exige o motivo" in text(form) and "Rescisão de contrato" in text(form)

    token = token_of(ask_change(client, subscription, 13))
    page = preview(client, token)
    assert page.status_code == 200
    assert quote_lines(page) == {"charge": [
        "+3 licenças a R$ 78,90 — pró-rata de 11/03/2026 a 31/03/2026 (21 de 31 dias): R$ 160,35 na próxima fatura"]}
    summary = section(page, "quote-summary")
    assert "de 10 para 13 licenças" in summary
    assert "11/03/2026, assim que confirmar" in summary
    assert "Na próxima fatura R$ 160,35 de pró-rata" in summary
    assert "R$ 1.025,70 por mês a partir de 01/04/2026 hoje: R$ 789,00" in summary
    assert "Este orçamento vale até 11/03/2026 23:59 (horário de Brasília)." in summary
    assert "Confirmar" in section(page, "confirm-actions")
    assert subscription.quantity == 10  # nothing changes before confirming

    done = confirm(client, token)
    assert done.status_code == 302 and done.headers["Location"] == "/licencas"
    listing = client.get("/licencas")
    assert DONE_FLASH in alerts(listing)
    row = license_row(listing, subscription)
    assert re.search(r"\b13\b", row) and "R$ 1.025,70 por mês" in row
    [order] = orders_of(subscription)
    assert (order.quantity, order.status) == (13, OrderStatus.DONE)
    assert f"Pedido nº {order.id}: concluído" in row
    assert ledger(subscription) == [("initial", 10), ("increase", 3)]
    assert db.session.scalar(select(QuantityChange.charge_cents).where(QuantityChange.kind == "increase")) == 16035

    again = preview(client, token)  # the confirmed quote shows its orders instead of the button
    assert "confirm-actions" not in text(again)
    assert "quantidade alterada para 13 licenças concluído" in section(again, "orders-table")

    order_page = client.get(f"/pedidos/{order.id}")
    assert order_page.status_code == 200
    facts = section(order_page, "order-facts")
    assert "quantidade alterada para 13 licenças" in facts and "concluído" in facts
    assert "Feito em 11/03/2026 15:00" in facts and "Concluído em 11/03/2026 15:00" in facts
    assert "30 minutos" not in text(order_page)
    assert section(order_page, "timeline") == "11/03/2026 15:00 — Pedido recebido. 11/03/2026 15:00 — Pedido concluído."


def test_an_annual_product_shows_the_whole_term_and_the_monthly_equivalent(march, world, login_as):
    product = factories.ProductFactory(billing_frequency=BillingFrequency.ANNUAL, price=94680)
    subscription = factories.subscription(world.demo, product=product, quantity=2)
    client = login_as("adm")
    page = preview(client, token_of(ask_change(client, subscription, 4)))
    # The term 2026-01-10 → 2027-01-10 (365 days); 305 days left from 03-11: 946,80 × 2 × 305/365 = 1.582,32.
    assert quote_lines(page)["charge"] == [
        "+2 licenças a R$ 946,80 — pró-rata de 11/03/2026 a 09/01/2027 (305 de 365 dias): "
        "R$ 1.582,32 na próxima fatura"]
    summary = section(page, "new-recurring")
    assert "R$ 3.787,20 por ano a partir de 10/01/2027" in summary and "equivale a R$ 315,60 por mês" in summary


# ---------------------------------------------------------------- decreases

def test_a_decrease_inside_the_window_shows_a_credit(march, world, login_as):
    subscription = factories.subscription(world.demo, quantity=10, added_at=clock.now())
    client = login_as("adm")
    page = preview(client, token_of(ask_change(client, subscription, 7)))
    assert quote_lines(page) == {"credit": [
        "−3 licenças dentro da janela de 7 dias (até 18/03/2026 15:00): crédito de R$ 160,35"]}
    assert "crédito de R$ 160,35 para a organização" in section(page, "next-invoice")
    assert "R$ 552,30 por mês" in section(page, "new-recurring")
    token = re.search(r"/licencas/orcamento/(\w+)/confirmar", text(page)).group(1)
    confirm(client, token)
    assert subscription.quantity == 7
    assert db.session.scalar(select(func.sum(CreditEntry.amount_cents))) == 16035


def test_a_decrease_outside_the_window_is_scheduled_for_the_end_of_the_term(march, world, login_as):
    subscription = factories.subscription(world.demo, quantity=10)
    client = login_as("adm")
    token = token_of(ask_change(client, subscription, 8))
    page = preview(client, token)
    assert quote_lines(page) == {"scheduled": [
        "2 licenças saem no fim do termo, em 10/01/2027, sem crédito: a janela de redução de 168 horas já terminou"]}
    assert section(page, "next-invoice") == "nada muda: sem cobrança e sem crédito"
    assert section(page, "new-recurring") == "R$ 789,00 por mês, sem mudança até 10/01/2027"
    assert section(page, "at-renewal") == "8 licenças"
    assert "10/01/2027 (fim do termo), para a redução agendada" in section(page, "quote-summary")
    confirm(client, token)
    assert (subscription.quantity, subscription.renewal_quantity) == (10, 8)
    assert "2 licenças a menos a partir de 10/01/2027" in license_row(client.get("/licencas"), subscription)
    assert db.session.scalar(select(func.count(CreditEntry.id))) == 0


def test_an_own_service_decrease_explains_that_it_waits_for_the_end_of_the_term(march, world, login_as):
    subscription = factories.subscription(world.demo, product=factories.own_service_product(), quantity=5)
    client = login_as("adm")
    page = preview(client, token_of(ask_change(client, subscription, 4)))
    [line] = quote_lines(page)["scheduled"]
    assert line.endswith("sem crédito: este produto só permite reduções no fim do termo")


def test_a_split_decrease_shows_the_credit_and_the_scheduled_part(march, world, login_as):
    subscription = factories.subscription(world.demo, quantity=10)
    client = login_as("adm")
    change_and_confirm(client, subscription, 13)  # a new lot of 3, inside its window
    page = preview(client, token_of(ask_change(client, subscription, 8)))
    assert quote_lines(page) == {
        "credit": ["−3 licenças dentro da janela de 7 dias (até 18/03/2026 15:00): crédito de R$ 160,35"],
        "scheduled": ["2 licenças saem no fim do termo, em 10/01/2027, sem crédito: "
                      "a janela de redução de 168 horas já terminou"],
    }
    summary = section(page, "quote-summary")
    assert "11/03/2026, assim que confirmar" in summary and "10/01/2027 (fim do termo)" in summary


def test_the_same_quantity_undoes_a_scheduled_decrease(march, world, login_as):
    subscription = factories.subscription(world.demo, quantity=10)
    client = login_as("adm")
    change_and_confirm(client, subscription, 8)
    page = preview(client, token_of(ask_change(client, subscription, 10)))
    assert "A redução agendada é desfeita: a assinatura continua com 10 licenças na renovação." in section(
        page, "quote-lines")


# ---------------------------------------------------------------- zero: cancellation with a reason

def test_zero_without_a_reason_is_explained_on_the_form(march, world, login_as):
    subscription = factories.subscription(world.demo)
    response = ask_change(login_as("adm"), subscription, 0, reason="curto")
    assert response.status_code == 422
    assert field_errors(response) == ["Escolha o motivo do cancelamento.",
                                      "Explique o motivo com pelo menos 20 caracteres."]
    assert input_value(response, "quantity") == "0" and textarea(response, "reason") == "curto"
    assert db.session.scalar(select(func.count(Quote.id))) == 0


def cancellation_token(response) -> str:
    """Zero leads into "Cancelar": the consequences page of the same zero quote."""
    assert response.status_code == 302, text(response)
    found = re.fullmatch(r"/licencas/cancelamento/(\w+)", response.headers["Location"])
    assert found, response.headers["Location"]
    return found.group(1)


def test_zero_with_a_reason_leads_into_cancelar(march, world, login_as):
    subscription = factories.subscription(world.demo, quantity=10)
    client = login_as("adm")
    token = cancellation_token(ask_change(client, subscription, 0, category="rescisao_contrato", reason=REASON))
    assert preview(client, token).headers["Location"] == f"/licencas/cancelamento/{token}"  # one page for zero
    page = client.get(f"/licencas/cancelamento/{token}")
    cancellation = section(page, "cancellation")
    assert "Isto é um cancelamento da assinatura." in cancellation
    assert "seguem em uso até 10/01/2027, quando a assinatura termina" in cancellation
    assert f"Motivo informado: Rescisão de contrato — {REASON}" in cancellation
    assert 'name="password"' in text(page) and "Confirmar cancelamento" in text(page)
    refused = confirm(client, token)  # the quantities' confirmation does not cancel
    assert refused.headers["Location"] == f"/licencas/{subscription.id}/alterar?orcamento={token}"
    assert subscription.renewal_quantity is None and db.session.scalar(select(func.count(CancellationRequest.id))) == 0
    done = client.post(f"/licencas/cancelamento/{token}/confirmar", data={"password": factories.PASSWORD})
    assert done.headers["Location"] == "/licencas"
    listing = client.get("/licencas")
    assert "Cancelamento agendado para o fim do termo, em 10/01/2027" in license_row(listing, subscription)
    [request] = db.session.scalars(select(CancellationRequest)).all()
    assert (request.subscription_id, request.category, request.reason, request.requested_by_id) == (
        subscription.id, "rescisao_contrato", REASON, world.adm.id)


def test_zero_inside_the_window_ends_the_subscription_now(march, world, login_as):
    subscription = factories.subscription(world.demo, quantity=2, added_at=clock.now())
    client = login_as("master")
    token = cancellation_token(ask_change(client, subscription, 0, category="custo", reason=REASON))
    assert "A assinatura termina hoje." in section(client.get(f"/licencas/cancelamento/{token}"), "cancellation")
    client.post(f"/licencas/cancelamento/{token}/confirmar", data={"password": factories.PASSWORD})
    assert subscription.status == SubscriptionStatus.CANCELLED
    assert "cancelada" in license_row(client.get("/licencas"), subscription)


def test_a_role_without_the_cancel_permission_cannot_quote_zero(march, world, login_as, monkeypatch):
    monkeypatch.setitem(ROLE_PERMISSIONS, Role.ADM, ROLE_PERMISSIONS[Role.ADM] - {Permission.SUBSCRIPTIONS_CANCEL})
    subscription = factories.subscription(world.demo)
    response = ask_change(login_as("adm"), subscription, 0, category="custo", reason=REASON)
    assert response.status_code == 422
    assert field_errors(response) == ["Seu papel não permite cancelar licenças. Peça a um Master ou Adm."]


# ---------------------------------------------------------------- wrong input

@pytest.mark.parametrize(("typed", "message"), [
    ("dez", "Informe a quantidade em números inteiros, por exemplo 12."),
    ("2,5", "Informe a quantidade em números inteiros, por exemplo 12."),
    ("9" * 5000, "Informe a quantidade em números inteiros, por exemplo 12."),
    ("", "Preencha este campo."),
    ("-1", "A quantidade não pode ser negativa."),
    ("301", "O máximo para este produto é 300 licenças."),
    ("99999999999999999999", "O máximo para este produto é 300 licenças."),
    ("10", "Esta já é a quantidade atual."),
])
def test_wrong_quantities_are_explained_and_kept(march, world, login_as, typed, message):
    subscription = factories.subscription(world.demo, quantity=10)
    response = ask_change(login_as("adm"), subscription, typed)
    assert response.status_code == 422
    assert field_errors(response) == [message]
    assert input_value(response, "quantity") == typed
    assert db.session.scalar(select(func.count(Quote.id))) == 0


def test_a_subscription_that_is_not_active_cannot_be_changed(march, world, login_as):
    subscription = factories.subscription(world.demo, status=SubscriptionStatus.SUSPENDED)
    client = login_as("adm")
    page = client.get(f"/licencas/{subscription.id}/alterar")
    assert page.status_code == 200 and "Esta licença está suspensa" in section(page, "not-manageable")
    assert 'name="quantity"' not in text(page)
    response = ask_change(client, subscription, 12)
    assert response.status_code == 422
    assert "Esta licença está suspensa. Fale com a nossa equipe financeira para reativá-la." in alerts(response)


# ---------------------------------------------------------------- stale quotes and double submissions

def test_a_quote_confirmed_after_midnight_is_stale_and_asks_to_requote(march, world, login_as):
    subscription = factories.subscription(world.demo, quantity=10)
    client = login_as("adm")
    token = token_of(ask_change(client, subscription, 13))
    clock.advance(timedelta(hours=9, minutes=1))  # 00:01 in São Paulo, the next day
    sign_in(client, world.adm)  # a new sign-in: the session would have timed out meanwhile
    assert "Este orçamento expirou" in section(preview(client, token), "expired")
    response = confirm(client, token)
    assert response.status_code == 302
    assert response.headers["Location"] == f"/licencas/{subscription.id}/alterar?orcamento={token}"
    form = client.get(response.headers["Location"])
    assert alerts(form) == ["Este orçamento expirou. Confira os valores atualizados antes de confirmar."]
    assert input_value(form, "quantity") == "13"  # ready to quote again
    assert subscription.quantity == 10 and orders_of(subscription) == [] and ledger(subscription) == [("initial", 10)]
    fresh = preview(client, token_of(ask_change(client, subscription, 13)))
    assert "(20 de 31 dias): R$ 152,71" in quote_lines(fresh)["charge"][0]  # 78,90 × 3 × 20/31 = 152,709…


def test_a_quote_made_before_another_change_is_stale(march, world, login_as):
    subscription = factories.subscription(world.demo, quantity=10)
    client = login_as("adm")
    first = token_of(ask_change(client, subscription, 13))
    second = token_of(ask_change(client, subscription, 12))
    change = confirm(client, second)
    assert change.headers["Location"] == "/licencas"
    client.get("/licencas")  # the success message is read
    response = confirm(client, first)
    assert response.headers["Location"] == f"/licencas/{subscription.id}/alterar?orcamento={first}"
    assert alerts(client.get(response.headers["Location"])) == [
        "A licença mudou desde este orçamento. Confira os valores atualizados."]
    assert subscription.quantity == 12 and len(orders_of(subscription)) == 1
    assert db.session.scalar(select(func.sum(QuantityChange.charge_cents))) == 10690  # only the +2: 78,90×2×21/31


def test_confirming_twice_makes_one_order(march, world, login_as):
    subscription = factories.subscription(world.demo, quantity=10)
    client = login_as("adm")
    token = token_of(ask_change(client, subscription, 13))
    first, second = confirm(client, token), confirm(client, token)
    assert first.headers["Location"] == second.headers["Location"] == "/licencas"
    assert alerts(client.get("/licencas")) == [DONE_FLASH, DONE_FLASH]
    assert len(orders_of(subscription)) == 1 and subscription.quantity == 13
    assert ledger(subscription) == [("initial", 10), ("increase", 3)]


def test_going_back_from_the_preview_keeps_what_was_typed(march, world, login_as):
    subscription = factories.subscription(world.demo, quantity=10)
    client = login_as("adm")
    token = token_of(ask_change(client, subscription, 12))
    back = re.search(r'href="([^"]*orcamento=[^"]*)">Voltar<', text(preview(client, token))).group(1)
    assert input_value(client.get(html.unescape(back)), "quantity") == "12"
    token = cancellation_token(ask_change(client, subscription, 0, category="nao_utiliza", reason=REASON))
    back = re.search(r'href="([^"]*orcamento=[^"]*)">Voltar<', text(client.get(f"/licencas/cancelamento/{token}")))
    form = client.get(html.unescape(back.group(1)))  # "Cancelar", with the category and the text kept
    assert '<option selected value="nao_utiliza">' in text(form) and textarea(form, "reason") == REASON


# ---------------------------------------------------------------- orders

def test_an_open_order_promises_30_minutes(march, world, login_as):
    order = manual_order(factories.subscription(world.demo))
    page = login_as("cobranca").get(f"/pedidos/{order.id}")
    assert page.status_code == 200
    assert "será refletido em até 30 minutos" in section(page, "order-open")
    assert "pendente" in section(page, "order-facts")


def test_a_failed_order_says_so_without_the_providers_words(march, world, login_as):
    subscription = factories.subscription(world.demo)
    order = manual_order(subscription, OrderStatus.FAILED, (
        "order created", "attempt 1 failed (500): upstream exploded; retrying",
        "failed (800090): Seats cannot be reduced after the cancellation window"))
    order.error_message = "Seats cannot be reduced after the cancellation window"
    db.session.commit()
    page = login_as("adm").get(f"/pedidos/{order.id}")
    timeline = section(page, "timeline")
    assert timeline.endswith("Não conseguimos concluir; nossa equipe já foi avisada.")
    assert timeline.count("—") == 2  # received, failed: the retry is not a step for the customer
    for internal in ("800090", "Seats", "upstream", "attempt"):
        assert internal not in text(page)


def test_a_failed_order_the_customer_can_fix_says_what_to_do(march, world, login_as):
    order = manual_order(factories.subscription(world.demo), OrderStatus.FAILED, (
        "order created", "failed (2002): Subscription quantity isn't within minimum and maximum allowed quantity."))
    order.error_code, order.error_message = "2002", "Subscription quantity isn't within minimum and maximum."
    db.session.commit()
    page = login_as("adm").get(f"/pedidos/{order.id}")
    said = section(page, "order-failed")
    assert said.startswith("Não conseguimos concluir este pedido. A Microsoft não aceita essa quantidade")
    assert "Escolha outra quantidade em Licenças" in said and "2002" not in text(page)
    staff_side = manual_order(factories.subscription(world.demo), OrderStatus.FAILED, ("order created", "failed"))
    staff_side.error_code = "no_tenant"
    db.session.commit()
    said = section(login_as("adm").get(f"/pedidos/{staff_side.id}"), "order-failed")
    assert said == "Não conseguimos concluir; nossa equipe já foi avisada."  # nothing for the customer to do


def test_a_superseded_order_says_it_was_withdrawn_not_resent(march, world, login_as):
    order = manual_order(factories.subscription(world.demo), OrderStatus.WITHDRAWN, (
        "order created", "attempt 1 failed (simulated): …; retrying",
        "superseded by order 99 (same subscription and kind, absolute quantity 14); not sent"))
    page = login_as("adm").get(f"/pedidos/{order.id}")
    timeline = section(page, "timeline")
    assert timeline.endswith("Pedido retirado: não será enviado.")
    assert "enviou o pedido novamente" not in timeline and "superseded" not in text(page)


# ---------------------------------------------------------------- another organization's objects

def test_another_organizations_objects_are_not_found(march, world, login_as):
    theirs = factories.subscription(world.other)
    their_quote = service.quote_quantity_change(organization=world.other, subscription=theirs, new_quantity=12,
                                                actor=Actor.for_user(world.other_master))
    their_order = manual_order(theirs)
    client = login_as("master")
    for url in (f"/licencas/{theirs.id}", f"/licencas/{theirs.id}/alterar", f"/licencas/orcamento/{their_quote.token}",
                f"/pedidos/{their_order.id}", "/licencas/orcamento/nao-existe", "/pedidos/2147483647"):
        assert client.get(url).status_code == 404, url
    assert ask_change(client, theirs, 12).status_code == 404
    assert confirm(client, their_quote.token).status_code == 404
    assert theirs.quantity == 10 and len(orders_of(theirs)) == 1
    assert db.session.get(Quote, their_quote.id).status == "open"
    mine = factories.subscription(world.demo)
    form = client.get(f"/licencas/{mine.id}/alterar?orcamento={their_quote.token}")  # not a way to peek
    assert form.status_code == 200 and input_value(form, "quantity") == "10"


def test_a_checkout_quote_is_not_shown_here(march, world, login_as):
    product = factories.ProductFactory()
    carts.set_cart_quantity(organization=world.demo, user=world.adm, product_id=product.id, quantity=2)
    checkout = service.quote_checkout(organization=world.demo, user=world.adm, actor=Actor.for_user(world.adm))
    client = login_as("adm")
    assert preview(client, checkout.token).status_code == 404
    assert confirm(client, checkout.token).status_code == 404


def test_the_pages_render_in_english_too(march, world, login_as):
    world.adm.language = "en"
    db.session.commit()
    subscription = factories.subscription(world.demo, quantity=10, renewal_quantity=9)
    client = login_as("adm")
    token = token_of(ask_change(client, subscription, 13))
    for url in ("/licencas", f"/licencas/{subscription.id}", f"/licencas/{subscription.id}/alterar",
                f"/licencas/orcamento/{token}"):
        response = client.get(url)
        assert response.status_code == 200 and 'lang="en"' in text(response), url
    order = manual_order(subscription)
    row = license_row(client.get("/licencas"), subscription)  # its words are translated once per page
    for expected in ("R$78.90", "per month", "annual term", "renews on 01/10/2027", "active", "Change quantities",
                     "1 fewer license as of 01/10/2027", f"Order #{order.id}: pending",
                     "will be reflected within 30 minutes"):
        assert expected in row, (expected, row)
