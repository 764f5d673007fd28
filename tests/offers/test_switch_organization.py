"""A user of two organizations opens a link of the other one: asked to switch (issue 13 point 6), never a 404;
anyone else still gets the 404 of a link that names nothing."""

import re

import pytest

from portal.accounts.context import SESSION_ORG
from tests import factories
from tests.conftest import sign_in
from tests.html import text

pytestmark = pytest.mark.usefixtures("march")


@pytest.fixture
def both(app_ctx, world):
    """Demo's Master, also Adm of Outra Empresa; signed in, working in Demo Tecnologia."""
    factories.MembershipFactory(organization=world.other, user=world.master, roles=["adm"])
    return sign_in(app_ctx.test_client(), world.master, world.demo)


def switch_form(body: str) -> tuple[str, str]:
    """The switch page's form: its action and the `next` it carries."""
    body = body[body.index('data-testid="switch-organization"'):]  # not the navigation's switcher
    action = re.search(r'<form method="post" action="([^"]+)">', body).group(1)
    target = re.search(r'name="next" value="([^"]+)"', body).group(1)
    return action, target


def test_an_offer_of_the_users_other_organization_asks_to_switch_then_opens(both, world, catalog):
    offer = factories.offer(world.staff_comercial, world.other, products=[catalog.standard])
    page = both.get(f"/oferta/{offer.token}")
    assert page.status_code == 200
    body = text(page)
    assert "Trocar de organização?" in body
    assert "Este link é de Outra Empresa, e você está usando o portal como Demo Tecnologia." in body
    assert "Trocar para Outra Empresa e abrir" in body
    assert 'data-testid="offer-lines"' not in body  # nothing of the offer before the switch
    action, target = switch_form(body)
    assert (action, target) == (f"/organizacao/{world.other.id}/usar", f"/oferta/{offer.token}")

    response = both.post(action, data={"next": target})
    assert response.status_code == 302 and response.headers["Location"] == f"/oferta/{offer.token}"
    with both.session_transaction() as session:
        assert session[SESSION_ORG] == world.other.id
    opened = both.get(f"/oferta/{offer.token}")
    assert opened.status_code == 200 and 'data-testid="offer-lines"' in text(opened)
    assert "Trocar de organização?" not in text(opened)


def test_the_offer_of_an_organization_the_user_is_not_in_stays_a_404(app_ctx, world, catalog):
    offer = factories.offer(world.staff_comercial, world.other, products=[catalog.standard])
    master = sign_in(app_ctx.test_client(), world.master, world.demo)
    response = master.get(f"/oferta/{offer.token}")
    assert response.status_code == 404 and "Trocar de organização?" not in text(response)


def test_a_deactivated_membership_does_not_offer_the_switch(app_ctx, world, catalog):
    factories.MembershipFactory(organization=world.other, user=world.master, roles=["adm"], active=False)
    offer = factories.offer(world.staff_comercial, world.other, products=[catalog.standard])
    master = sign_in(app_ctx.test_client(), world.master, world.demo)
    assert master.get(f"/oferta/{offer.token}").status_code == 404


def test_posting_to_the_other_organizations_offer_is_still_a_404(both, world, catalog):
    offer = factories.offer(world.staff_comercial, world.other, products=[catalog.standard])
    response = both.post(f"/oferta/{offer.token}/aceitar", data={f"qty-{catalog.standard.id}": "2"})
    assert response.status_code == 404


def test_the_switch_follows_only_same_site_paths(both, world):
    response = both.post(f"/organizacao/{world.other.id}/usar", data={"next": "https://evil.example/"})
    assert response.headers["Location"] == "/"
    response = both.post(f"/organizacao/{world.other.id}/usar", data={"next": "//evil.example/x"})
    assert response.headers["Location"] == "/"


def test_an_invoice_link_of_the_other_organization_asks_too(app_ctx, world):
    """The same step for every tenant object loaded through tenant_get (invoices, users)."""
    factories.MembershipFactory(organization=world.other, user=world.master, roles=["cobranca"])
    both = sign_in(app_ctx.test_client(), world.master, world.demo)
    invoice = factories.invoice(world.other, lines=(), boleto=False, total_cents=78_900)
    page = both.get(f"/faturas/{invoice.id}")
    assert page.status_code == 200 and "Trocar de organização?" in text(page)
    action, target = switch_form(text(page))
    assert target == f"/faturas/{invoice.id}"
    assert both.post(action, data={"next": target}).headers["Location"] == f"/faturas/{invoice.id}"
    assert both.get(f"/faturas/{invoice.id}").status_code == 200
    # Someone of Demo Tecnologia only: the same 404 as a wrong number.
    cobranca = sign_in(app_ctx.test_client(), world.cobranca, world.demo)
    assert cobranca.get(f"/faturas/{invoice.id}").status_code == 404


def test_no_switch_to_an_organization_where_the_role_cannot_open_the_page(both, world):
    """Adm of Outra Empresa may not see its invoices: switching would only lead to a 403."""
    invoice = factories.invoice(world.other, lines=(), boleto=False, total_cents=78_900)
    response = both.get(f"/faturas/{invoice.id}")
    assert response.status_code == 404 and "Trocar de organização?" not in text(response)


def test_a_ticket_link_of_the_other_organization_asks_too(app_ctx, world):
    """Ticket e-mails link to /chamados/<id>: a Suporte of both organizations is asked to switch."""
    factories.MembershipFactory(organization=world.other, user=world.suporte, roles=["suporte"])
    ticket = factories.ticket(world.other, world.other_master)
    suporte = sign_in(app_ctx.test_client(), world.suporte, world.demo)
    page = suporte.get(f"/chamados/{ticket.id}")
    assert page.status_code == 200 and "Trocar de organização?" in text(page)
    action, target = switch_form(text(page))
    assert (action, target) == (f"/organizacao/{world.other.id}/usar", f"/chamados/{ticket.id}")
    assert suporte.post(action, data={"next": target}).headers["Location"] == f"/chamados/{ticket.id}"
    assert suporte.get(f"/chamados/{ticket.id}").status_code == 200
    # Demo's Master is not in Outra Empresa: the 404 of a ticket that does not exist.
    master = sign_in(app_ctx.test_client(), world.master, world.demo)
    assert master.get(f"/chamados/{ticket.id}").status_code == 404
