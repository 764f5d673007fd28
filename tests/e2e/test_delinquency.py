"""Browser: an "inadimplente" organization is told on every page, before trying to buy (issue 13 point 11).

The Master sees what is overdue, how much, and follows the link to pay; the Adm sees that purchases and increases
are blocked and whom to ask, and finds the catalog's buttons disabled and Licenças offering only decreases.
"""

from datetime import timedelta

import pytest
from flask import current_app
from playwright.sync_api import expect
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from portal.billing import payments
from portal.billing.settings import BillingSettings
from portal.catalog.models import Product
from portal.extensions import db
from portal.shared import clock
from portal.shared.audit import Actor
from portal.shared.formatting import format_date
from tests import factories
from tests.e2e.conftest import DEMO_PASSWORD

pytestmark = pytest.mark.e2e


def delinquent_organization(app, master: str, adm: str) -> dict:
    """A new organization (its own, so the demo's stay in good standing) with a Master, an Adm, 8 licenses and
    an invoice of R$ 789,00 due 40 days ago, made "inadimplente" by the billing rule."""
    with app.app_context():
        password = generate_password_hash(DEMO_PASSWORD, method=app.config["PASSWORD_HASH_METHOD"])
        organization = factories.OrganizationFactory(trade_name="Atrasada Ltda", legal_name="Atrasada Ltda")
        for email, name, role in ((master, "Mara Master", "master"), (adm, "Ari Adm", "adm")):
            factories.MembershipFactory(organization=organization, roles=[role], user__email=email,
                                        user__name=name, user__password_hash=password)
        basic = db.session.scalar(select(Product).where(Product.sku == "M365-BASIC"))  # the demo catalog's
        factories.subscription(organization, product=basic, quantity=8)
        today = clock.today()
        invoice = factories.invoice(organization, billing_date=today - timedelta(days=50),
                                    due_date=today - timedelta(days=40))
        settings = BillingSettings.from_config(current_app.config)
        assert payments.refresh_delinquency(organization, today, settings, Actor.system("e2e")) == "delinquent"
        db.session.commit()
        facts = {"invoice": invoice.id, "due": format_date(invoice.due_date)}
        db.session.remove()
        return facts


def test_the_banner_and_the_disabled_purchases(page, another_browser, live_server, log_in, unique_email, check_page):
    master, adm = unique_email("mara"), unique_email("ari")
    facts = delinquent_organization(live_server.app, master, adm)

    log_in(page, master)
    banner = page.get_by_test_id("delinquency-banner")
    expect(banner).to_contain_text("Sua organização está inadimplente.")
    expect(banner).to_contain_text(f"1 fatura vencida desde {facts['due']}, com R$ 789,00 em aberto.")
    expect(banner).to_contain_text("novas compras e aumentos de licenças ficam bloqueados")
    check_page(page)
    banner.get_by_role("link", name="Pagar a fatura").click()
    expect(page).to_have_url(f"{live_server.url}/faturas/{facts['invoice']}")
    expect(page.get_by_test_id("delinquency-banner")).to_be_visible()  # on every page
    check_page(page)

    other = another_browser()
    log_in(other, adm)
    banner = other.get_by_test_id("delinquency-banner")
    expect(banner).to_contain_text("Fale com um Master ou com quem tem o papel Cobrança na sua organização")
    expect(banner).not_to_contain_text("R$")
    nav = other.get_by_role("navigation", name="Navegação principal")
    nav.get_by_role("link", name="Adicionar novos produtos").click()
    expect(other.get_by_test_id("purchases-blocked")).to_contain_text("Novas compras estão bloqueadas")
    buttons = other.get_by_role("button", name="Adicionar ao carrinho")
    expect(buttons.first).to_be_disabled()
    assert all(button.is_disabled() for button in buttons.all())
    check_page(other)
    nav.get_by_role("link", name="Licenças").click()
    expect(other.get_by_test_id("purchases-blocked")).to_contain_text(
        "Aumentos de licenças estão bloqueados enquanto houver fatura vencida.")
    expect(other.get_by_test_id("licenses-table").get_by_role("link", name="Alterar quantidades")).to_have_count(0)
    other.get_by_test_id("licenses-table").get_by_role("link", name="Reduzir quantidade").first.click()
    expect(other.get_by_test_id("purchases-blocked")).to_be_visible()
    expect(other.get_by_label("Nova quantidade de licenças")).to_have_attribute("max", "8")
    check_page(other)
