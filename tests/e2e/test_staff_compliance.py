"""Browser: comercial attests a customer's acceptance of the Microsoft Customer Agreement from "Contratos"; the
customer's Master sees it accepted; compliance finds the attestation in the audit trail (filtered by event and
organization). Compliance also walks the cancellations audit to a cancellation a Master just made, and to its
event in the trail. Read-only for compliance. Every page on the way passes `check_page`."""

import re
import uuid

import pytest
from playwright.sync_api import Page, expect

from portal.shared import clock
from tests.e2e import staff_data
from tests.e2e.conftest import DEMO_PASSWORD
from tests.e2e.pagecheck import PageChecks
from tests.e2e.staff_walk import flash, search, staff_nav

pytestmark = pytest.mark.e2e

COMPLIANCE = "compliance@staff.example.com"


def trail_filtered(page: Page, checks: PageChecks, *, tag: str, organization: str):
    """Compliance's audit trail, filtered by an event's tag prefix and an organization: the rows found."""
    page.get_by_role("link", name="Trilha de auditoria").click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    checks(page)
    return search(page, checks, "trail-table", {"Evento (tag)": tag, "Organização": organization})


def test_comercial_attests_the_agreement_and_compliance_finds_it(page, log_in, another_browser, check_page,
                                                                 page_watch, live_server):
    checks = PageChecks(check_page)
    customer = staff_data.customer(live_server.app, billing_day=10, agreements=False)
    first, last = customer.master_name.split(" ", 1)
    today = clock.today().strftime("%d/%m/%Y")

    log_in(page, "comercial@staff.example.com", totp=True)
    staff_nav(page, "Contratos")
    checks(page)
    rows = search(page, checks, "agreements-table", {"Organização": customer.legal_name})
    expect(rows).to_have_count(1)
    rows.first.get_by_role("link", name=re.compile("^Ver e atestar")).click()
    expect(page.get_by_role("heading", name=f"Contratos de {customer.legal_name}")).to_be_visible()
    expect(page.get_by_test_id("status-microsoft_mca")).to_have_text("Não fornecido")
    checks(page)

    version = page.get_by_label("Versão do contrato")
    version.select_option(version.locator("option", has_text="Microsoft").first.get_attribute("value"))
    page.get_by_label("Nome", exact=True).fill(first)
    page.get_by_label("Sobrenome").fill(last)
    page.get_by_label("E-mail").fill(customer.master_email)
    page.get_by_label("Data do aceite").fill(clock.today().isoformat())  # a date input: the picker's format
    page.get_by_role("button", name="Atestar aceite").click()
    flash(page, "Aceite atestado em nome de ")
    expect(page.get_by_test_id("status-microsoft_mca")).to_have_text("Fornecido")
    history = page.get_by_test_id("history-table").locator("tbody tr").filter(has_text=customer.master_email)
    expect(history).to_have_count(1)
    expect(history).to_contain_text(today)
    checks(page)

    # The customer's Master sees the Microsoft agreement provided, by attestation.
    master = another_browser()
    log_in(master, customer.master_email)
    master.get_by_test_id("agreement-link").click()
    mca = master.get_by_test_id("agreement-microsoft_mca")
    expect(mca.get_by_test_id("agreement-status")).to_have_text("Fornecido")
    expect(mca.get_by_test_id("agreement-accepted")).to_contain_text(
        f"{customer.master_name} ({customer.master_email})")
    checks(master)

    # Compliance, read-only, finds the attestation in the trail.
    compliance = another_browser()
    log_in(compliance, COMPLIANCE, totp=True)
    staff_nav(compliance, "Auditoria")
    checks(compliance)
    found = trail_filtered(compliance, checks, tag="agreements:", organization=customer.legal_name)
    attested = found.filter(has_text="Aceite de contrato atestado pela equipe")
    expect(attested).to_have_count(1)
    expect(attested).to_contain_text("comercial@staff.example.com")
    expect(compliance.get_by_role("button", name="Atestar aceite")).to_have_count(0)
    checks.assert_clean()


def test_compliance_walks_the_cancellations_audit_and_the_trail(page, log_in, another_browser, check_page,
                                                                page_watch, live_server):
    checks = PageChecks(check_page)
    customer = staff_data.customer(live_server.app, billing_day=10)
    reason = f"A equipe de vendas foi reduzida e as caixas postais sobraram ({uuid.uuid4().hex[:8]})."

    # The data: the customer's Master cancels its licences, in their own browser.
    master = another_browser()
    log_in(master, customer.master_email)
    master.goto("/licencas")
    row = master.get_by_test_id("licenses-table").get_by_role("row").filter(has_text=staff_data.PRODUCT)
    row.get_by_role("link", name=re.compile("^Cancelar")).click()
    master.get_by_label("Motivo do cancelamento").select_option(index=1)
    master.get_by_label("Explique o motivo").fill(reason)
    master.get_by_role("button", name="Ver as consequências antes de confirmar").click()
    master.get_by_role("textbox", name="Sua senha").fill(DEMO_PASSWORD)
    master.get_by_role("button", name="Confirmar cancelamento").click()
    expect(master).to_have_url(re.compile(r"/licencas$"))

    # Compliance: the cancellations audit, filtered by the organization, then the request itself.
    log_in(page, COMPLIANCE, totp=True)
    staff_nav(page, "Auditoria")
    expect(page.get_by_role("link", name="Auditoria de cancelamentos")).to_have_attribute("aria-current", "page")
    checks(page)
    found = search(page, checks, "cancellations-table", {"Organização": customer.legal_name}).filter(has_text=reason)
    expect(found).to_have_count(1)
    expect(found).to_contain_text(customer.master_email)
    expect(found.get_by_test_id("reason")).to_have_text(reason)
    expect(page.get_by_test_id("csv-link")).to_have_attribute("href", re.compile(r"organizacao="))
    checks(page)
    found.get_by_role("link", name=re.compile(r"^\d+$")).first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("nº")
    expect(page.get_by_test_id("cancellation-facts").get_by_test_id("reason")).to_have_text(reason)
    checks(page)

    # The same cancellation in the trail, by its events' tag prefix.
    staff_nav(page, "Auditoria")
    events = trail_filtered(page, checks, tag="cancellations:", organization=customer.legal_name)
    expect(events).not_to_have_count(0)
    expect(events.first).to_contain_text(customer.master_email)
    checks.assert_clean()
