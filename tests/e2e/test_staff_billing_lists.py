"""Browser: the staff lists say the truth (issue 13 points 3 and 7).

- Admin opens "Usuários": a deactivated member reads "desativado", an invitation not accepted "convite pendente".
- Financeiro opens "Faturas", then "Não entregues": an invoice nobody could receive reads "sem destinatário", its
  period as the customer reads it ("… a <last day included>"), and its page says why and what happens next.
"""

import re
import uuid

import pytest
from playwright.sync_api import expect

from portal.accounts.models import Membership, MembershipRole, Organization, User
from portal.billing.delivery import send_invoice
from portal.extensions import db
from portal.shared import clock
from portal.shared.audit import Actor
from portal.shared.formatting import format_period
from tests import factories

pytestmark = pytest.mark.e2e

NAV = "Navegação principal"


def _member(organization: Organization, name: str, **membership) -> str:
    email = f"{name.split()[0].lower()}-{uuid.uuid4().hex[:8]}@demo.example.com"
    user = User(email=email, name=name, password_hash=None)
    db.session.add(user)
    db.session.flush()
    seat = Membership(user_id=user.id, organization_id=organization.id, **membership)
    db.session.add(seat)
    db.session.flush()
    db.session.add(MembershipRole(membership_id=seat.id, role="adm"))
    return email


def people(app) -> dict[str, str]:
    """A deactivated member and an invited one (never accepted) in Demo Tecnologia."""
    with app.app_context():
        demo = db.session.query(Organization).filter_by(legal_name="Demo Tecnologia Ltda").one()
        found = {"deactivated": _member(demo, "Davi Desligado", active=False, accepted_at=clock.now()),
                 "invited": _member(demo, "Ingrid Convidada", accepted_at=None)}
        db.session.commit()
        db.session.remove()
        return found


def undelivered_invoice(app) -> dict:
    """A new customer whose Master has not accepted the invitation yet, with an issued invoice that the e-mail
    step could send to nobody."""
    with app.app_context():
        organization = factories.OrganizationFactory(legal_name=f"Sem Destinatário {uuid.uuid4().hex[:6]} Ltda")
        _member(organization, "Mário Master", accepted_at=None)
        invoice = factories.invoice(organization, with_documents=True,
                                    billing_date=clock.today())  # its PDFs and nota fiscal stored
        assert send_invoice(invoice, actor=Actor.system("e2e")) is False
        with app.test_request_context():
            facts = {"id": invoice.id, "number": invoice.display_number, "organization": organization.legal_name,
                     "period": format_period(invoice.period_start, invoice.period_end),
                     "stored_end": invoice.period_end.strftime("%d/%m/%Y")}
        db.session.remove()
        return facts


def test_admin_reads_each_users_real_situation(page, log_in, live_server, check_page):
    found = people(live_server.app)
    log_in(page, "admin@staff.example.com", totp=True)
    page.get_by_role("navigation", name=NAV).get_by_role("link", name="Usuários").click()
    expect(page).to_have_url(re.compile(r"/backoffice/usuarios$"))
    table = page.get_by_test_id("all-users-table")
    expect(table.locator(f'tr[data-email="{found["deactivated"]}"]').get_by_test_id("user-state")).to_have_text(
        "desativado")
    expect(table.locator(f'tr[data-email="{found["invited"]}"]').get_by_test_id("user-state")).to_have_text(
        "convite pendente")
    expect(table.locator('tr[data-email="adm@demo.example.com"]').get_by_test_id("user-state")).to_have_text("ativo")
    check_page(page)


def test_financeiro_finds_the_invoice_nobody_received(page, log_in, live_server, check_page):
    invoice = undelivered_invoice(live_server.app)
    log_in(page, "financeiro@staff.example.com", totp=True)
    page.get_by_role("navigation", name=NAV).get_by_role("link", name="Faturas").click()
    expect(page).to_have_url(re.compile(r"/backoffice/faturas$"))
    page.get_by_role("link", name="Não entregues").click()
    expect(page).to_have_url(re.compile(r"/backoffice/faturas\?envio=sem-destinatario$"))
    expect(page.get_by_label("Envio por e-mail")).to_have_value("sem-destinatario")
    row = page.locator(f'tr[data-invoice="{invoice["id"]}"]')
    expect(row).to_contain_text(invoice["organization"])
    expect(row).to_contain_text(invoice["period"])
    expect(row).not_to_contain_text(invoice["stored_end"])
    expect(row.get_by_test_id("undelivered")).to_have_text("sem destinatário")
    check_page(page)

    row.get_by_role("link", name=invoice["number"]).click()
    expect(page).to_have_url(re.compile(rf"/backoffice/faturas/{invoice['id']}$"))
    delivery = page.get_by_test_id("delivery")
    expect(delivery).to_contain_text("sem destinatário")
    expect(delivery).to_contain_text("A fatura é enviada sozinha assim que a organização tiver um destinatário.")
    expect(page.get_by_text("Fatura não enviada: sem destinatário")).to_be_visible()  # the history says why
    expect(page.get_by_text("Fatura enviada por e-mail")).to_have_count(0)
    check_page(page)
    delivery.get_by_role("link", name="Ver usuários da organização").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(invoice["organization"])
