"""Browser, as the customer's Cobrança: "Faturas", a month picked, the accountant's pack downloaded (a ZIP with the
invoice PDF and resumo.csv), then the "E-mail do contador" page: a bad day refused, an address registered.

The organization is new, with one invoice of its own (tests/e2e/customers.py), so the month holds that invoice only.
"""

import io
import zipfile

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal.accounts.roles import Role
from portal.billing.models import Invoice
from portal.extensions import db
from tests.e2e.customers import new_customer
from tests.e2e.pagecheck import PageChecks

pytestmark = pytest.mark.e2e


def test_cobranca_downloads_the_accountants_pack_of_a_month(page, log_in, live_server, check_page):
    checks = PageChecks(check_page)
    customer = new_customer(live_server.app, roles=(Role.MASTER, Role.COBRANCA), licenses={"M365-BASIC": 4},
                            overdue_invoice=True)
    with live_server.app.app_context():
        invoice = db.session.scalar(select(Invoice).where(Invoice.organization_id == customer.id))
        number, stem, month = invoice.display_number, f"{invoice.year}-{invoice.number:06d}", invoice.billing_date
        db.session.remove()
    log_in(page, customer.emails[Role.COBRANCA])
    page.get_by_role("navigation", name="Navegação principal").get_by_role("link", name="Faturas").click()
    expect(page.get_by_role("heading", name="Faturas", level=1)).to_be_visible()
    checks(page)

    form = page.get_by_test_id("pack-form")
    form.get_by_label("Competência (mês)").fill(f"{month:%Y-%m}")
    with page.expect_download() as started:
        form.get_by_role("button", name="Baixar pacote do contador").click()
    saved = started.value
    assert saved.suggested_filename.endswith(f"-{month:%Y-%m}.zip")
    with open(saved.path(), "rb") as file:
        archive = zipfile.ZipFile(io.BytesIO(file.read()))
    assert archive.testzip() is None
    names = archive.namelist()
    assert f"{month:%Y-%m}/fatura-{stem}.pdf" in names and f"{month:%Y-%m}/resumo.csv" in names
    assert archive.read(f"{month:%Y-%m}/fatura-{stem}.pdf").startswith(b"%PDF")
    summary = archive.read(f"{month:%Y-%m}/resumo.csv").decode("utf-8-sig").splitlines()
    assert len(summary) == 3 and summary[1].startswith(f"{number};")  # header, the invoice, the totals

    # A month without invoices: a message on Faturas, no empty ZIP.
    form.get_by_label("Competência (mês)").fill("2001-01")
    form.get_by_role("button", name="Baixar pacote do contador").click()
    expect(page.get_by_role("status").filter(has_text="Não há faturas com competência 01/2001.")).to_be_visible()
    checks(page)

    # The accountant's e-mail: a day out of range refused (the address kept), then saved.
    page.get_by_role("link", name="E-mail do contador").click()
    expect(page.get_by_role("heading", name="E-mail do contador", level=1)).to_be_visible()
    checks(page)
    accountant = page.get_by_test_id("accountant-form")
    accountant.get_by_label("E-mail do contador").fill("contador@escritorio.example.com")
    accountant.get_by_label("Dia do envio").fill("30")
    accountant.get_by_role("button", name="Salvar").click()
    expect(page.get_by_text("Escolha um dia entre 1 e 28.")).to_be_visible()
    expect(page.get_by_test_id("accountant-form").get_by_label("E-mail do contador")) \
        .to_have_value("contador@escritorio.example.com")
    page.get_by_test_id("accountant-form").get_by_label("Dia do envio").fill("5")
    page.get_by_test_id("accountant-form").get_by_role("button", name="Salvar").click()
    expect(page.get_by_test_id("accountant-current")).to_contain_text(
        "Hoje o pacote vai para contador@escritorio.example.com no dia 5 de cada mês.")
    checks(page)
    checks.assert_clean()
