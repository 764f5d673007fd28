"""The "Faturas" pages' routes, for tests/test_permissions.py (see its _route_tables).

Every invoice here has its documents stored, so a role that may download gets 200 (not "em preparação").
The contacts page is one endpoint for GET and POST (listed as GET); its POST is checked role by role in
tests/billing/test_views.py, because an empty form answers 422.
"""

from datetime import timedelta

from portal.billing.models import BillingContact
from portal.extensions import db
from portal.shared import clock
from tests import factories


def _invoice(organization) -> dict:
    return {"invoice_id": factories.invoice(organization, with_documents=True).id}


def _overdue(organization) -> dict:
    today = clock.today()
    invoice = factories.invoice(organization, with_documents=True, billing_date=today - timedelta(days=15),
                                due_date=today - timedelta(days=5))
    return {"invoice_id": invoice.id}


def _boleto(organization) -> dict:
    invoice = factories.invoice(organization, with_documents=True)
    return {"invoice_id": invoice.id, "boleto_id": invoice.boletos[0].id}


def _contact(organization) -> dict:
    contact = BillingContact(organization_id=organization.id, email=f"financeiro{organization.id}@cliente.example.com",
                             name="Contas a pagar", created_at=clock.now())
    db.session.add(contact)
    db.session.commit()
    return {"contact_id": contact.id}


CUSTOMER_ROUTES = {
    "billing.invoices": ("GET", lambda w: {}, None),
    "billing.invoices_csv": ("GET", lambda w: {}, None),
    "billing.invoice": ("GET", lambda w: _invoice(w.demo), lambda w: _invoice(w.other)),
    "billing.invoice_pdf": ("GET", lambda w: _invoice(w.demo), lambda w: _invoice(w.other)),
    "billing.boleto_pdf": ("GET", lambda w: _invoice(w.demo), lambda w: _invoice(w.other)),
    "billing.boleto_history_pdf": ("GET", lambda w: _boleto(w.demo), lambda w: _boleto(w.other)),
    "billing.fiscal_pdf": ("GET", lambda w: _invoice(w.demo), lambda w: _invoice(w.other)),
    "billing.fiscal_xml": ("GET", lambda w: _invoice(w.demo), lambda w: _invoice(w.other)),
    "billing.second_copy_preview": ("GET", lambda w: _overdue(w.demo), lambda w: _overdue(w.other)),
    "billing.issue_second_copy": ("POST", lambda w: _overdue(w.demo), lambda w: _overdue(w.other)),
    "billing.contacts": ("GET", lambda w: {}, None),
    "billing.reminder_recipients": ("POST", lambda w: {}, None),
    "billing.remove_contact": ("POST", lambda w: _contact(w.demo), lambda w: _contact(w.other)),
}
