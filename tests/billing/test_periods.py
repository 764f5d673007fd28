"""Issue 13 point 7: one rule for how a billing period is shown. Periods are stored [start, end); people read the
first and the last day included — "03/12/2026 a 02/01/2027" — on the staff list and invoice page, the customer's
Faturas and invoice page, the invoice and boleto PDFs, the nota fiscal's text and the e-mail."""

import re
from datetime import UTC, date, datetime

import pytest
from flask_babel import force_locale

from portal.billing import documents, fiscal
from portal.billing.delivery import send_invoice
from portal.billing.models import Invoice
from portal.billing.run import invoice_organization
from portal.billing.settings import BillingSettings
from portal.extensions import db
from portal.shared import clock
from portal.shared import documents as stored_documents
from portal.shared.audit import Actor
from portal.shared.formatting import format_period
from tests import factories
from tests.fakes import pdf
from tests.html import visible

SYSTEM = Actor.system("tests")
SHOWN = "03/12/2026 a 02/01/2027"
EXCLUSIVE_END = "03/01/2027"  # the stored end: never shown as the period's last day


@pytest.fixture
def settings(app_ctx):
    return BillingSettings.from_config(app_ctx.config)


@pytest.fixture
def december(app_ctx, world, settings, monkeypatch) -> Invoice:
    """The invoice of billing day 03/12/2026 (period 03/12/2026 → 03/01/2027), issued by the billing service."""
    import portal.billing.run as billing

    monkeypatch.setattr(billing, "_queue_documents", lambda invoice: None)  # each step is run by the test
    world.demo.billing_day = 3
    db.session.commit()
    with clock.frozen(datetime(2026, 10, 1, 15, tzinfo=UTC)):
        factories.subscription(world.demo, factories.ProductFactory(name="Microsoft 365 Business Standard"),
                               quantity=2)
        db.session.commit()
    with clock.frozen(datetime(2026, 12, 3, 9, tzinfo=UTC)):
        issued = invoice_organization(world.demo.id, on=date(2026, 12, 3), settings=settings, actor=SYSTEM)
    invoice = db.session.get(Invoice, issued.invoice.id)
    assert (invoice.period_start, invoice.period_end) == (date(2026, 12, 3), date(2027, 1, 3))
    return invoice


def test_the_rule_in_both_languages(app_ctx):
    with force_locale("pt_BR"):
        assert format_period(date(2026, 12, 3), date(2027, 1, 3)) == SHOWN
    with force_locale("en"):
        assert format_period(date(2026, 12, 3), date(2027, 1, 3)) == "12/03/2026 to 01/02/2027"
    assert format_period(None, date(2027, 1, 3)) == ""


def test_staff_list_and_invoice_page_show_the_last_day_included(december, login_as):
    client = login_as("staff_financeiro")
    for page in (visible(client.get("/backoffice/faturas")),
                 visible(client.get(f"/backoffice/faturas/{december.id}"))):
        assert SHOWN in page
        assert EXCLUSIVE_END not in page


def test_customer_faturas_and_invoice_page_show_the_same(december, login_as):
    client = login_as("cobranca")
    listed = visible(client.get("/faturas"))
    detail = visible(client.get(f"/faturas/{december.id}"))
    assert SHOWN in listed and EXCLUSIVE_END not in listed
    assert SHOWN in detail and EXCLUSIVE_END not in detail
    assert "Mensalidade: 2 licenças a R$ 78,90, de 03/12/2026 a 02/01/2027" in detail


def test_pdfs_nota_fiscal_and_email_show_the_same(december, settings, world, outbox):
    documents.ensure_invoice_documents(december, settings=settings, actor=SYSTEM)
    content, _type = stored_documents.load(december.pdf_sha256)
    invoice_page = pdf.flat(pdf.pdf_text(content, first_page=1, last_page=1))
    boleto_page = pdf.flat(pdf.pdf_text(content, first_page=2, last_page=2))
    assert SHOWN in invoice_page and EXCLUSIVE_END not in invoice_page
    assert "período 03/12/2026 a 02/01/2027" in invoice_page  # the line
    assert f"Fatura {december.display_number}, período {SHOWN}." in boleto_page
    assert f"período {SHOWN}" in fiscal.service_description(december)

    factories.add_fiscal_document(december)
    assert send_invoice(db.session.get(Invoice, december.id), actor=SYSTEM) is True
    message = next(m for m in outbox if m["To"] == world.master.email)
    text = message.get_body(("plain",)).get_content()
    html = " ".join(re.sub(r"<[^>]+>", " ", message.get_body(("html",)).get_content()).split())
    assert f"Período: {SHOWN}" in text
    assert f"Período {SHOWN}" in html and EXCLUSIVE_END not in html
