"""Backoffice "Pedidos": the list and its filters, an order's log, retrying and completing by hand, who may do what."""

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.integrations.partner_center import PartnerCenterSimulator
from portal.shared import clock, cnpj
from portal.shared.audit import Actor, AuditEvent, AuditTag
from portal.subscriptions import jobs
from portal.subscriptions import service as subscriptions
from portal.subscriptions.models import Order, OrderKind, OrderStatus
from tests import factories
from tests.backoffice.routes_orders import make_order
from tests.conftest import sign_in

# 12:00 in São Paulo on a Tuesday: far from the end of the business day quotes expire at.
NOON = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
NOTE = "Backup configurado no servidor do cliente e testado com ele."


@pytest.fixture(autouse=True)
def tenant(app_ctx, world):
    """Demo Tecnologia is known at Microsoft (orders of an organization without a tenant go straight to staff)."""
    world.demo.microsoft_tenant_id = "00000000-0000-4000-8000-000000000001"
    db.session.commit()


@pytest.fixture
def frozen():
    with clock.frozen(NOON):
        yield clock


@pytest.fixture
def provisioner(app_ctx):
    """`provisioner(PartnerCenterSimulator(...))` swaps the app's provisioner for the test; restored afterwards."""
    original = app_ctx.extensions["provisioner"]

    def use(simulator):
        app_ctx.extensions["provisioner"] = simulator
        return simulator

    yield use
    app_ctx.extensions["provisioner"] = original


def staff(client, world, role):
    """Signed in as the staff member with `role` (a fresh sign-in: the clock may have moved)."""
    return sign_in(client, getattr(world, f"staff_{role}"))


def change_quantity(world, subscription, new_quantity) -> Order:
    """The customer's Adm changes a quantity through the real services (quote → confirm → job runs inline)."""
    actor = Actor.for_user(world.adm)
    quote = subscriptions.quote_quantity_change(organization=world.demo, subscription=subscription,
                                                new_quantity=new_quantity, actor=actor)
    [order] = subscriptions.confirm_quote(organization=world.demo, token=quote.token, actor=actor)
    return fresh(order)


def fresh(order: Order) -> Order:
    """The order as the database has it now (jobs ran in sessions of their own)."""
    db.session.expire_all()
    return db.session.get(Order, order.id)


def sweep():
    jobs.sweep_orders.call_local()


def fail_for_good(world, provisioner) -> Order:
    """An order whose six attempts all fail (1 + 2 + 4 + 8 + 16 minutes of backoff): FAILED and flagged."""
    provisioner(PartnerCenterSimulator(failure_rate=1.0, seed=1))
    order = change_quantity(world, factories.subscription(world.demo, quantity=10), 12)
    assert order.status == OrderStatus.PENDING and order.attempts == 1
    for minutes in (1, 2, 4, 8, 16):
        clock.advance(timedelta(minutes=minutes))
        sweep()
    return fresh(order)


def page(client, url, status=200) -> str:
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code)
    return html.unescape(response.get_data(as_text=True))


def listed(body: str) -> list[int]:
    """Order numbers in the list, top to bottom."""
    return [int(n) for n in re.findall(r'data-order="(\d+)"', body)]


def row(body: str, order: Order) -> str:
    """The list's row of `order`."""
    return re.search(rf'<tr[^>]*data-order="{order.id}".*?</tr>', body, re.S).group(0)


# ---------------------------------------------------------------- the list

def test_list_shows_every_order_newest_first_with_the_providers_words(client, world, frozen):
    older = make_order(world.demo, status=OrderStatus.DONE, created_at=clock.now() - timedelta(hours=3),
                       completed_at=clock.now() - timedelta(hours=3) + timedelta(minutes=2), attempts=1)
    failed = make_order(world.other, status=OrderStatus.FAILED, kind=OrderKind.PURCHASE, attempts=6,
                        created_at=clock.now() - timedelta(hours=1), error_code="800002",
                        error_message="The partner is not authorized to perform this operation.")
    body = page(staff(client, world, "comercial"), "/backoffice/pedidos")
    assert listed(body) == [failed.id, older.id]
    first, second = row(body, failed), row(body, older)
    assert "Outra Empresa S.A." in first and "Demo Tecnologia Ltda" in second
    assert failed.subscription.product.name in first
    assert ">compra<" in first and ">alteração de quantidade<" in second
    assert ">falhou<" in first and ">concluído<" in second
    assert ">6<" in first and ">1<" in second  # attempts
    assert "800002" in first and "The partner is not authorized to perform this operation." in first
    assert ">2 min<" in second  # how long the done one took
    assert "10/03/2026 11:00" in first and ">1 h<" in first  # created (São Paulo time) and age


def test_orders_open_longer_than_30_minutes_are_highlighted(client, world, frozen, provisioner):
    provisioner(PartnerCenterSimulator(delay_seconds=3600))  # the provider accepts (202) and takes an hour
    order = change_quantity(world, factories.subscription(world.demo), 12)
    assert order.status == OrderStatus.SENT
    client = staff(client, world, "suporte")
    body = page(client, "/backoffice/pedidos")
    assert listed(body) == [order.id] and "atrasado há" not in body
    assert listed(page(client, "/backoffice/pedidos?atrasados=1")) == []

    clock.advance(timedelta(minutes=31))
    client = staff(client, world, "suporte")
    body = page(client, "/backoffice/pedidos")
    highlighted = row(body, order)
    assert 'class="table-warning" data-overdue="1"' in highlighted
    assert "atrasado há 1 min" in highlighted and ">31 min<" in highlighted
    assert listed(page(client, "/backoffice/pedidos?atrasados=1")) == [order.id]
    assert re.search(r'data-testid="orders-attention">1<', body)  # the navigation badge
    detail = page(client, f"/backoffice/pedidos/{order.id}")
    assert "atrasado há 1 min" in detail


def test_filters(client, world, frozen):
    now = clock.now()
    pending = make_order(world.demo, created_at=now - timedelta(days=3))  # 07/03
    failed = make_order(world.other, status=OrderStatus.FAILED, kind=OrderKind.PURCHASE,
                        created_at=now - timedelta(days=1))  # 09/03
    done = make_order(world.demo, status=OrderStatus.DONE, kind=OrderKind.RENEWAL_QUANTITY,
                      created_at=now - timedelta(days=10), completed_at=now - timedelta(days=10))  # 28/02
    implantacao = make_order(world.demo, status=OrderStatus.SENT, needs_staff=True,
                             subscription=factories.subscription(world.demo, product=factories.own_service_product()),
                             created_at=now - timedelta(minutes=5))
    client = staff(client, world, "financeiro")
    everything = [implantacao.id, failed.id, pending.id, done.id]
    assert listed(page(client, "/backoffice/pedidos")) == everything
    cases = {
        "situacao=pendente": [pending.id],
        "situacao=enviado": [implantacao.id],
        "situacao=concluido": [done.id],
        "situacao=concluído": [done.id],
        "situacao=falhou": [failed.id],
        "tipo=compra": [failed.id],
        "tipo=renovacao": [done.id],
        "tipo=quantidade": [implantacao.id, pending.id],
        "equipe=1": [implantacao.id, failed.id],
        "organizacao=outra": [failed.id],
        "organizacao=DEMO tec": [implantacao.id, pending.id, done.id],
        f"organizacao={cnpj.format(world.other.cnpj)}": [failed.id],  # CNPJ typed with its mask
        "organizacao=100%25": [],  # LIKE wildcards are searched for literally
        "de=08/03/2026": [implantacao.id, failed.id],
        "ate=07/03/2026": [pending.id, done.id],
        "de=2026-03-07&ate=2026-03-09": [failed.id, pending.id],  # as a date input sends it
        "de=01/03/2026&ate=09/03/2026&situacao=pendente": [pending.id],
        "atrasados=1": [pending.id],  # open for three days
    }
    for query, expected in cases.items():
        assert listed(page(client, f"/backoffice/pedidos?{query}")) == expected, query
    response = client.get("/backoffice/implantacao")
    assert response.headers["Location"].endswith("/backoffice/pedidos?equipe=1")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("situacao=perdido", "Situação desconhecida: “perdido”."),
        ("tipo=troca", "Tipo desconhecido: “troca”."),
        ("de=31/02/2026", "“31/02/2026” não é uma data válida: use dd/mm/aaaa."),
        ("ate=abc", "“abc” não é uma data válida: use dd/mm/aaaa."),
        ("de=2026-13-01", "“2026-13-01” não é uma data válida"),
        ("de=01/01/0001", "Use uma data entre 01/01/2000 e 31/12/2999."),
        ("ate=31/12/9999", "Use uma data entre 01/01/2000 e 31/12/2999."),
        ("de=01/03/2026&ate=28/02/2026", "A data final é anterior à inicial."),
        ("atrasados=talvez", "Valor não reconhecido: “talvez”."),
    ],
)
def test_bad_filters_are_explained_and_ignored(client, world, frozen, query, message):
    first = make_order(world.demo, created_at=clock.now() - timedelta(days=2))
    second = make_order(world.other, created_at=clock.now() - timedelta(hours=1))
    body = page(staff(client, world, "compliance"), f"/backoffice/pedidos?{query}&organizacao=", status=422)
    assert message in body
    assert listed(body) == [second.id, first.id]  # that filter ignored, nothing else lost


def test_bad_filter_keeps_the_good_ones_and_what_was_typed(client, world, frozen):
    ours = make_order(world.demo, status=OrderStatus.FAILED)
    make_order(world.other, status=OrderStatus.FAILED)
    body = page(staff(client, world, "admin"), "/backoffice/pedidos?de=31/02/2026&organizacao=Demo&situacao=falhou",
                status=422)
    assert listed(body) == [ours.id]
    assert 'value="31/02/2026"' in body and 'value="Demo"' in body
    assert 'aria-describedby="f-de-error"' in body


def test_pages_of_50(client, world, frozen):
    subscription = factories.subscription(world.demo)
    ids = [make_order(world.demo, subscription=subscription, created_at=clock.now() - timedelta(minutes=n)).id
           for n in range(51)]
    client = staff(client, world, "admin")
    first = page(client, "/backoffice/pedidos?situacao=pendente")
    assert listed(first) == ids[:50] and "pagina=2" in first and "situacao=pendente" in first
    assert listed(page(client, "/backoffice/pedidos?situacao=pendente&pagina=2")) == ids[50:]
    for weird in ("abc", "-3", str(10**12)):
        page(client, f"/backoffice/pedidos?pagina={weird}")


# ---------------------------------------------------------------- one order

def test_detail_shows_the_order_its_provider_facts_and_the_whole_log(client, world, frozen, provisioner):
    subscription = factories.subscription(world.demo, quantity=10, added_at=clock.now())  # inside the 168 h window
    simulator = provisioner(PartnerCenterSimulator())
    # Partner Center knows it with no refundable seat left: it refuses the decrease (800090), for good.
    simulator.add_subscription(world.demo.microsoft_tenant_id, subscription.product.offer_id, 10,
                               subscription_id=subscription.provider_subscription_id)
    order = change_quantity(world, subscription, 8)
    assert order.status == OrderStatus.FAILED and order.needs_staff and order.error_code == "800090"

    body = page(staff(client, world, "compliance"), f"/backoffice/pedidos/{order.id}")
    assert f"Pedido nº {order.id}" in body
    assert order.correlation_id in body and order.provider_request_id in body
    assert world.adm.email in body and "Demo Tecnologia Ltda" in body
    assert subscription.product.name in body and "alteração de quantidade" in body
    assert "800090" in body and "cancellation window" in body  # the provider's own words
    events = body[body.index('data-testid="order-events"'):]
    assert "order created" in events and "failed (800090)" in events
    assert '"code": "800090",' in events and '"isRetryable": false' in events  # pretty-printed JSON
    assert "precisa da equipe" in body
    assert "Reenviar ao provedor" not in body and "Concluir manualmente" not in body  # compliance reads only

    manager = page(staff(client, world, "suporte"), f"/backoffice/pedidos/{order.id}")
    assert "Reenviar ao provedor" in manager and "Concluir manualmente" in manager


def test_unknown_orders_are_404(client, world):
    client = staff(client, world, "admin")
    for url in ("/backoffice/pedidos/999999", f"/backoffice/pedidos/{2**31}", "/backoffice/pedidos/999999/concluir"):
        assert client.get(url).status_code == 404
    assert client.post("/backoffice/pedidos/999999/reenviar").status_code == 404


def test_retry_sends_a_failed_order_again_and_the_sweep_finishes_it(client, world, frozen, provisioner):
    order = fail_for_good(world, provisioner)
    assert order.status == OrderStatus.FAILED and order.needs_staff and order.attempts == 6
    assert order.error_code == "simulated"

    client = staff(client, world, "suporte")
    response = client.post(f"/backoffice/pedidos/{order.id}/reenviar")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/backoffice/pedidos/{order.id}")
    assert "reenviado ao provedor" in page(client, response.headers["Location"])
    order = fresh(order)  # the provider still fails: pending again, first attempt made, next one scheduled
    assert order.status == OrderStatus.PENDING and not order.needs_staff and order.attempts == 1
    tags = db.session.scalars(select(AuditEvent).where(AuditEvent.subject == f"order:{order.id}",
                                                       AuditEvent.tag == AuditTag.ORDER_RETRIED_BY_STAFF)).all()
    assert [event.actor_id for event in tags] == [world.staff_suporte.id]

    provisioner(PartnerCenterSimulator())  # the provider is back
    clock.advance(timedelta(minutes=1))
    sweep()
    order = fresh(order)
    assert order.status == OrderStatus.DONE and order.completed_at == clock.now()
    detail = page(staff(client, world, "suporte"), f"/backoffice/pedidos/{order.id}")
    assert f"retried by {world.staff_suporte.email}" in detail
    assert "Reenviar ao provedor" not in detail  # nothing left to do

    response = client.post(f"/backoffice/pedidos/{order.id}/reenviar")  # a late second click
    assert "Este pedido já foi concluído." in page(client, response.headers["Location"])


def test_an_own_service_order_is_completed_by_hand_with_a_note(client, world, frozen, outbox):
    product = factories.own_service_product(name="Backup em Nuvem 100 GB")
    order = change_quantity(world, factories.subscription(world.demo, product=product, quantity=3), 5)
    assert order.status == OrderStatus.SENT and order.needs_staff  # handed to implantação
    client = staff(client, world, "suporte")
    assert listed(page(client, "/backoffice/pedidos?equipe=1")) == [order.id]
    detail = page(client, f"/backoffice/pedidos/{order.id}")
    assert "Serviço próprio" in detail and "Reenviar ao provedor" not in detail
    response = client.post(f"/backoffice/pedidos/{order.id}/reenviar")  # not through the URL either
    assert "Pedidos de serviços próprios são concluídos pela equipe de implantação." in page(
        client, response.headers["Location"])
    assert fresh(order).status == OrderStatus.SENT

    confirm = page(client, f"/backoffice/pedidos/{order.id}/concluir")  # the confirmation step
    assert "Backup em Nuvem 100 GB" in confirm and "Confirmar conclusão" in confirm

    response = client.post(f"/backoffice/pedidos/{order.id}/concluir", data={"note": " ok "})
    body = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 422
    assert "Descreva o que foi feito (pelo menos 5 caracteres)." in body and " ok </textarea>" in body
    assert fresh(order).status == OrderStatus.SENT

    outbox.clear()
    response = client.post(f"/backoffice/pedidos/{order.id}/concluir", data={"note": NOTE})
    assert response.status_code == 302
    assert "o cliente foi avisado por e-mail" in page(client, response.headers["Location"])
    order = fresh(order)
    assert order.status == OrderStatus.DONE and not order.needs_staff and order.completed_at == clock.now()
    assert order.events[-1].message == f"completed by {world.staff_suporte.email}: {NOTE}"
    assert {message["To"] for message in outbox} == {world.adm.email, world.master.email}
    assert all(message["Subject"] == "Pedido de licenças concluído" for message in outbox)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.tag == AuditTag.ORDER_COMPLETED_BY_STAFF,
                                                       AuditEvent.subject == f"order:{order.id}"))
    assert event.actor_id == world.staff_suporte.id and event.after["note"] == NOTE
    assert event.organization_id == world.demo.id
    assert listed(page(client, "/backoffice/pedidos?equipe=1")) == []

    again = client.get(f"/backoffice/pedidos/{order.id}/concluir")
    assert again.status_code == 302
    response = client.post(f"/backoffice/pedidos/{order.id}/concluir", data={"note": NOTE})
    assert response.status_code == 422 and "Este pedido já foi concluído." in response.get_data(as_text=True)
    assert len(outbox) == 2  # nobody is told twice


def test_a_failed_microsoft_order_can_be_completed_by_hand(client, world, frozen, provisioner):
    order = fail_for_good(world, provisioner)
    client = staff(client, world, "admin")
    response = client.post(f"/backoffice/pedidos/{order.id}/concluir",
                           data={"note": "Quantidade alterada diretamente no Partner Center."})
    assert response.status_code == 302
    assert fresh(order).status == OrderStatus.DONE


@pytest.mark.parametrize("role", ["comercial", "financeiro", "compliance"])
def test_read_only_staff_cannot_act_on_orders(client, world, frozen, role):
    order = make_order(world.demo, status=OrderStatus.FAILED, error_code="500", error_message="Internal error")
    client = staff(client, world, role)
    assert client.get(f"/backoffice/pedidos/{order.id}").status_code == 200
    assert client.get("/backoffice/implantacao").status_code == 302
    assert client.post(f"/backoffice/pedidos/{order.id}/reenviar").status_code == 403
    assert client.get(f"/backoffice/pedidos/{order.id}/concluir").status_code == 403
    assert client.post(f"/backoffice/pedidos/{order.id}/concluir", data={"note": NOTE}).status_code == 403
    order = fresh(order)
    assert order.status == OrderStatus.FAILED and order.attempts == 0


@pytest.mark.parametrize("role", ["master", "adm", "cobranca", "suporte"])
def test_customers_get_404(client, world, role):
    order = make_order(world.demo, status=OrderStatus.FAILED)
    client = sign_in(client, getattr(world, role))
    for url in ("/backoffice/pedidos", f"/backoffice/pedidos/{order.id}", "/backoffice/implantacao",
                f"/backoffice/pedidos/{order.id}/concluir"):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/backoffice/pedidos/{order.id}/reenviar").status_code == 404
    assert client.post(f"/backoffice/pedidos/{order.id}/concluir", data={"note": NOTE}).status_code == 404
    assert fresh(order).status == OrderStatus.FAILED


def test_strangers_are_sent_to_sign_in(app_ctx):
    response = app_ctx.test_client().get("/backoffice/pedidos")
    assert response.status_code == 302 and "/entrar" in response.headers["Location"]


# ---------------------------------------------------------------- navigation and home

def test_navigation_badge_and_home_card_count_what_needs_attention(client, world, frozen):
    client = staff(client, world, "financeiro")
    body = page(client, "/backoffice/")
    assert 'href="/backoffice/pedidos"' in body and "orders-attention" not in body
    now = clock.now()
    make_order(world.demo, status=OrderStatus.FAILED)  # needs staff
    make_order(world.demo, created_at=now - timedelta(minutes=45))  # overdue
    make_order(world.other, status=OrderStatus.FAILED, created_at=now - timedelta(hours=2))  # both: counted once
    make_order(world.demo, status=OrderStatus.DONE, created_at=now - timedelta(hours=5), completed_at=now)
    make_order(world.demo)  # pending, on time
    body = page(client, "/backoffice/")
    assert re.search(r'data-testid="orders-attention">3<', body)
    card = body[body.index('data-testid="orders-card"'):]
    numbers = [int(n) for n in re.findall(r'display-6 mb-0">(\d+)<', card)]
    assert numbers == [2, 1, 2]  # open, overdue, needing staff
    listing = page(client, "/backoffice/pedidos")
    nav = listing[:listing.index("</ul>")]
    assert 'active" aria-current="page" href="/backoffice/pedidos"' in nav
