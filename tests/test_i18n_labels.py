"""No English and no internal code on a page people read (issue 13, point 9): each page that showed one, rendered in
Portuguese (the old text gone, the Portuguese label there) and in English (the English label)."""

import html
import re
from datetime import UTC, date, datetime

import pytest

from portal.billing.models import GatewayPayment, InvoiceLine, LineKind
from portal.extensions import db
from portal.shared import clock
from portal.subscriptions import order_texts
from portal.subscriptions.models import OrderEvent, OrderStatus
from tests import factories
from tests.backoffice.routes_orders import make_order
from tests.conftest import sign_in
from tests.e2e.pagecheck import forbidden_words

NOW = datetime(2026, 3, 11, 15, 0, tzinfo=UTC)
TENANT_MESSAGE = "The organization has no Microsoft tenant id: set it in the backoffice, then retry."


@pytest.fixture
def frozen(app_ctx):
    with clock.frozen(NOW):
        yield


def readable(client, url: str, *, language: str = "pt_BR") -> str:
    """The text of the page as a person reads it: tags stripped, and the folded technical detail (<details>) left
    out, as the browser leaves it out of the page's visible text."""
    with client.session_transaction() as session:
        session["lang"] = language
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    body = re.sub(r"<details\b.*?</details>", " ", response.get_data(as_text=True), flags=re.DOTALL)
    body = re.sub(r"<(script|style|datalist)\b.*?</\1>", " ", body, flags=re.DOTALL)  # not rendered either
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def failed_order(world):
    """An order as orders.py leaves one that found no tenant: its English notes and the `no_tenant` code."""
    order = make_order(world.demo, status=OrderStatus.FAILED, attempts=1, error_code="no_tenant",
                       error_message=TENANT_MESSAGE)
    for message in (f"attempt 1 failed (network): timed out; retrying at {NOW.isoformat()}",
                    f"failed (no_tenant): {TENANT_MESSAGE}", f"retried by {world.staff_suporte.email}"):
        db.session.add(OrderEvent(order_id=order.id, created_at=NOW, status=OrderStatus.FAILED, message=message))
    db.session.commit()
    return order


def test_the_staff_order_page_reads_in_portuguese_without_codes(client, world, frozen):
    order = failed_order(world)
    staff = sign_in(client, world.staff_suporte)

    text = readable(staff, f"/backoffice/pedidos/{order.id}")

    assert "order created" not in text and "failed (" not in text and "retried by" not in text
    assert "no_tenant" not in text and "The organization has no Microsoft tenant id" not in text
    assert "Pedido criado." in text
    assert "A organização não tem o tenant Microsoft cadastrado: informe-o na organização e reenvie." in text
    assert "Falhou: A organização não tem o tenant Microsoft cadastrado" in text
    assert "Tentativa 1 falhou: Falha de rede ao falar com o Partner Center. Nova tentativa em 11/03/2026 12:00" in text
    assert f"Reenviado por {world.staff_suporte.email}." in text
    assert forbidden_words(text) == []
    # The technical trail is still there for the staff, folded.
    raw = html.unescape(staff.get(f"/backoffice/pedidos/{order.id}").get_data(as_text=True))
    assert f"no_tenant: {TENANT_MESSAGE}" in raw and "Dados técnicos" in raw


def test_the_staff_order_page_in_english(client, world, frozen):
    order = failed_order(world)
    staff = sign_in(client, world.staff_suporte)

    text = readable(staff, f"/backoffice/pedidos/{order.id}", language="en")

    assert "Order created." in text and "Pedido criado." not in text
    assert "The organization has no Microsoft tenant on record: enter it on the organization, then send again." in text
    assert f"Sent again by {world.staff_suporte.email}." in text
    assert "no_tenant" not in text


def test_the_order_queue_shows_the_cause_not_the_code(client, world, frozen):
    failed_order(world)
    staff = sign_in(client, world.staff_suporte)

    text = readable(staff, "/backoffice/pedidos")

    assert "A organização não tem o tenant Microsoft cadastrado" in text and "no_tenant" not in text
    assert "The organization has no Microsoft tenant on record" in readable(staff, "/backoffice/pedidos",
                                                                            language="en")


def test_every_note_orders_writes_has_a_sentence():
    notes = ["order created", "done", "attempt 2 failed (network): timed out; retrying at 2026-03-11T15:05:00+00:00",
             "failed (800090): Cannot decrease.", "waiting for the subscription's earlier order",
             "handed to the staff implantação queue", "waiting for the subscription's purchase to complete",
             "accepted by the provider (202); polling", "still in progress at the provider",
             "retried by ana@staff.example.com", "completed by ana@staff.example.com: feito no portal da Microsoft",
             "withdrawn with the rescission by Marina Master"]
    assert [note for note in notes if order_texts.step_text(note) is None] == []
    assert order_texts.step_text("something new") is None  # shown only folded as technical detail


def test_an_unknown_provider_code_reads_as_a_refusal(app_ctx):
    assert order_texts.error_label("800002") == "O provedor recusou o pedido."
    assert order_texts.error_label("no_tenant").startswith("A organização não tem o tenant Microsoft")
    assert order_texts.error_label(None) == ""


def test_the_staff_invoice_shows_the_credit_line_and_history_in_portuguese(client, world, frozen):
    invoice = factories.invoice(world.demo, total_cents=100_000, billing_date=date(2026, 3, 10))
    db.session.add(InvoiceLine(invoice_id=invoice.id, position=2, kind=LineKind.CREDIT, description="credit",
                               quantity=1, unit_price_cents=-1000, amount_cents=-1000))
    db.session.add(GatewayPayment(invoice_id=invoice.id, gateway="stripe", external_id="pi_123", method="card",
                                  amount_cents=99_000, status="requires_payment_method",
                                  detail={"error": "Your card was declined."}))
    db.session.commit()
    staff = sign_in(client, world.staff_financeiro)

    text = readable(staff, f"/backoffice/faturas/{invoice.id}")

    assert "credit (crédito)" not in text and "Crédito aplicado" in text
    assert "requires_payment_method" not in text and "aguardando o pagador" in text
    assert "Your card was declined." not in text  # the gateway's words: technical detail
    assert forbidden_words(text) == []
    english = readable(staff, f"/backoffice/faturas/{invoice.id}", language="en")
    assert "Credit applied" in english and "awaiting the payer" in english


def test_the_signature_simulator_says_what_happened_in_words(client, world, app_ctx):
    from portal.integrations.esign import SignatureSimulator
    from portal.onboarding.models import Stage

    original = app_ctx.extensions["esign"]
    app_ctx.extensions["esign"] = SignatureSimulator(webhook_secret="test-webhook-secret")
    try:
        opportunity = factories.opportunity(Stage.NEGOTIATION)
        comercial = sign_in(client, world.staff_comercial)
        base = f"/backoffice/contratacao/{opportunity.id}"
        comercial.post(f"{base}/enviar-contrato")
        comercial.post(f"{base}/simular-assinatura")
        text = readable(comercial, base)
    finally:
        app_ctx.extensions["esign"] = original

    assert "(signed)" not in text
    assert "Assinatura simulada: Contrato assinado por todos" in text


def test_the_audit_trail_names_tags_and_subjects_in_words(client, world, frozen):
    from portal.shared.audit import Actor, AuditTag, record

    record(AuditTag.FISCAL_DOCUMENT_ISSUED, actor=Actor.system("billing"), organization_id=world.demo.id,
           subject="fiscal_document:5", after={"total_cents": 12345})
    record(AuditTag.INVOICE_ISSUED, actor=Actor.system("billing"), organization_id=world.demo.id,
           subject="agreement_version:2")
    db.session.commit()
    staff = sign_in(client, world.staff_compliance)

    text = readable(staff, "/backoffice/auditoria/trilha")

    assert "fiscal_document" not in text and "agreement_version" not in text and "total_cents" not in text
    assert "Nota fiscal nº 5" in text and "Versão de contrato nº 2" in text
    assert forbidden_words(text) == []
    english = readable(staff, "/backoffice/auditoria/trilha", language="en")
    assert "Nota fiscal no. 5" in english and "Agreement version no. 2" in english
    # The tag and the data stay, folded, for the auditor.
    raw = staff.get("/backoffice/auditoria/trilha").get_data(as_text=True)
    assert "billing:fiscal_document:issued · fiscal_document:5" in raw and "total_cents" in raw


# Each vocabulary of codes shown to people (module of the labels, their name, module of the enum, its name). A code
# added without its label would be shown raw (the templates fall back to the code): a new order status, audit tag…
VOCABULARIES = [
    ("portal.catalog.models", "PROVIDER_LABELS", "portal.catalog.models", "Provider"),
    ("portal.catalog.models", "TERM_LABELS", "portal.catalog.models", "Term"),
    ("portal.catalog.models", "BILLING_LABELS", "portal.catalog.models", "BillingFrequency"),
    ("portal.shared.audit", "AUDIT_TAG_LABELS", "portal.shared.audit", "AuditTag"),
    ("portal.agreements.models", "AGREEMENT_KIND_LABELS", "portal.agreements.models", "AgreementKind"),
    ("portal.cancellations.models", "REASON_LABELS", "portal.cancellations.models", "ReasonCategory"),
    ("portal.billing.models", "INVOICE_STATUS_LABELS", "portal.billing.models", "InvoiceStatus"),
    ("portal.billing.models", "PAYMENT_METHOD_LABELS", "portal.billing.models", "PaymentMethod"),
    ("portal.backoffice.billing", "LINE_KIND_LABELS", "portal.billing.models", "LineKind"),
    ("portal.support.models", "TICKET_STATUS_LABELS", "portal.support.models", "TicketStatus"),
    ("portal.support.models", "TICKET_PRIORITY_LABELS", "portal.support.models", "TicketPriority"),
    ("portal.support.models", "TICKET_CATEGORY_LABELS", "portal.support.models", "TicketCategory"),
    ("portal.offers.models", "OFFER_STATUS_LABELS", "portal.offers.models", "OfferStatus"),
    ("portal.cosell.models", "DEAL_TYPE_LABELS", "portal.cosell.models", "DealType"),
    ("portal.cosell.models", "DEAL_STAGE_LABELS", "portal.cosell.models", "DealStage"),
    ("portal.onboarding.models", "STAGE_LABELS", "portal.onboarding.models", "Stage"),
    ("portal.backoffice.orders", "ORDER_KIND_LABELS", "portal.subscriptions.models", "OrderKind"),
    ("portal.accounts.models", "ORGANIZATION_STATUS_LABELS", "portal.accounts.models", "OrganizationStatus"),
    ("portal.accounts.roles", "ROLE_LABELS", "portal.accounts.roles", "Role"),
    ("portal.accounts.roles", "STAFF_ROLE_LABELS", "portal.accounts.roles", "StaffRole"),
    ("portal.subscriptions.models", "SUBSCRIPTION_STATUS_LABELS", "portal.subscriptions.models", "SubscriptionStatus"),
    ("portal.subscriptions.models", "ORDER_STATUS_LABELS", "portal.subscriptions.models", "OrderStatus"),
]


@pytest.mark.parametrize(("labels_module", "labels_name", "enum_module", "enum_name"), VOCABULARIES,
                         ids=[v[1] for v in VOCABULARIES])
def test_every_code_of_a_vocabulary_has_its_label(labels_module, labels_name, enum_module, enum_name):
    import importlib

    labels = getattr(importlib.import_module(labels_module), labels_name)
    codes = getattr(importlib.import_module(enum_module), enum_name)
    assert [code.value for code in codes if code not in labels and code.value not in labels] == []
