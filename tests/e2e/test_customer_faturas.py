"""Browser, as the customer's Cobrança: from "Faturas" to an overdue invoice, its 2ª via (amounts reviewed, then
issued) and the new boleto PDF read back; the invoice PDF and the nota fiscal downloaded from the same page. And
"Quem recebe as faturas por e-mail" (the Master's): an address added (a bad one refused) and removed.

The organization is new, with one overdue invoice of its own (tests/e2e/customers.py): a 2ª via is issued once a
day, and the demo's overdue invoice stays as the other tests expect it.
"""

import re

import pytest
from playwright.sync_api import Page, expect

from portal.accounts.roles import Role
from tests.e2e.customers import new_customer
from tests.e2e.pagecheck import PageChecks
from tests.fakes.pdf import flat, pdf_text

pytestmark = pytest.mark.e2e


def download(page: Page, link) -> tuple[str, bytes]:
    """Clicks a download link; (the file name the browser was given, the bytes it saved)."""
    with page.expect_download() as started:
        link.click()
    saved = started.value
    with open(saved.path(), "rb") as file:
        return saved.suggested_filename, file.read()


def test_cobranca_issues_the_second_copy_of_an_overdue_invoice_and_downloads_its_documents(
    page, log_in, live_server, check_page
):
    checks = PageChecks(check_page)
    customer = new_customer(live_server.app, roles=(Role.MASTER, Role.COBRANCA), licenses={"M365-BASIC": 4},
                            overdue_invoice=True)
    log_in(page, customer.emails[Role.COBRANCA])
    page.get_by_role("navigation", name="Navegação principal").get_by_role("link", name="Faturas").click()
    expect(page.get_by_role("heading", name="Faturas", level=1)).to_be_visible()
    rows = page.get_by_test_id("invoices-table").locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.get_by_test_id("invoice-status")).to_have_text("vencida")
    checks(page)
    number = rows.get_by_role("rowheader").get_by_role("link").inner_text().strip()  # the row also offers PDFs
    rows.get_by_role("link", name=number, exact=True).click()

    # The invoice says it is overdue and offers the 2ª via.
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Fatura {number}")
    total = page.get_by_test_id("total").inner_text().strip()
    notice = page.get_by_test_id("overdue-notice")
    expect(notice).to_contain_text("Esta fatura venceu em")
    checks(page)
    notice.get_by_role("link", name="Emitir 2ª via").click()

    # The amounts before confirming: the open value, the fine, the interest, the new due date.
    expect(page).to_have_url(re.compile(r"/faturas/\d+/segunda-via$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"2ª via do boleto da fatura {number}")
    amounts = page.get_by_test_id("second-copy-amounts")
    expect(amounts.get_by_test_id("base")).to_have_text(total)
    expect(amounts.get_by_test_id("fine")).to_have_text(re.compile(r"^R\$ [1-9][\d.]*,\d\d$"))
    expect(amounts.get_by_test_id("interest")).to_have_text(re.compile(r"^R\$ \d[\d.]*,\d\d$"))
    new_total = amounts.get_by_test_id("second-copy-total").inner_text().strip()
    new_due = amounts.get_by_test_id("new-due").inner_text().strip()
    assert new_total != total
    checks(page)
    page.get_by_role("button", name="Confirmar e emitir a 2ª via").click()

    # Back on the invoice: the 2ª via is the boleto to pay; the original is listed as replaced.
    expect(page).to_have_url(re.compile(r"/faturas/\d+$"))
    expect(page.get_by_role("status").filter(has_text=f"2ª via emitida: o novo boleto vence em {new_due}.")) \
        .to_be_visible()
    expect(page.get_by_test_id("overdue-notice")).to_contain_text(f"Pague a 2ª via abaixo, válida até {new_due}")
    expect(page.get_by_test_id("overdue-notice").get_by_role("link", name="Emitir 2ª via")).to_have_count(0)
    expect(page.get_by_test_id("payment")).to_contain_text(f"2ª via: {new_total} até {new_due}")
    expect(page.get_by_test_id("boletos-table")).to_contain_text("Original")
    line = page.get_by_test_id("digitable-line").inner_text().strip()
    checks(page)

    # The new boleto, read back: its amount, due date and linha digitável are the ones the page shows.
    name, content = download(page, page.get_by_test_id("boleto-pdf"))
    assert re.fullmatch(r"boleto-\d{4}-\d{6}-via-2\.pdf", name), name
    text = flat(pdf_text(content))
    assert new_total in text and new_due in text and line in text, text[:600]

    # The invoice PDF and the nota fiscal, from the same page.
    name, content = download(page, page.get_by_test_id("invoice-pdf"))
    assert name.startswith("fatura-") and name.endswith(".pdf") and content.startswith(b"%PDF-")
    assert total in flat(pdf_text(content))
    name, content = download(page, page.get_by_test_id("fiscal-pdf"))
    assert name.endswith(".pdf") and content.startswith(b"%PDF-")
    assert customer.legal_name in flat(pdf_text(content))
    checks.assert_clean()


def test_master_adds_and_removes_an_invoice_recipient(page, log_in, live_server, unique_email, check_page):
    checks = PageChecks(check_page)
    customer = new_customer(live_server.app, roles=(Role.MASTER, Role.COBRANCA))
    payables = unique_email("contas-a-pagar")
    log_in(page, customer.master_email)  # who receives is managed with the users, by the Master
    page.get_by_role("navigation", name="Navegação principal").get_by_role("link", name="Faturas").click()
    page.get_by_role("link", name="Quem recebe as faturas por e-mail").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Quem recebe as faturas")
    recipients = page.get_by_test_id("user-recipients")
    expect(recipients).to_contain_text(customer.emails[Role.COBRANCA])
    expect(recipients).to_contain_text(customer.master_email)
    expect(page.get_by_test_id("no-contacts")).to_be_visible()
    checks(page)

    form = page.get_by_role("region", name="Adicionar e-mail")
    form.get_by_label("E-mail").fill("contas a pagar@empresa")
    form.get_by_role("button", name="Adicionar").click()
    form = page.get_by_role("region", name="Adicionar e-mail")
    expect(form.locator(".invalid-feedback").first).to_be_visible()
    expect(page.get_by_test_id("no-contacts")).to_be_visible()
    checks(page)
    form.get_by_label("E-mail").fill(payables)
    form.get_by_label("Nome ou setor (opcional)").fill("Contas a pagar")
    form.get_by_role("button", name="Adicionar").click()
    expect(page.get_by_role("status").filter(has_text=f"{payables} vai receber as faturas.")).to_be_visible()
    row = page.get_by_test_id("contacts-table").get_by_role("row").filter(has_text=payables)
    expect(row).to_contain_text("Contas a pagar")
    checks(page)

    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Remover").click()
    expect(page.get_by_role("status").filter(has_text=f"{payables} não recebe mais as faturas.")).to_be_visible()
    expect(page.get_by_test_id("no-contacts")).to_be_visible()
    checks(page)
    checks.assert_clean()
