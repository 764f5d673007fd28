"""Browser: Adm reviews a purchase; the review's "Total deste pedido na fatura de …" is what the billing run
drafts for it on that day (issue 13 point 4: one rule for the review and the invoice)."""

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal.accounts.models import Organization
from portal.billing.lines import draft_invoice
from portal.extensions import db
from portal.shared.dates import parse_day
from portal.shared.money import format_brl
from portal.subscriptions.models import Order, Quote

pytestmark = pytest.mark.e2e

ADM = "adm@demo.example.com"
PRODUCT = "M365-E3"  # Microsoft 365 E3, which Demo Tecnologia does not have


def drafted_for(app, token: str, day) -> str:
    """The run's own draft of Demo Tecnologia's invoice of `day`: the lines of the subscriptions this quote bought."""
    with app.app_context():
        quote = db.session.scalar(select(Quote).where(Quote.token == token))
        bought = set(db.session.scalars(select(Order.subscription_id).where(Order.quote_id == quote.id)))
        demo = db.session.scalar(select(Organization).where(Organization.legal_name == "Demo Tecnologia Ltda"))
        draft = draft_invoice(demo, day)
        total = sum(line.amount_cents for line in draft.lines if line.subscription_id in bought)
        db.session.remove()
        return format_brl(total)


def test_adm_reviews_a_purchase_whose_total_is_what_the_billing_run_bills(page, log_in, live_server, check_page):
    log_in(page, ADM)
    nav = page.get_by_test_id("nav")
    nav.get_by_role("link", name="Adicionar novos produtos").click()
    card = page.locator(f'[data-testid="product-card"][data-sku="{PRODUCT}"]')
    card.get_by_label("Quantidade").fill("2")
    card.get_by_role("button", name="Adicionar ao carrinho").click()
    expect(page.get_by_role("status").filter(has_text="adicionadas ao carrinho")).to_be_visible()
    nav.get_by_test_id("cart-link").click()
    page.get_by_role("button", name="Revisar pedido").click()
    expect(page).to_have_url(re.compile(r"/carrinho/orcamento/[0-9a-f]{32}$"))
    token = page.url.rsplit("/", 1)[1]

    summary = page.get_by_test_id("checkout-summary")
    label = summary.get_by_text(re.compile(r"^Total deste pedido na fatura de \d{2}/\d{2}/\d{4}$"))
    expect(label).to_be_visible()
    day = parse_day(label.inner_text().rsplit(" ", 1)[1])
    shown = re.match(r"R\$ [\d.]+,\d{2}", page.get_by_test_id("next-invoice").inner_text()).group(0)
    check_page(page)

    page.get_by_role("button", name="Confirmar compra").click()
    expect(page).to_have_url(re.compile(r"/licencas$"))
    assert drafted_for(live_server.app, token, day) == shown
