"""Backoffice "Auditoria": the cancellations audit (list, filters, detail, CSV, chart), the audit trail and its
integrity check, and who may see them."""

import csv
import html
import io
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text, update
from sqlalchemy.exc import DBAPIError

from portal.audit import service as audit_service
from portal.audit.service import CancellationFilters
from portal.cancellations import service as cancellations
from portal.cancellations.models import CancellationRequest, CancellationStatus, ReasonCategory
from portal.extensions import db
from portal.shared import clock
from portal.shared.audit import Actor, AuditEvent, AuditTag, record
from portal.shared.money import format_brl
from portal.subscriptions import service as subscriptions
from portal.subscriptions.models import OrderKind, OrderStatus
from tests import factories
from tests.backoffice.routes_audit import REASON, make_cancellation
from tests.backoffice.routes_orders import make_order
from tests.conftest import sign_in

# 12:00 in São Paulo on a Tuesday (15:00 UTC).
NOON = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
TRICKY = 'Custo alto; o "plano" não compensa,\nvamos reduzir = economia'


@pytest.fixture(autouse=True)
def tenant(app_ctx, world):
    """Demo Tecnologia is known at Microsoft (orders of an organization without a tenant go straight to staff)."""
    world.demo.microsoft_tenant_id = "00000000-0000-4000-8000-000000000001"
    db.session.commit()


@pytest.fixture
def frozen():
    with clock.frozen(NOON):
        yield clock


def staff(client, world, role="compliance"):
    return sign_in(client, getattr(world, f"staff_{role}"))


def page(client, url, status=200) -> str:
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code)
    return html.unescape(response.get_data(as_text=True))


def listed(body: str) -> list[int]:
    """Cancellation numbers in the list, top to bottom (a rescission's items right after it)."""
    return [int(n) for n in re.findall(r'data-cancellation="(\d+)"', body)]


def row(body: str, request: CancellationRequest) -> str:
    return re.search(rf'<tr[^>]*data-cancellation="{request.id}".*?</tr>', body, re.S).group(0)


def adm_actor(world, user=None) -> Actor:
    return Actor.for_user(user or world.adm, ip="198.51.100.23", user_agent="pytest")


def cancel_through_services(world, subscription, *, category=ReasonCategory.MIGRATION, reason=REASON):
    """The Adm zeroes a subscription with a reason, as the portal does: the quote, then "Cancelar" with the
    password again."""
    actor = adm_actor(world)
    quote = subscriptions.quote_quantity_change(organization=world.demo, subscription=subscription, new_quantity=0,
                                                actor=actor, category=category, reason=reason)
    return cancellations.cancel(organization=world.demo, token=quote.token, password=factories.PASSWORD,
                                actor=actor, actor_membership=world.adm_membership)


# ---------------------------------------------------------------- the list

def test_list_shows_who_what_why_and_the_providers_result(client, world, frozen):
    subscription = factories.subscription(world.demo, quantity=10)
    request = make_cancellation(world.demo, world.adm, category=ReasonCategory.COST, reason=TRICKY,
                                subscription=subscription, roles="master,cobranca", ip="203.0.113.9",
                                quantity_before=10, quantity_after=4, ends_on=date(2026, 9, 1),
                                credit_cents=123456, created_at=NOON - timedelta(hours=1))
    failed = make_order(world.demo, subscription=subscription, kind=OrderKind.RENEWAL_QUANTITY, quantity=0,
                        status=OrderStatus.FAILED, created_at=request.created_at, error_code="800002",
                        error_message="The partner is not authorized to perform this operation.")
    make_cancellation(world.other, world.other_master, created_at=NOON - timedelta(hours=3))
    body = page(staff(client, world), "/backoffice/auditoria/cancelamentos")
    assert len(listed(body)) == 2 and listed(body)[0] == request.id
    line = row(body, request)
    assert "Demo Tecnologia Ltda" in line and "Adm Demo" in line and world.adm.email in line
    assert "Master, Cobrança" in line and "203.0.113.9" in line
    assert "10/03/2026 11:00" in line  # São Paulo time
    assert ">Custo<" in line and 'Custo alto; o "plano" não compensa,<br>vamos reduzir = economia' in line
    assert subscription.product.name in line and "10 → 4" in line and "01/09/2026" in line
    assert "R$ 1.234,56" in line
    assert ">falhou<" in line and "800002: The partner is not authorized" in line
    assert failed.id  # the rescission-item path: no quote, the subscription's order made with the request


def test_a_rescission_lists_its_items_under_it_and_withdrawn_ones_are_marked(client, world, frozen):
    first, second = factories.subscription(world.demo), factories.subscription(world.demo)
    parent = make_cancellation(world.demo, world.master, category=ReasonCategory.RESCISSION, is_rescission=True,
                               status=CancellationStatus.WITHDRAWN, withdrawn_at=NOON + timedelta(minutes=20),
                               withdrawn_by_id=world.master.id)
    items = [make_cancellation(world.demo, world.master, category=ReasonCategory.RESCISSION, is_rescission=True,
                               parent=parent, subscription=sub, quantity_before=10, quantity_after=10,
                               ends_on=sub.term_end, credit_cents=0, status=CancellationStatus.WITHDRAWN)
             for sub in (first, second)]
    for item, sub in zip(items, (first, second), strict=True):
        make_order(world.demo, subscription=sub, kind=OrderKind.RENEWAL_QUANTITY, quantity=0,
                   status=OrderStatus.WITHDRAWN, created_at=item.created_at)
    body = page(staff(client, world), "/backoffice/auditoria/cancelamentos")
    assert listed(body) == [parent.id, items[0].id, items[1].id]
    top = row(body, parent)
    assert "Rescisão de contrato" in top and "retirada em 10/03/2026 12:20" in top and 'data-withdrawn="1"' in top
    assert "2 licenças, abaixo" in top and ">retirado<" in top
    assert f'data-parent="{parent.id}"' in row(body, items[0]) and first.product.name in row(body, items[0])


def test_filters_by_period_organization_category_and_user(client, world, frozen):
    early = make_cancellation(world.demo, world.adm, category=ReasonCategory.COST,
                              created_at=datetime(2026, 2, 1, 2, 30, tzinfo=UTC))  # 31/01 23:30 in São Paulo
    middle = make_cancellation(world.demo, world.master, category=ReasonCategory.NOT_USED,
                               created_at=datetime(2026, 2, 15, 12, 0, tzinfo=UTC))
    other = make_cancellation(world.other, world.other_master, category=ReasonCategory.COST,
                              created_at=datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    client = staff(client, world)
    base = "/backoffice/auditoria/cancelamentos"
    assert listed(page(client, base)) == [other.id, middle.id, early.id]
    assert listed(page(client, f"{base}?de=01/02/2026&ate=28/02/2026")) == [middle.id]
    assert listed(page(client, f"{base}?ate=31/01/2026")) == [early.id]
    assert listed(page(client, f"{base}?organizacao=outra")) == [other.id]
    assert listed(page(client, f"{base}?organizacao={world.other.cnpj[:8]}")) == [other.id]
    assert listed(page(client, f"{base}?categoria=custo")) == [other.id, early.id]
    assert listed(page(client, f"{base}?usuario={world.master.email.upper()}")) == [middle.id]
    assert listed(page(client, f"{base}?usuario=demo&categoria=custo")) == [early.id]  # "Adm Demo"


def test_a_bad_filter_is_explained_and_ignored_with_the_rest_kept(client, world, frozen):
    first = make_cancellation(world.demo, world.adm, category=ReasonCategory.COST)
    second = make_cancellation(world.other, world.other_master, category=ReasonCategory.COST)
    body = page(staff(client, world), "/backoffice/auditoria/cancelamentos?de=31/02/2026&categoria=xyz"
                                      "&organizacao=Demo", status=422)
    assert "“31/02/2026” não é uma data válida: use dd/mm/aaaa" in body
    assert "Categoria desconhecida: “xyz”" in body
    assert 'value="31/02/2026"' in body and 'value="Demo"' in body
    assert listed(body) == [first.id] and second.id not in listed(body)
    body = page(staff(client, world), "/backoffice/auditoria/cancelamentos?de=10/03/2026&ate=01/03/2026",
                status=422)
    assert "A data final é anterior à inicial" in body and listed(body) == [second.id, first.id]


def test_the_list_is_paginated(world, frozen):
    made = [make_cancellation(world.demo, world.adm, created_at=NOON - timedelta(minutes=n)) for n in range(5)]
    first = audit_service.cancellations_page(CancellationFilters(), page=1, per_page=2, today=clock.today())
    third = audit_service.cancellations_page(CancellationFilters(), page=3, per_page=2, today=clock.today())
    assert [r.request.id for r in first.rows] == [made[0].id, made[1].id] and first.has_next
    assert [r.request.id for r in third.rows] == [made[4].id] and not third.has_next


# ---------------------------------------------------------------- through the real services, and the detail page

def test_a_cancellation_made_in_the_portal_is_audited_with_its_orders_and_events(client, world, frozen):
    subscription = factories.subscription(world.demo, quantity=8)  # bought 60 days ago: every license to term end
    [order] = cancel_through_services(world, subscription, category=ReasonCategory.NOT_USED, reason=TRICKY)
    assert order.kind == OrderKind.RENEWAL_QUANTITY
    [request] = db.session.scalars(
        db.select(CancellationRequest).where(CancellationRequest.subscription_id == subscription.id)).all()
    client = staff(client, world)
    line = row(page(client, "/backoffice/auditoria/cancelamentos"), request)
    assert "Não utiliza mais" in line and subscription.product.name in line and world.adm.email in line
    assert ">Adm<" in line and "198.51.100.23" in line and "10/03/2026 12:00" in line
    assert "8 → 8" in line and subscription.term_end.strftime("%d/%m/%Y") in line and "R$ 0,00" in line
    assert ">concluído<" in line  # the renewal-quantity order ran (the simulator answers at once)

    body = page(client, f"/backoffice/auditoria/cancelamentos/{request.id}")
    assert 'Custo alto; o "plano" não compensa,<br>vamos reduzir = economia' in body
    assert f'href="/backoffice/pedidos/{order.id}"' in body
    events = re.findall(r'<tr data-seq="(\d+)">(.*?)</tr>', body, re.S)
    found = {tag for _seq, cells in events for tag in re.findall(r"<code>([a-z_:]+)</code>", cells)}
    assert {AuditTag.CANCELLATION_REQUESTED, AuditTag.QUOTE_CONFIRMED, AuditTag.ORDER_CREATED,
            AuditTag.QUANTITY_DECREASE_SCHEDULED, AuditTag.ORDER_DONE} <= found
    cancellation_event = db.session.scalar(db.select(AuditEvent).where(
        AuditEvent.subject == f"cancellation:{request.id}"))
    assert str(cancellation_event.seq) in [seq for seq, _cells in events]
    assert f"ate_evento={cancellation_event.seq}#evento-{cancellation_event.seq}" in body


def test_a_cancellation_inside_the_window_shows_its_credit(client, world, frozen):
    subscription = factories.subscription(world.demo, quantity=3, added_at=clock.now() - timedelta(hours=2))
    cancel_through_services(world, subscription, category=ReasonCategory.COST)
    request = db.session.scalar(db.select(CancellationRequest).where(
        CancellationRequest.subscription_id == subscription.id))
    assert request.quantity_after == 0 and request.credit_cents > 0
    line = row(page(staff(client, world), "/backoffice/auditoria/cancelamentos"), request)
    assert "3 → 0" in line and format_brl(request.credit_cents) in line


def test_a_rescission_and_its_withdrawal_through_the_services(client, world, frozen):
    first, second = factories.subscription(world.demo, quantity=4), factories.subscription(world.demo, quantity=6)
    actor = adm_actor(world, world.master)
    reason = "Encerramos as atividades da empresa no fim do ano."
    preview = cancellations.preview_rescission(organization=world.demo, actor=actor,
                                               actor_membership=world.master_membership, reason=reason)
    parent = cancellations.rescind(organization=world.demo, reason=reason, fingerprint=preview.fingerprint,
                                   password=factories.PASSWORD, actor=actor, actor_membership=world.master_membership)
    client = staff(client, world)
    body = page(client, "/backoffice/auditoria/cancelamentos")
    assert listed(body)[0] == parent.id and len(listed(body)) == 3
    top = row(body, parent)
    assert "Rescisão de contrato" in top and "2 licenças, abaixo" in top and ">pendente<" in top  # grace period
    items = [int(n) for n in re.findall(rf'data-cancellation="(\d+)" data-parent="{parent.id}"', body)]
    assert len(items) == 2

    cancellations.withdraw_rescission(organization=world.demo, password=factories.PASSWORD, actor=actor,
                                      actor_membership=world.master_membership)
    body = page(client, "/backoffice/auditoria/cancelamentos")
    top = row(body, parent)
    assert 'data-withdrawn="1"' in top and "retirada em 10/03/2026 12:00" in top and ">retirado<" in top
    detail = page(client, f"/backoffice/auditoria/cancelamentos/{parent.id}")
    for tag in (AuditTag.RESCISSION_REQUESTED, AuditTag.RESCISSION_WITHDRAWN, AuditTag.CANCELLATION_REQUESTED):
        assert f"<code>{tag}</code>" in detail
    assert first.product.name in detail and second.product.name in detail
    assert world.master.email in detail


def test_an_items_detail_links_to_its_rescission_and_an_unknown_one_is_404(client, world, frozen):
    parent = make_cancellation(world.demo, world.master, category=ReasonCategory.RESCISSION, is_rescission=True)
    item = make_cancellation(world.demo, world.master, category=ReasonCategory.RESCISSION, is_rescission=True,
                             parent=parent, subscription=factories.subscription(world.demo), credit_cents=4590)
    client = staff(client, world)
    body = page(client, f"/backoffice/auditoria/cancelamentos/{item.id}")
    assert f"rescisão de contrato nº {parent.id}" in body and "R$ 45,90" in body
    body = page(client, f"/backoffice/auditoria/cancelamentos/{parent.id}")
    assert 'data-testid="rescission-items"' in body and "R$ 45,90" in body  # the items' credit adds up
    page(client, "/backoffice/auditoria/cancelamentos/999999", status=404)


# ---------------------------------------------------------------- CSV

def test_csv_opens_in_excel_in_portuguese(client, world, frozen):
    subscription = factories.subscription(world.demo, quantity=10)
    request = make_cancellation(world.demo, world.adm, category=ReasonCategory.COST, reason=TRICKY,
                                subscription=subscription, roles="master,cobranca", quantity_before=10,
                                quantity_after=0, ends_on=date(2026, 9, 1), credit_cents=123456,
                                created_at=datetime(2026, 3, 2, 2, 5, tzinfo=UTC))  # 01/03 23:05 in São Paulo
    make_cancellation(world.other, world.other_master, reason="=HYPERLINK(\"http://x\") é só um teste aqui")
    response = staff(client, world).get("/backoffice/auditoria/cancelamentos.csv?categoria=custo")
    assert response.status_code == 200
    assert response.mimetype == "text/csv" and "charset=utf-8" in response.headers["Content-Type"]
    assert response.headers["Content-Disposition"] == 'attachment; filename="cancelamentos-2026-03-10.csv"'
    raw = response.get_data()
    assert raw.startswith(b"\xef\xbb\xbf")
    content = raw[3:].decode("utf-8")
    assert content.splitlines()[0].startswith("Nº;Tipo;Rescisão nº;Situação;Data e hora (São Paulo);Organização;")
    header, *lines = list(csv.reader(io.StringIO(content, newline=""), delimiter=";"))
    assert len(lines) == 1
    line = dict(zip(header, lines[0], strict=True))
    assert line["Nº"] == str(request.id) and line["Tipo"] == "Cancelamento" and line["Situação"] == "em vigor"
    assert line["Motivo"] == TRICKY  # the `;`, the quotes and the line break survive
    assert line["Crédito (R$)"] == "1234,56"
    assert line["Data e hora (São Paulo)"] == "01/03/2026 23:05"
    assert line["Termina em"] == "01/09/2026" and line["Quantidade antes"] == "10" and line["Quantidade depois"] == "0"
    assert line["Organização"] == "Demo Tecnologia Ltda" and line["E-mail"] == world.adm.email
    assert line["Papéis na época"] == "Master, Cobrança" and line["Categoria"] == "Custo"
    assert line["Produto"] == subscription.product.name and line["Resultado no provedor"] == "sem pedido"
    # Without a filter, the other one too, its formula-looking reason neutralised for spreadsheets.
    everything = staff(client, world).get("/backoffice/auditoria/cancelamentos.csv").get_data()[3:].decode()
    rows = list(csv.reader(io.StringIO(everything, newline=""), delimiter=";"))
    assert len(rows) == 3 and rows[1][header.index("Motivo")].startswith("'=HYPERLINK")


def test_csv_lists_a_rescission_then_its_items(client, world, frozen):
    parent = make_cancellation(world.demo, world.master, category=ReasonCategory.RESCISSION, is_rescission=True)
    item = make_cancellation(world.demo, world.master, category=ReasonCategory.RESCISSION, is_rescission=True,
                             parent=parent, subscription=factories.subscription(world.demo), credit_cents=-5)
    content = staff(client, world).get("/backoffice/auditoria/cancelamentos.csv").get_data()[3:].decode()
    header, *lines = list(csv.reader(io.StringIO(content, newline=""), delimiter=";"))
    assert [(line[0], line[1], line[2]) for line in lines] == [
        (str(parent.id), "Rescisão de contrato", ""), (str(item.id), "Item de rescisão", str(parent.id))]
    assert lines[1][header.index("Crédito (R$)")] == "-0,05"


def test_csv_money_and_dates():
    assert [audit_service.csv_money(c) for c in (0, 5, 123456, 100000000, -4590)] == [
        "0,00", "0,05", "1234,56", "1000000,00", "-45,90"]
    assert audit_service.csv_datetime(datetime(2026, 7, 1, 2, 59, tzinfo=UTC)) == "30/06/2026 23:59"


# ---------------------------------------------------------------- chart

def test_chart_counts_per_month_and_category(world, frozen):
    def at(year, month, day, hour=12):
        return datetime(year, month, day, hour, tzinfo=UTC)

    make_cancellation(world.demo, world.adm, category=ReasonCategory.COST, created_at=at(2026, 3, 1))
    make_cancellation(world.demo, world.adm, category=ReasonCategory.COST, created_at=at(2026, 3, 9))
    make_cancellation(world.other, world.other_master, category=ReasonCategory.MIGRATION, created_at=at(2026, 3, 2))
    # 01/03 01:00 UTC is still 28/02 in São Paulo.
    make_cancellation(world.demo, world.adm, category=ReasonCategory.OTHER, created_at=at(2026, 3, 1, 1))
    make_cancellation(world.demo, world.adm, category=ReasonCategory.NOT_USED, created_at=at(2025, 4, 15))
    parent = make_cancellation(world.demo, world.master, category=ReasonCategory.RESCISSION, is_rescission=True,
                               created_at=at(2026, 1, 20))
    make_cancellation(world.demo, world.master, category=ReasonCategory.RESCISSION, is_rescission=True,
                      parent=parent, created_at=at(2026, 1, 20))  # an item: its rescission counts once
    make_cancellation(world.demo, world.master, category=ReasonCategory.RESCISSION, is_rescission=True,
                      status=CancellationStatus.WITHDRAWN, created_at=at(2026, 1, 21))  # withdrawn: left out
    make_cancellation(world.demo, world.adm, category=ReasonCategory.COST, created_at=at(2025, 3, 31))  # too old

    chart = audit_service.monthly_by_category(today=date(2026, 3, 10))
    assert chart.months[0] == date(2025, 4, 1) and chart.months[-1] == date(2026, 3, 1) and len(chart.months) == 12
    counts = {category: dict(zip(chart.month_labels, numbers, strict=True))
              for category, _label, numbers in chart.series}
    assert counts["custo"]["03/2026"] == 2 and counts["migracao_fornecedor"]["03/2026"] == 1
    assert counts["outro"]["02/2026"] == 1 and counts["nao_utiliza"]["04/2025"] == 1
    assert counts["rescisao_contrato"]["01/2026"] == 1
    assert chart.total == 6 and chart.totals[-1] == 3
    config = chart.chart_config()
    assert config["type"] == "bar" and config["stacked"] and config["labels"][-1] == "03/2026"
    assert [d["label"] for d in config["datasets"]] == [
        "Rescisão de contrato", "Custo", "Migração para outro fornecedor", "Não utiliza mais", "Outro"]


def test_the_page_draws_the_chart_from_a_data_attribute_and_shows_the_table(client, world, frozen):
    make_cancellation(world.demo, world.adm, category=ReasonCategory.COST)
    response = staff(client, world).get("/backoffice/auditoria/cancelamentos")
    body = response.get_data(as_text=True)
    assert "<script>" not in body  # no inline script: the CSP would block it
    assert 'src="/static/vendor/chartjs/chart.umd.min.js"' in body and 'src="/static/js/charts.js"' in body
    config = re.search(r"data-chart='([^']*)'", body).group(1)
    assert '"stacked": true' in config and "03/2026" in config
    table = re.search(r'data-testid="chart-table".*?</table>', html.unescape(body), re.S).group(0)
    assert "<th scope=\"row\">03/2026</th>" in table and "Custo" in table


# ---------------------------------------------------------------- the trail

def _events(world):
    system = Actor.system("billing")
    adm = Actor.for_user(world.adm, ip="203.0.113.50")
    with clock.frozen(datetime(2026, 2, 10, 15, 0, tzinfo=UTC)):
        invoice = record(AuditTag.INVOICE_ISSUED, actor=system, organization_id=world.demo.id, subject="invoice:7",
                         after={"total_cents": 12345})
    with clock.frozen(NOON):
        increased = record(AuditTag.QUANTITY_INCREASED, actor=adm, organization_id=world.demo.id,
                           subject="subscription:3", before={"quantity": 1}, after={"quantity": 2})
        other = record(AuditTag.QUANTITY_DECREASED, actor=Actor.for_user(world.other_master),
                       organization_id=world.other.id, subject="subscription:4")
    db.session.commit()
    return invoice, increased, other


def seqs(body: str) -> list[int]:
    return [int(n) for n in re.findall(r'<tr id="evento-\d+" data-seq="(\d+)"', body)]


def test_trail_shows_every_event_newest_first_with_its_details(client, world, frozen):
    invoice, increased, other = _events(world)
    body = page(staff(client, world), "/backoffice/auditoria/trilha")
    assert seqs(body)[:3] == [other.seq, increased.seq, invoice.seq]
    line = re.search(rf'<tr id="evento-{increased.seq}".*?(?=<tr id=|</tbody>)', body, re.S).group(0)
    assert "Quantidade de licenças aumentada" in line and "subscriptions:quantity:increased" in line
    assert world.adm.email in line and "Demo Tecnologia Ltda" in line and "203.0.113.50" in line
    assert '{"quantity": 1}' in line and '{"quantity": 2}' in line and "10/03/2026 12:00" in line


def test_trail_filters(client, world, frozen):
    invoice, increased, other = _events(world)
    client = staff(client, world)
    base = "/backoffice/auditoria/trilha"
    assert seqs(page(client, f"{base}?tag=billing:invoice:issued")) == [invoice.seq]
    assert seqs(page(client, f"{base}?tag=subscriptions:")) == [other.seq, increased.seq]
    assert seqs(page(client, f"{base}?tag=subscriptions:quantity")) == [other.seq, increased.seq]
    assert seqs(page(client, f"{base}?tag=subscriptions:quantity:decreased")) == [other.seq]
    assert seqs(page(client, f"{base}?organizacao=outra")) == [other.seq]
    assert seqs(page(client, f"{base}?organizacao={world.demo.cnpj}&tag=subscriptions:")) == [increased.seq]
    assert seqs(page(client, f"{base}?ator=system:billing")) == [invoice.seq]
    assert seqs(page(client, f"{base}?ator={world.adm.email}")) == [increased.seq]
    assert seqs(page(client, f"{base}?de=01/02/2026&ate=28/02/2026")) == [invoice.seq]
    assert seqs(page(client, f"{base}?ate_evento={increased.seq}"))[:2] == [increased.seq, invoice.seq]
    body = page(client, f"{base}?de=ontem&tag=billing:", status=422)
    assert "“ontem” não é uma data válida" in body and seqs(body) == [invoice.seq]


def test_verify_says_intact_then_names_the_broken_event(client, world, frozen):
    _invoice, increased, _other = _events(world)
    client = staff(client, world)
    response = client.post("/backoffice/auditoria/verificar")
    assert response.status_code == 302 and response.headers["Location"].endswith("/backoffice/auditoria/trilha")
    body = page(client, "/backoffice/auditoria/trilha")
    total = db.session.scalar(db.select(db.func.count(AuditEvent.seq)))
    assert f"Trilha de auditoria íntegra: {total} eventos verificados." in body

    statement = update(AuditEvent).where(AuditEvent.seq == increased.seq).values(actor_label="outra pessoa")
    if db.session.get_bind().dialect.name == "postgresql":
        # The trigger refuses any change to history; a superuser switching triggers off is what it takes.
        with pytest.raises(DBAPIError, match="append-only"), db.session.begin_nested():
            db.session.execute(statement)
        db.session.execute(text("SET LOCAL session_replication_role = replica"))
    db.session.execute(statement)
    db.session.expire_all()
    client.post("/backoffice/auditoria/verificar")
    body = page(client, "/backoffice/auditoria/trilha")
    assert (f"Trilha de auditoria quebrada no evento {increased.seq}: o conteúdo não confere com o hash gravado"
            in re.sub(r"<[^>]+>", "", body))
    link = re.search(r'<a href="([^"]+)" data-testid="broken-event">(\d+)</a>', body)
    assert link.group(2) == str(increased.seq)
    assert link.group(1) == f"/backoffice/auditoria/trilha?ate_evento={increased.seq}#evento-{increased.seq}"
    assert seqs(page(client, link.group(1)))[0] == increased.seq


def test_verify_changes_nothing_and_is_not_audited(client, world, frozen):
    _events(world)
    before = db.session.scalar(db.select(db.func.count(AuditEvent.seq)))
    staff(client, world, "admin").post("/backoffice/auditoria/verificar")
    assert db.session.scalar(db.select(db.func.count(AuditEvent.seq))) == before


# ---------------------------------------------------------------- who may see it

@pytest.mark.parametrize(("role", "status"), [("compliance", 200), ("admin", 200), ("comercial", 403),
                                              ("financeiro", 403), ("suporte", 403)])
def test_only_compliance_and_admin_see_the_audit(client, world, role, status):
    request = make_cancellation(world.demo, world.adm)
    client = staff(client, world, role)
    for url in ("/backoffice/auditoria/cancelamentos", f"/backoffice/auditoria/cancelamentos/{request.id}",
                "/backoffice/auditoria/cancelamentos.csv", "/backoffice/auditoria/trilha"):
        assert client.get(url).status_code == status, url
    assert client.post("/backoffice/auditoria/verificar").status_code == (302 if status == 200 else 403)
    nav = client.get("/backoffice/").get_data(as_text=True)
    assert ('href="/backoffice/auditoria/cancelamentos"' in nav) == (status == 200)


@pytest.mark.parametrize("role", ["master", "adm", "cobranca", "suporte"])
def test_customers_get_404(client, world, role):
    sign_in(client, getattr(world, role), world.demo)
    for url in ("/backoffice/auditoria/cancelamentos", "/backoffice/auditoria/cancelamentos.csv",
                "/backoffice/auditoria/trilha"):
        assert client.get(url).status_code == 404, url
    assert client.post("/backoffice/auditoria/verificar").status_code == 404
