"""Browser: with the review before issuing (issue 16 point 8), financeiro opens "Rascunhos para revisão", corrects a
line's description, approves the draft through the rendered form, and the invoice gets its number and the corrected
line. Every page on the way passes `check_page`."""

import dataclasses
import re
from datetime import UTC, datetime

import pytest
from flask import current_app
from playwright.sync_api import expect

from portal.billing import run
from portal.billing.settings import BillingSettings
from portal.extensions import db
from portal.shared import clock
from tests.e2e import staff_data
from tests.e2e.pagecheck import PageChecks
from tests.e2e.staff_walk import flash, staff_nav

pytestmark = pytest.mark.e2e

FINANCEIRO = "financeiro@staff.example.com"


def drafted(app, organization_id: int, day) -> None:
    """The organization's draft of billing day `day`, as the run with BILLING_REVIEW=true leaves it."""
    with app.app_context():
        settings = dataclasses.replace(BillingSettings.from_config(current_app.config), review=True)
        with clock.frozen(datetime(day.year, day.month, day.day, 12, tzinfo=UTC)):
            made, _existing = run.draft_batch([organization_id], on=day, settings=settings)
        assert organization_id in made, "nothing to draft"
        db.session.remove()


def test_financeiro_corrects_and_approves_a_draft(page, log_in, check_page, live_server):
    checks = PageChecks(check_page)
    day = staff_data.last_day_with_day_at_most_28(clock.today())
    customer = staff_data.customer(live_server.app, billing_day=day.day)
    drafted(live_server.app, customer.organization_id, day)
    corrected = f"{staff_data.PRODUCT} — contrato 2026-17"

    log_in(page, FINANCEIRO, totp=True)
    staff_nav(page, "Faturas")
    page.get_by_role("link", name="Rascunhos para revisão").click()
    expect(page.get_by_role("heading", name="Rascunhos para revisão", level=1)).to_be_visible()
    checks(page)
    row = page.get_by_test_id("draft-row").filter(has_text=customer.legal_name)
    expect(row).to_have_count(1)
    row.get_by_role("link", name=customer.legal_name).click()
    expect(page.get_by_role("heading", name=f"Rascunho de fatura — {customer.legal_name}")).to_be_visible()
    checks(page)

    page.get_by_label("Descrição da linha 1").fill(corrected)
    page.get_by_test_id("line-form").first.get_by_role("button", name="Salvar").click()
    flash(page, "Descrição da linha corrigida.")
    expect(page.get_by_label("Descrição da linha 1")).to_have_value(corrected)
    checks(page)

    page.get_by_role("button", name=re.compile(r"^Aprovar e emitir a fatura de R\$")).click()
    flash(page, "Rascunho aprovado: fatura emitida.")
    heading = page.get_by_role("heading", name=re.compile(r"^Fatura \d{4}\/\d{6}$"))
    expect(heading).to_be_visible()
    expect(page.get_by_test_id("invoice-lines")).to_contain_text(corrected)
    checks(page)

    staff_nav(page, "Faturas")
    page.get_by_role("link", name="Rascunhos para revisão").click()
    expect(page.get_by_test_id("draft-row").filter(has_text=customer.legal_name)).to_have_count(0)
    checks(page)
    checks.assert_clean()
