"""Issue 13 point 3: an invoice nobody can receive is not recorded as e-mailed.

With no active Cobrança or Master user and no billing contact, `send_invoice` sends nothing, leaves
`emailed_at` empty, and writes one INVOICE_UNDELIVERED event saying why (never an INVOICE_EMAILED with
"to": []). Staff see "sem destinatário" on the invoice and in the list's "Não entregues" filter; once the
organization has a recipient, the sweep sends it.
"""

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from portal.billing import delivery
from portal.billing import jobs as billing_jobs
from portal.billing.delivery import send_invoice
from portal.billing.models import Invoice
from portal.extensions import db
from portal.notifications.models import EmailDelivery
from portal.shared import clock
from portal.shared.audit import Actor, AuditEvent, AuditTag
from tests import factories
from tests.html import visible

SYSTEM = Actor.system("tests")
CONTACT = "contas.pagar@demo.example.com"


@pytest.fixture
def nobody(app_ctx, world):
    """Demo Tecnologia with no one to receive invoices: its Master's invitation is still pending and its
    Cobrança user was deactivated (no billing contact either)."""
    world.master_membership.accepted_at = None
    world.cobranca_membership.active = False
    db.session.commit()
    assert delivery.recipients(world.demo.id) == []
    return world.demo


@pytest.fixture
def invoice(nobody) -> Invoice:
    with clock.frozen(datetime(2026, 12, 3, 12, tzinfo=UTC)):
        return factories.invoice(nobody, with_documents=True, billing_date=date(2026, 12, 3),
                                 due_date=date(2026, 12, 13))


def events(tag: AuditTag) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.tag == tag).order_by(AuditEvent.seq)))


# ---------------------------------------------------------------- service

def test_with_no_recipient_nothing_is_recorded_as_sent_and_the_audit_says_why(invoice, outbox):
    assert send_invoice(invoice, actor=SYSTEM) is False
    db.session.expire_all()
    assert db.session.get(Invoice, invoice.id).emailed_at is None
    assert outbox == [] and db.session.scalars(select(EmailDelivery)).all() == []
    assert events(AuditTag.INVOICE_EMAILED) == []
    [event] = events(AuditTag.INVOICE_UNDELIVERED)
    assert event.subject == f"invoice:{invoice.id}" and event.organization_id == invoice.organization_id
    assert event.after == {"number": invoice.display_number, "to": [], "recipients": 0}

    assert send_invoice(db.session.get(Invoice, invoice.id), actor=SYSTEM) is False  # tried again: one event
    assert len(events(AuditTag.INVOICE_UNDELIVERED)) == 1


def test_the_sweep_leaves_it_alone_until_someone_can_receive_it_then_sends_it(invoice, world, outbox):
    send_invoice(invoice, actor=SYSTEM)
    assert billing_jobs.sweep_invoices.call_local() == 0  # nothing to do for it while nobody can receive it
    assert delivery.undelivered_among([invoice.id]) == {invoice.id}

    delivery.add_billing_contact(world.demo, email=CONTACT, name="Contas a pagar", actor=SYSTEM)
    assert delivery.undelivered_among([invoice.id]) == set()
    assert billing_jobs.sweep_invoices.call_local() == 1
    assert [m["To"] for m in outbox] == [CONTACT]
    db.session.expire_all()
    assert db.session.get(Invoice, invoice.id).emailed_at is not None
    [event] = events(AuditTag.INVOICE_EMAILED)
    assert event.after["to"] == [CONTACT]


def test_an_accepted_invitation_makes_the_master_a_recipient(invoice, world, outbox):
    send_invoice(invoice, actor=SYSTEM)
    world.master_membership.accepted_at = clock.now()
    db.session.commit()
    assert send_invoice(db.session.get(Invoice, invoice.id), actor=SYSTEM) is True
    assert [m["To"] for m in outbox] == [world.master.email]


# ---------------------------------------------------------------- staff pages

def test_staff_see_sem_destinatario_on_the_invoice_and_in_the_not_delivered_list(invoice, world, login_as):
    send_invoice(invoice, actor=SYSTEM)
    with clock.frozen(datetime(2026, 12, 3, 15, tzinfo=UTC)):
        delivered = factories.invoice(world.other, with_documents=True, billing_date=date(2026, 12, 3),
                                      due_date=date(2026, 12, 13))
    assert send_invoice(delivered, actor=SYSTEM) is True
    client = login_as("staff_financeiro")

    page = client.get(f"/backoffice/faturas/{invoice.id}")
    assert page.status_code == 200
    text = visible(page)
    assert "Envio por e-mail sem destinatário Nenhum usuário Cobrança ou Master ativo" in text
    assert "Fatura não enviada: sem destinatário" in text  # the history says why
    assert "Fatura enviada por e-mail" not in text
    assert "enviada em" in visible(client.get(f"/backoffice/faturas/{delivered.id}"))

    listed = client.get("/backoffice/faturas?envio=sem-destinatario")
    assert listed.status_code == 200
    body = listed.get_data(as_text=True)
    assert f'data-invoice="{invoice.id}"' in body and f'data-invoice="{delivered.id}"' not in body
    assert 'data-testid="undelivered"' in body
    everything = client.get("/backoffice/faturas").get_data(as_text=True)
    assert f'data-invoice="{delivered.id}"' in everything
    assert everything.count('data-testid="undelivered"') == 1  # the badge only on the one nobody received


def test_an_unknown_delivery_filter_is_explained_not_a_crash(invoice, login_as):
    response = login_as("staff_financeiro").get("/backoffice/faturas?envio=qualquer")
    assert response.status_code == 422
    assert "Envio desconhecido: “qualquer”. Mostrando todas as faturas." in visible(response)
    assert f'data-invoice="{invoice.id}"' in response.get_data(as_text=True)
