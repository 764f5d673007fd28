"""Browser: financeiro runs the billing of a day from the backoffice and the customer finds the new invoice in
"Faturas"; financeiro records the payment of an overdue invoice, the invoice turns "paga", the organization is no
longer "inadimplente" and its Master can buy more licences again. Every page on the way passes `check_page`."""

import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from portal.shared import clock
from tests.e2e import staff_data
from tests.e2e.pagecheck import PageChecks
from tests.e2e.staff_walk import flash, search, staff_nav

pytestmark = pytest.mark.e2e

FINANCEIRO = "financeiro@staff.example.com"


def open_customer_invoices(page: Page, checks: PageChecks) -> None:
    page.get_by_role("navigation", name="Navegação principal").get_by_role("link", name="Faturas").click()
    expect(page.get_by_role("heading", name="Faturas", level=1)).to_be_visible()
    checks(page)


def test_financeiro_runs_the_billing_of_a_day_and_the_customer_sees_the_invoice(
        page, log_in, another_browser, mail_to, check_page, page_watch, live_server):
    checks = PageChecks(check_page)
    day = staff_data.last_day_with_day_at_most_28(clock.today())
    customer = staff_data.customer(live_server.app, billing_day=day.day)
    unreachable = staff_data.customer(live_server.app, billing_day=day.day, master_joined=False)
    typed = day.strftime("%d/%m/%Y")

    log_in(page, FINANCEIRO, totp=True)
    staff_nav(page, "Faturas")
    expect(page.get_by_role("heading", name="Faturas", level=1)).to_be_visible()
    checks(page)
    page.get_by_role("link", name="Faturamento", exact=True).click()
    expect(page.get_by_role("heading", name="Faturamento", level=1)).to_be_visible()
    checks(page)
    page.get_by_label("Data de faturamento").fill(typed)
    page.get_by_role("button", name="Ver o que será faturado").click()

    expect(page.get_by_test_id("run-confirm")).to_contain_text(f"dia de faturamento em {typed}")
    preview = page.get_by_test_id("run-preview").locator("tr").filter(has_text=customer.legal_name)
    expect(preview).to_contain_text("será emitida, se houver o que faturar")
    checks(page)
    # The run issues every invoice with its PDFs, boleto and nota fiscal before answering: seconds, not milliseconds.
    page.get_by_role("button", name=f"Confirmar o faturamento de {typed}").click(timeout=30_000)

    expect(page.get_by_test_id("run-result")).to_contain_text(f"Faturamento de {typed} concluído.")
    issued = page.get_by_test_id("run-issued").locator("li").filter(has_text=customer.legal_name)
    expect(issued).to_have_count(1)
    number = issued.get_by_role("link").inner_text()
    assert re.fullmatch(r"\d{4}/\d{6}|[\w/-]+", number), number
    unreachable_invoice = page.get_by_test_id("run-issued").locator("li").filter(
        has_text=unreachable.legal_name).get_by_role("link").get_attribute("href")
    checks(page)
    issued.get_by_role("link").click()
    expect(page.get_by_role("heading", name=f"Fatura {number}")).to_be_visible()
    expect(page.get_by_test_id("invoice-status")).to_have_text("aberta")
    expect(page.get_by_test_id("invoice-lines")).to_contain_text(staff_data.PRODUCT)
    checks(page)
    assert number in str(mail_to(customer.master_email)["Subject"])

    # Issue 13 point 3: the invoice of an organization nobody receives e-mail for is not "enviada por e-mail";
    # staff see "sem destinatário" on it.
    page.goto(unreachable_invoice)  # the run's result page listed it (a POST's result: "back" would resend it)
    expect(page.get_by_test_id("invoice-status")).to_have_text("aberta")
    checks(page)
    checks.later("point 3, no recipient", lambda: expect(page.get_by_text("sem destinatário").first).to_be_visible())
    checks.later("point 3, nothing sent", lambda: expect(page.get_by_test_id("invoice-audit")).not_to_contain_text(
        "Fatura enviada por e-mail"))

    # The customer's Master finds it in Faturas and opens it.
    master = another_browser()
    log_in(master, customer.master_email)
    open_customer_invoices(master, checks)
    row = master.get_by_test_id("invoices-table").locator("tr").filter(
        has=master.get_by_role("link", name=number, exact=True))
    expect(row.get_by_test_id("invoice-status")).to_have_text("aberta")
    period = row.locator("td").first.inner_text()
    assert re.fullmatch(r"\d\d/\d\d/\d{4} a \d\d/\d\d/\d{4}", period), period
    row.get_by_role("link", name=number, exact=True).click()
    expect(master.get_by_role("heading", name=f"Fatura {number}")).to_be_visible()
    checks(master)

    # Issue 13 point 7: staff's invoice list shows the period as the customer sees it (today: the exclusive end).
    staff_nav(page, "Faturas")
    staff_row = search(page, checks, "invoices-table", {"Organização": customer.legal_name}).filter(has_text=number)
    expect(staff_row).to_have_count(1)
    checks.later("point 7, the period", lambda: expect(staff_row).to_contain_text(period))
    checks.assert_clean()


def ask_for_one_more_licence(page: Page, checks: PageChecks) -> None:
    """The Master's way to buy more: Licenças → Alterar quantidades → one more → see the values."""
    page.get_by_role("navigation", name="Navegação principal").get_by_role("link", name="Licenças").click()
    expect(page.get_by_role("heading", name="Licenças", level=1)).to_be_visible()
    checks(page)
    page.get_by_role("link", name=f"Alterar quantidades — {staff_data.PRODUCT}").click()
    checks(page)
    page.get_by_label("Nova quantidade de licenças").fill("4")
    page.get_by_role("button", name="Ver valores antes de confirmar").click()


def test_financeiro_records_a_payment_and_the_organization_is_unblocked(
        page, log_in, another_browser, check_page, page_watch, live_server):
    checks = PageChecks(check_page)
    day = staff_data.last_day_with_day_at_most_28(clock.today() - timedelta(days=60))
    customer = staff_data.customer(live_server.app, billing_day=day.day)
    invoice = staff_data.issued_invoice(live_server.app, customer.organization_id, day)
    number, amount = invoice["number"], staff_data.brl(invoice["total_cents"])

    # Before: the invoice is "vencida" for the customer, and more licences are refused.
    master = another_browser()
    log_in(master, customer.master_email)
    open_customer_invoices(master, checks)
    invoices = master.get_by_test_id("invoices-table")
    expect(invoices.get_by_test_id(f"invoice-{invoice['id']}").get_by_test_id("invoice-status")).to_have_text("vencida")
    # Said before the Master tries (issue 13 point 11): the banner on every page, and Licenças offers only a reduction.
    master.get_by_role("navigation", name="Navegação principal").get_by_role("link", name="Licenças").click()
    banner = master.get_by_test_id("delinquency-banner")
    expect(banner).to_contain_text("Sua organização está inadimplente.")
    expect(banner.get_by_test_id("delinquency-pay")).to_be_visible()
    expect(master.get_by_role("link", name=f"Reduzir quantidade — {staff_data.PRODUCT}")).to_be_visible()
    expect(master.get_by_role("link", name=f"Alterar quantidades — {staff_data.PRODUCT}")).to_have_count(0)
    checks(master)

    # Financeiro finds the invoice by the organization's name and records the payment seen on the statement.
    log_in(page, FINANCEIRO, totp=True)
    staff_nav(page, "Faturas")
    rows = search(page, checks, "invoices-table", {"Organização": customer.legal_name, "Situação": "vencida"})
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("inadimplente")
    rows.first.get_by_role("link", name=number).click()
    expect(page.get_by_role("heading", name=f"Fatura {number}")).to_be_visible()
    expect(page.get_by_test_id("invoice-status")).to_have_text("vencida")
    expect(page.get_by_test_id("delinquent")).to_be_visible()
    expect(page.get_by_test_id("open-balance")).to_have_text(amount)
    checks(page)
    page.get_by_label("Data do pagamento").fill(clock.today().strftime("%d/%m/%Y"))
    page.get_by_label("Valor recebido (R$)").fill(amount.removeprefix("R$ "))
    page.get_by_label("Forma de pagamento").select_option(label="Pix")
    page.get_by_label("Observação").fill("Pix identificado no extrato de hoje.")
    page.get_by_role("button", name="Registrar pagamento").click()

    flash(page, f"Pagamento de {amount} registrado na fatura {number}. Saldo em aberto: R$ 0,00. A fatura está paga.")
    expect(page.get_by_test_id("invoice-status")).to_have_text("paga")
    expect(page.get_by_test_id("delinquent")).to_have_count(0)
    expect(page.get_by_test_id("paid")).to_have_text(amount)
    expect(page.get_by_test_id("invoice-payments")).to_contain_text("Pix identificado no extrato de hoje.")
    checks(page)

    # After: the customer sees it paid, and can buy more licences again.
    open_customer_invoices(master, checks)
    expect(invoices.get_by_test_id(f"invoice-{invoice['id']}").get_by_test_id("invoice-status")).to_have_text("paga")
    expect(master.get_by_test_id("delinquency-banner")).to_have_count(0)
    ask_for_one_more_licence(master, checks)
    expect(master.get_by_role("button", name="Confirmar")).to_be_visible()
    checks(master)
    master.get_by_role("button", name="Confirmar").click()
    flash(master, "Pedido registrado.")
    checks(master)
    checks.assert_clean()
