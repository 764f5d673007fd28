"""The demo's Pix: the staff button "Simular pagamento Pix" (only with the simulator) and what the customer's invoice
page shows while the invoice's cobv is not ready ("Pix em preparação", never the static code)."""

import pytest
from flask import current_app
from sqlalchemy import select

from portal.billing import pix_charges
from portal.billing.models import Invoice, InvoiceStatus, PixCharge, PixChargeStatus, PixReceipt
from portal.extensions import db
from portal.integrations.pix import PixError, SimulatedPixProvider
from tests import factories
from tests.html import alerts


class DownPsp(SimulatedPixProvider):
    def create_cobv(self, request):
        raise PixError("no answer within 30 s", retryable=True)


def use(app, monkeypatch, provider):
    monkeypatch.setitem(app.extensions, "pix_provider", provider)
    return provider


@pytest.fixture
def simulator(app_ctx, monkeypatch):
    return use(app_ctx, monkeypatch, SimulatedPixProvider(app_ctx.config["PIX_KEY"], "PORTAL CLOUD", "SAO PAULO"))


@pytest.fixture
def invoice(app_ctx, world) -> Invoice:
    return factories.invoice(world.demo, total_cents=45_600)


def test_staff_simulates_a_pix_and_the_invoice_is_paid_through_the_webhook_path(simulator, invoice, login_as):
    staff = login_as("staff_financeiro")
    page = staff.get(f"/backoffice/faturas/{invoice.id}").get_data(as_text=True)
    assert "Simular pagamento Pix" in page
    response = staff.post(f"/backoffice/faturas/{invoice.id}/pix-simulado", follow_redirects=True)
    assert response.status_code == 200
    assert any("Pagamento Pix simulado recebido" in message for message in alerts(response.get_data(as_text=True)))
    db.session.expire_all()
    assert db.session.get(Invoice, invoice.id).status == InvoiceStatus.PAID
    receipt = db.session.scalar(select(PixReceipt))
    assert receipt.received_via == "webhook" and receipt.payment_id is not None
    assert "Simular pagamento Pix" not in staff.get(f"/backoffice/faturas/{invoice.id}").get_data(as_text=True)
    again = staff.post(f"/backoffice/faturas/{invoice.id}/pix-simulado", follow_redirects=True)
    assert any("não está em aberto" in message for message in alerts(again.get_data(as_text=True)))


def test_no_button_and_no_payment_without_the_simulator(app_ctx, invoice, login_as):
    staff = login_as("staff_financeiro")
    assert "Simular pagamento Pix" not in staff.get(f"/backoffice/faturas/{invoice.id}").get_data(as_text=True)
    response = staff.post(f"/backoffice/faturas/{invoice.id}/pix-simulado", follow_redirects=True)
    assert any("PIX_BACKEND=simulator" in message for message in alerts(response.get_data(as_text=True)))
    assert db.session.get(Invoice, invoice.id).status == InvoiceStatus.OPEN


@pytest.mark.parametrize("role", ["staff_suporte", "staff_comercial"])
def test_only_who_records_payments_may_simulate_one(simulator, invoice, login_as, role):
    assert login_as(role).post(f"/backoffice/faturas/{invoice.id}/pix-simulado").status_code == 403
    assert db.session.get(Invoice, invoice.id).status == InvoiceStatus.OPEN


def test_the_customer_sees_pix_em_preparacao_while_the_psp_is_down(app_ctx, monkeypatch, invoice, login_as):
    static = invoice.current_boleto.pix_payload
    customer = login_as("cobranca")
    assert static in customer.get(f"/faturas/{invoice.id}").get_data(as_text=True)  # static backend: static Pix

    down = use(app_ctx, monkeypatch, DownPsp(current_app.config["PIX_KEY"], "PORTAL CLOUD", "SAO PAULO"))
    assert static in customer.get(f"/faturas/{invoice.id}").get_data(as_text=True)  # no charge tried yet: as before
    with pytest.raises(PixError):
        pix_charges.ensure_charge(invoice, pix=down)
    assert db.session.scalar(select(PixCharge.status)) == PixChargeStatus.PENDING
    page = customer.get(f"/faturas/{invoice.id}").get_data(as_text=True)
    assert "Pix em preparação" in page and static not in page and 'data-testid="pix-payload"' not in page
    assert "pix-qr" not in page

    up = use(app_ctx, monkeypatch, SimulatedPixProvider(current_app.config["PIX_KEY"], "PORTAL CLOUD", "SAO PAULO"))
    charge = pix_charges.ensure_charge(invoice, pix=up)
    page = customer.get(f"/faturas/{invoice.id}").get_data(as_text=True)
    assert "Pix em preparação" not in page and charge.pix_copia_e_cola in page
    assert 'data-testid="pix-payload"' in page and "pix-qr" in page
