"""Backoffice "Banco": today's remessa downloaded (the same file twice), a retorno uploaded with its summary, a
refused file explained, the exceptions listed. The clock is 2026-03-25 12:00 in São Paulo."""

import io
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select

from portal.billing.models import Payment, Remessa
from portal.extensions import db
from portal.shared import clock
from tests import factories
from tests.billing.test_bank import pair, retorno
from tests.conftest import sign_in
from tests.html import unescaped

MARCH_25 = datetime(2026, 3, 25, 15, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def march(app_ctx):
    with clock.frozen(MARCH_25):
        yield


@pytest.fixture
def finance(client, world):
    return sign_in(client, world.staff_financeiro)


def test_the_days_remessa_downloads_the_same_file_twice(finance, world):
    factories.invoice(world.demo, total_cents=100_000, billing_date=date(2026, 3, 10), due_date=date(2026, 3, 30))
    first = finance.post("/backoffice/banco/remessa")
    assert first.status_code == 200 and "remessa-341-20260325-000001.rem" in first.headers["Content-Disposition"]
    second = finance.post("/backoffice/banco/remessa")
    assert second.data == first.data
    assert db.session.scalar(select(func.count(Remessa.id))) == 1
    assert "NSA 1" in unescaped(finance.get("/backoffice/banco").get_data(as_text=True))


def test_a_retorno_is_uploaded_and_summarized(finance, world):
    invoice = factories.invoice(world.demo, total_cents=100_000, billing_date=date(2026, 3, 10),
                                due_date=date(2026, 3, 30))
    data = retorno(pair(invoice.current_boleto.nosso_numero, "06", paid=100_000), pair("99999999", "06", paid=5))
    response = finance.post("/backoffice/banco", data={"retorno": (io.BytesIO(data), "r.ret")},
                            content_type="multipart/form-data")
    page = unescaped(response.get_data(as_text=True))
    assert response.status_code == 200 and "1 pago(s)" in page and "1 desconhecido(s)" in page
    assert "99999999" in page  # the exception, for finance
    assert db.session.scalar(select(func.count(Payment.id))) == 1


def test_a_refused_file_says_the_line(finance):
    response = finance.post("/backoffice/banco", data={"retorno": (io.BytesIO(b"lixo\r\n"), "r.ret")},
                            content_type="multipart/form-data")
    assert response.status_code == 422 and "linha 1" in unescaped(response.get_data(as_text=True))


# ---------------------------------------------------------------- the bank's simulator (demonstration)


def test_the_simulator_answers_a_remessa_and_its_retorno_is_imported(finance, world):
    invoice = factories.invoice(world.demo, total_cents=100_000, billing_date=date(2026, 3, 10),
                                due_date=date(2026, 3, 30))
    before = unescaped(finance.get("/backoffice/banco").get_data(as_text=True))
    assert "Simulador do banco (demonstração)" in before and "Nenhuma remessa gerada ainda" in before
    finance.post("/backoffice/banco/remessa")
    remessa = db.session.scalar(select(Remessa))
    page = unescaped(finance.get("/backoffice/banco").get_data(as_text=True))
    assert invoice.display_number in page and world.demo.legal_name in page and "R$ 1.000,00" in page
    nosso_numero = invoice.current_boleto.nosso_numero
    response = finance.post("/backoffice/banco/simulador", data={"remessa_id": remessa.id, "pay": [nosso_numero]})
    page = unescaped(response.get_data(as_text=True))
    assert response.status_code == 200, page
    assert "1 confirmado(s)" in page and "1 pago(s)" in page
    assert 'download="retorno-simulado-341-20260325-000001.ret"' in page and "data:application/octet-stream" in page
    assert db.session.scalar(select(func.sum(Payment.amount_cents))) == 100_000


def test_the_simulator_refuses_what_is_not_an_entrada(finance, world):
    factories.invoice(world.demo, total_cents=100_000, billing_date=date(2026, 3, 10), due_date=date(2026, 3, 30))
    finance.post("/backoffice/banco/remessa")
    remessa = db.session.scalar(select(Remessa))
    response = finance.post("/backoffice/banco/simulador", data={"remessa_id": remessa.id, "pay": ["12345678"]})
    assert response.status_code == 422 and "12345678" in unescaped(response.get_data(as_text=True))
    assert finance.post("/backoffice/banco/simulador", data={}).status_code == 422
    assert finance.post("/backoffice/banco/simulador", data={"remessa_id": 999_999}).status_code == 404
    assert db.session.scalar(select(func.count(Payment.id))) == 0


def test_without_the_simulator_there_is_no_box_and_no_route(make_app, engine_name):
    app = make_app(engine_name, BANK_BACKEND="none")
    assert app.extensions["bank_simulator"] is None
    with app.app_context():
        user = factories.StaffUserFactory(roles=["financeiro"])
        db.session.commit()
        client = sign_in(app.test_client(), user)
        page = unescaped(client.get("/backoffice/banco").get_data(as_text=True))
        assert "Importar retorno" in page and "Simulador do banco" not in page
        assert client.post("/backoffice/banco/simulador", data={"remessa_id": 1}).status_code == 404
