"""Browser: financeiro opens "Conciliação" from the billing area's navigation, finds the payment a bank retorno
recorded (with its file) in this month's payments by source, and resolves the retorno's exception (an unknown
nosso número) through the form the page renders. Every page on the way passes `check_page`."""

import uuid
from datetime import timedelta

import pytest
from flask import current_app
from playwright.sync_api import expect

from portal.accounts.models import Organization
from portal.billing import bank
from portal.billing.settings import BillingSettings
from portal.extensions import db
from portal.shared import clock
from tests import factories
from tests.billing.test_bank import pair, retorno
from tests.e2e import staff_data
from tests.e2e.pagecheck import PageChecks
from tests.e2e.staff_walk import flash, staff_nav

pytestmark = pytest.mark.e2e

FINANCEIRO = "financeiro@staff.example.com"


def a_retorno_with_a_payment_and_an_unknown_boleto(app) -> dict:
    """An open invoice of a new customer paid today by the bank's retorno, beside a nosso número of no boleto."""
    customer = staff_data.customer(app, billing_day=1)
    tag = uuid.uuid4().hex[:6]
    unknown = str(int(tag, 16) % 10**8).zfill(8)
    with app.app_context():
        organization = db.session.get(Organization, customer.organization_id)
        today = clock.today()
        invoice = factories.invoice(organization, total_cents=43_210, billing_date=today - timedelta(days=5),
                                    due_date=today + timedelta(days=5))
        data = retorno(pair(invoice.current_boleto.nosso_numero, "06", paid=43_210, on=today),
                       pair(unknown, "06", paid=1_000, on=today))
        filename = f"itau-{tag}.ret"
        bank.import_retorno(data, filename, staff_data.ACTOR, BillingSettings.from_config(current_app.config))
        facts = {"number": invoice.display_number, "file": filename, "unknown": unknown,
                 "organization": customer.legal_name}
        db.session.remove()
        return facts


def test_financeiro_reconciles_a_retorno_and_resolves_its_exception(page, log_in, check_page, page_watch,
                                                                     live_server):
    checks = PageChecks(check_page)
    facts = a_retorno_with_a_payment_and_an_unknown_boleto(live_server.app)

    log_in(page, FINANCEIRO, totp=True)
    staff_nav(page, "Faturas")
    page.get_by_role("link", name="Conciliação", exact=True).click()
    expect(page.get_by_role("heading", name="Conciliação", level=1)).to_be_visible()
    checks(page)

    expect(page.get_by_test_id("reconciliation-totals").locator('tr[data-source="retorno"]')).not_to_contain_text(
        "R$ 0,00")
    payment = page.get_by_test_id("reconciliation-payments").locator("tr").filter(has_text=facts["number"])
    expect(payment).to_contain_text("Retorno do banco")
    expect(payment).to_contain_text("R$ 432,10")
    expect(payment).to_contain_text(facts["file"])

    card = page.get_by_test_id("reconciliation-exceptions").locator("[data-exception]").filter(
        has_text=facts["unknown"])
    expect(card).to_contain_text("Pagamento desconhecido")
    card.get_by_role("button", name="Resolver").click()  # without a note: refused, explained
    card = page.get_by_test_id("reconciliation-exceptions").locator("[data-exception]").filter(
        has_text=facts["unknown"])
    expect(card).to_contain_text("Escreva o que foi feito para resolver a pendência.")
    checks(page)
    card.get_by_label("O que foi feito").fill("Boleto de outro cedente: valor devolvido ao pagador.")
    card.get_by_role("button", name="Resolver").click()
    flash(page, "Pendência resolvida.")
    expect(page.get_by_test_id("reconciliation-exceptions")).not_to_contain_text(facts["unknown"])
    checks(page)

    page.get_by_label("Pendências").select_option(label="Resolvidas")
    page.get_by_role("button", name="Filtrar", exact=True).click()
    resolved = page.get_by_test_id("reconciliation-exceptions").locator("[data-exception]").filter(
        has_text=facts["unknown"])
    expect(resolved).to_contain_text("Boleto de outro cedente: valor devolvido ao pagador.")
    checks(page)
