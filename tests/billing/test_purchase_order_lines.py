"""PO and cost centre on the invoice (issue 16 point 7): the page and the PDF say the same line text, "Faturas" shows
and filters them, and the invoice CSV has their columns and can be grouped by cost centre (totals unchanged)."""

import csv
import io
import re
from datetime import UTC, date, datetime

import pytest
from flask_babel import force_locale

from portal.billing import documents, invoice_csv
from portal.billing import jobs as billing_jobs
from portal.billing.lines import LineView, line_text
from portal.billing.models import CreditEntry, Invoice, InvoiceLine, LineKind
from portal.billing.run import invoice_organization
from portal.billing.settings import BillingSettings
from portal.extensions import db
from portal.shared import clock
from portal.shared import documents as stored_documents
from portal.shared.audit import Actor
from tests import factories
from tests import html as h
from tests.fakes import pdf

SYSTEM = Actor.system("tests")


def at(day: date, hour: int = 15) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


@pytest.fixture
def settings(app_ctx):
    return BillingSettings.from_config(app_ctx.config)


@pytest.fixture
def april(app_ctx, world, settings, monkeypatch) -> Invoice:
    """An April invoice of three subscriptions: two of cost centre TI-SP (POs 4500012345, 4500012399), one of RH
    without a PO, with R$ 100,00 of credit applied."""
    monkeypatch.setattr(billing_jobs, "complete_invoice", lambda invoice_id: None)
    demo = world.demo
    demo.billing_day = 1
    db.session.commit()
    with clock.frozen(at(date(2026, 3, 11))):
        bought = at(date(2026, 1, 1))
        factories.subscription(demo, quantity=2, added_at=bought, purchase_order="4500012345", cost_centre="TI-SP")
        factories.subscription(demo, quantity=3, added_at=bought, purchase_order="4500012399", cost_centre="TI-SP")
        factories.subscription(demo, quantity=1, added_at=bought, cost_centre="RH")
        db.session.add(CreditEntry(organization_id=demo.id, amount_cents=10000, description="crédito",
                                   created_at=clock.now()))
        db.session.commit()
    with clock.frozen(at(date(2026, 4, 1), 9)):
        issued = invoice_organization(demo.id, on=date(2026, 4, 1), settings=settings, actor=SYSTEM).invoice
    db.session.expire_all()
    return db.session.get(Invoice, issued.id)


def test_line_text_adds_the_po_and_cost_centre(app_ctx):
    line = LineView(kind="recurring", description="Microsoft 365", quantity=3, unit_price_cents=10000,
                    amount_cents=30000, first_day=date(2026, 4, 1), period_end=date(2026, 5, 1),
                    purchase_order="4500012345", cost_centre="TI-SP")
    with app_ctx.test_request_context(), force_locale("pt_BR"):
        assert line_text(line).endswith(" — Pedido de compra 4500012345 · Centro de custo TI-SP")
        assert line.reference == "Pedido de compra 4500012345 · Centro de custo TI-SP"
        only_centre = LineView(kind="credit", description="credit", quantity=1, unit_price_cents=-1,
                               amount_cents=-1, cost_centre="RH")
        assert line_text(only_centre) == "Crédito aplicado — Centro de custo RH"


def test_the_page_and_the_pdf_print_each_lines_po(april, world, settings, login_as):
    page = login_as("cobranca").get(f"/faturas/{april.id}")
    shown = h.section(page, "lines-table")
    assert "Pedido de compra 4500012345 · Centro de custo TI-SP" in shown
    assert "Pedido de compra 4500012399 · Centro de custo TI-SP" in shown
    assert "Centro de custo RH" in shown

    documents.ensure_invoice_documents(april, settings=settings, actor=SYSTEM)
    content, _type = stored_documents.load(april.pdf_sha256)
    # The amounts column sits beside the wrapped description: read the words without the amounts.
    text = re.sub(r"-?R\$ [\d.]+,\d\d ", "", " ".join(pdf.pdf_text(content, first_page=1, last_page=1).split()))
    assert "Pedido de compra 4500012345 · Centro de custo TI-SP" in text
    assert "Pedido de compra 4500012399 · Centro de custo TI-SP" in text


def test_faturas_shows_them_and_filters_by_cost_centre(april, world, login_as):
    plain = factories.invoice(world.demo)  # no PO, no cost centre
    client = login_as("cobranca")
    page = client.get("/faturas")
    row = h.section(page, f"invoice-{april.id}")
    assert "Pedido de compra 4500012345, 4500012399" in row and "Centro de custo RH, TI-SP" in row
    assert f'data-testid="invoice-{plain.id}"' in h.text(page)
    filtered = client.get("/faturas?centro_de_custo=RH")
    assert f'data-testid="invoice-{april.id}"' in h.text(filtered)
    assert f'data-testid="invoice-{plain.id}"' not in h.text(filtered)
    assert 'data-testid="empty"' in h.text(client.get("/faturas?centro_de_custo=Marketing"))


def _csv(response) -> list[dict[str, str]]:
    assert response.status_code == 200 and response.mimetype == "text/csv"
    body = response.get_data().decode("utf-8")
    assert body.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(body[1:]), delimiter=";"))


def _cents(text: str) -> int:
    units, cents = text.split(",")
    sign = -1 if units.startswith("-") else 1
    return sign * (abs(int(units)) * 100 + int(cents))


def test_the_invoice_csv_has_po_and_cost_centre_columns(april, login_as):
    rows = _csv(login_as("cobranca").get("/faturas.csv"))
    assert len(rows) == 1
    row = rows[0]
    assert row["Número"] == april.display_number
    assert row["Pedido de compra"] == "4500012345, 4500012399" and row["Centro de custo"] == "RH, TI-SP"
    assert _cents(row["Total"]) == april.total_cents
    assert _cents(row["Crédito aplicado"]) == april.credit_applied_cents == 10000


def test_grouped_by_cost_centre_one_row_each_and_the_totals_still_add_up(april, world, login_as):
    other = factories.invoice(world.demo, lines=[(LineKind.RECURRING, 1, 333)])
    rows = _csv(login_as("master").get("/faturas.csv?agrupar=centro_de_custo"))
    mine = [row for row in rows if row["Número"] == april.display_number]
    assert [row["Centro de custo"] for row in mine] == ["RH", "TI-SP"]
    assert [row["Pedido de compra"] for row in mine] == ["", "4500012345, 4500012399"]
    lines = db.session.query(InvoiceLine).filter_by(invoice_id=april.id).all()
    for row in mine:
        charged = sum(line.amount_cents for line in lines
                      if line.cost_centre == row["Centro de custo"] and line.kind != LineKind.CREDIT)
        assert _cents(row["Subtotal"]) == charged
        assert _cents(row["Total"]) == charged - _cents(row["Crédito aplicado"])
    assert sum(_cents(row["Total"]) for row in mine) == april.total_cents
    assert sum(_cents(row["Crédito aplicado"]) for row in mine) == april.credit_applied_cents
    assert sum(_cents(row["Subtotal"]) for row in mine) == april.subtotal_cents
    theirs = [row for row in rows if row["Número"] == other.display_number]
    assert len(theirs) == 1 and theirs[0]["Centro de custo"] == "" and _cents(theirs[0]["Total"]) == 333
    only_rh = _csv(login_as("master").get("/faturas.csv?agrupar=centro_de_custo&centro_de_custo=RH"))
    assert [(row["Número"], row["Centro de custo"]) for row in only_rh] == [(april.display_number, "RH")]


def test_an_unknown_grouping_goes_back_to_the_list_that_explains(world, login_as):
    client = login_as("cobranca")
    response = client.get("/faturas.csv?agrupar=produto")
    assert response.status_code == 302
    page = client.get(response.headers["Location"])
    assert "Agrupamento desconhecido" in h.visible(page)


@pytest.mark.parametrize(("credit", "subtotals", "shares"), [
    (10000, [15780, 23670, 7890], [3333, 5000, 1667]),
    (1, [1, 1], [1, 0]),
    (0, [100, 200], [0, 0]),
    (500, [-100, 1000], [0, 500]),
    (7, [1, 1, 1], [3, 2, 2]),
])
def test_credit_is_shared_in_whole_centavos_that_add_up(credit, subtotals, shares):
    assert invoice_csv.share_credit(credit, subtotals) == shares
    assert sum(shares) == (credit if any(s > 0 for s in subtotals) else 0)
