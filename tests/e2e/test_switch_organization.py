"""Browser: a person of two organizations clicks the purchase-offer link e-mailed for the other one (issue 13
point 6): after signing in the portal asks whether to switch (it used to answer 404), and the switch opens the
offer."""

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from portal.accounts.models import Organization, User
from portal.catalog.models import Product
from portal.extensions import db
from portal.offers import service as offers
from portal.shared import clock
from portal.shared.audit import Actor
from tests import factories
from tests.e2e.conftest import DEMO_PASSWORD

pytestmark = pytest.mark.e2e


def person_of_both(app, email: str) -> int:
    """A new person: Adm of Demo Tecnologia and Master of a new organization, Segunda Empresa (its only Master, so
    the offer's e-mail goes to nobody else). Demo, first by name, is where they land after signing in."""
    with app.app_context():
        demo = db.session.scalar(select(Organization).where(Organization.trade_name == "Demo Tecnologia"))
        second = factories.OrganizationFactory(legal_name="Segunda Empresa Ltda", trade_name="Segunda Empresa")
        password = generate_password_hash(DEMO_PASSWORD, method=app.config["PASSWORD_HASH_METHOD"])
        user = factories.UserFactory(email=email, name="Bia Duas Empresas", password_hash=password)
        factories.MembershipFactory(user=user, organization=demo, roles=["adm"])
        factories.MembershipFactory(user=user, organization=second, roles=["master"])
        db.session.commit()
        second_id = second.id
        db.session.remove()
        return second_id


def offer_for(app, organization_id: int) -> str:
    """An offer for the organization, sent with the e-mail to its Masters (as comercial's "Enviar oferta" does)."""
    with app.app_context():
        product = db.session.scalar(select(Product).where(Product.sku == "ENTRA-P1"))
        comercial = db.session.scalar(select(User).where(User.email == "comercial@staff.example.com"))
        actor = Actor.for_user(comercial)
        offer = offers.create_offer(offers.OfferData(
            partner_office="São Paulo (matriz)", usage_location="BR", quantities={product.id: 4},
            delegated_admin=False, expires_on=clock.today() + timedelta(days=10), organization_id=organization_id,
            message="Oferta para a Segunda Empresa."), actor=actor)
        url = f"{app.config['BASE_URL']}/oferta/{offer.token}"
        offers.send_offer(offer, actor=actor, offer_url=url, email_masters=True)
        db.session.commit()
        db.session.remove()
        return url


def test_the_offer_link_of_the_other_organization_asks_to_switch(page, live_server, mail_to, unique_email,
                                                                  check_page):
    email = unique_email("duas")
    url = offer_for(live_server.app, person_of_both(live_server.app, email))
    body = mail_to(email).get_body(("plain",)).get_content()
    link = re.search(r"http://127\.0\.0\.1:\d+/oferta/[A-Za-z0-9_-]{43}", body).group(0)
    assert link == url

    page.goto(link)  # the link, from the e-mail, signed out
    page.get_by_role("link", name="Entrar para ver a oferta").click()
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Senha", exact=True).fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Entrar", exact=True).click()

    expect(page).to_have_url(link)
    expect(page.get_by_role("heading", name="Trocar de organização?")).to_be_visible()
    expect(page.get_by_test_id("switch-organization")).to_contain_text(
        "Este link é de Segunda Empresa, e você está usando o portal como Demo Tecnologia.")
    check_page(page)
    page.get_by_role("button", name="Trocar para Segunda Empresa e abrir").click()

    expect(page).to_have_url(link)
    expect(page.get_by_role("heading", name="Oferta de compra")).to_be_visible()
    expect(page.get_by_test_id("offer-message")).to_have_text("Oferta para a Segunda Empresa.")
    expect(page.get_by_label("Microsoft Entra ID P1", exact=True)).to_have_value("4")
    expect(page.locator("#org-switcher")).to_have_text(re.compile(r"\s*Segunda Empresa\s*"))
    check_page(page)
