"""Corrections never edit an issued invoice: cancel-and-reissue before the nota fiscal, or a credit note."""

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from portal.billing.corrections import cancel_and_reissue, credited_cents, issue_credit_note, reissue
from portal.billing.models import CreditEntry, FiscalDocument, Invoice, InvoiceKind, InvoiceStatus, Payment
from portal.billing.run import invoice_organization
from portal.billing.service import credit_balance
from portal.billing.settings import BillingSettings
from portal.extensions import db
from portal.integrations.fiscal import UploadOnly
from portal.shared import clock
from portal.shared.audit import Actor, AuditEvent, AuditTag
from portal.shared.errors import ServiceError
from tests import factories

APRIL_1 = date(2026, 4, 1)
REASON = "Quantidade lançada errada no mês"


@pytest.fixture
def invoice(app_ctx, world):
    """An April invoice still waiting for its nota fiscal (the real NFS-e is uploaded by staff)."""
    original = app_ctx.extensions["fiscal_issuer"]
    app_ctx.extensions["fiscal_issuer"] = UploadOnly()
    world.demo.billing_day = 1
    factories.subscription(world.demo, quantity=4, added_at=datetime(2026, 1, 5, 12, tzinfo=UTC))
    db.session.commit()
    with clock.frozen(datetime(2026, 4, 1, 9, tzinfo=UTC)):
        issued = invoice_organization(world.demo.id, on=APRIL_1, settings=settings_of(app_ctx),
                                      actor=Actor.system("tests"))
        yield issued.invoice
    app_ctx.extensions["fiscal_issuer"] = original


def settings_of(app) -> BillingSettings:
    return BillingSettings.from_config(app.config)


def finance(world) -> Actor:
    return Actor.for_user(world.staff_financeiro)


def test_cancel_and_reissue_gives_a_new_number_and_keeps_the_old(app_ctx, world, invoice):
    issued = cancel_and_reissue(invoice, reason=REASON, settings=settings_of(app_ctx), actor=finance(world))
    replacement = issued.invoice
    assert issued.created and replacement.replaces_id == invoice.id
    assert (invoice.status, invoice.cancel_reason) == (InvoiceStatus.CANCELLED, REASON)
    assert (invoice.display_number, replacement.display_number) == ("2026/000001", "2026/000002")
    assert replacement.total_cents == invoice.total_cents == 4 * 7890
    assert replacement.billing_date == APRIL_1 and replacement.boletos
    tags = set(db.session.scalars(select(AuditEvent.tag)))
    assert {AuditTag.INVOICE_CANCELLED, AuditTag.INVOICE_REISSUED} <= tags
    assert reissue(invoice, settings=settings_of(app_ctx), actor=finance(world)).invoice.id == replacement.id


def test_the_credit_a_cancelled_invoice_used_is_used_again(app_ctx, world, invoice):
    db.session.add(CreditEntry(organization_id=world.demo.id, amount_cents=1000, description="teste"))
    db.session.commit()
    first = cancel_and_reissue(invoice, reason=REASON, settings=settings_of(app_ctx), actor=finance(world)).invoice
    assert (first.credit_applied_cents, credit_balance(world.demo.id)) == (1000, 0)
    second = cancel_and_reissue(first, reason=REASON, settings=settings_of(app_ctx), actor=finance(world)).invoice
    assert second.credit_applied_cents == 1000 and second.total_cents == 4 * 7890 - 1000
    assert credit_balance(world.demo.id) == 0


@pytest.mark.parametrize("blocker", ["nota fiscal", "payment", "paid", "short reason"])
def test_what_cannot_be_cancelled(app_ctx, world, invoice, blocker):
    reason = REASON
    if blocker == "nota fiscal":
        db.session.add(FiscalDocument(invoice_id=invoice.id, number="1", verification_code="X", issued_on=APRIL_1,
                                      amount_cents=invoice.total_cents, xml="<x/>", pdf_sha256="0" * 64,
                                      simulated=False, source="upload"))
    elif blocker == "payment":
        db.session.add(Payment(invoice_id=invoice.id, amount_cents=100, method="pix", paid_on=APRIL_1,
                               source="manual"))
    elif blocker == "paid":
        invoice.status = InvoiceStatus.PAID
    else:
        reason = "errado"
    db.session.commit()
    with pytest.raises(ServiceError):
        cancel_and_reissue(invoice, reason=reason, settings=settings_of(app_ctx), actor=finance(world))
    db.session.expire_all()
    assert db.session.scalar(select(Invoice).where(Invoice.replaces_id == invoice.id)) is None


def test_a_credit_note_has_its_own_series_and_becomes_credit(app_ctx, world, invoice):
    with clock.frozen(datetime(2026, 4, 20, 12, tzinfo=UTC)):
        note = issue_credit_note(invoice, amount_cents=7890, reason="Uma licença cobrada a mais",
                                 actor=finance(world))
    assert (note.kind, note.display_number, note.total_cents) == (InvoiceKind.CREDIT_NOTE, "NC 2026/000001", -7890)
    assert note.corrects_id == invoice.id and invoice.status == InvoiceStatus.OPEN  # the invoice is untouched
    assert credit_balance(world.demo.id) == 7890 and credited_cents(invoice) == 7890
    with pytest.raises(ServiceError, match="passa do que ainda pode ser creditado") as too_much:
        issue_credit_note(invoice, amount_cents=3 * 7890 + 1, reason=REASON, actor=finance(world))
    assert too_much.value.field == "amount"
    for wrong in (0, -5, "10"):
        with pytest.raises(ServiceError):
            issue_credit_note(invoice, amount_cents=wrong, reason=REASON, actor=finance(world))
    audit = db.session.scalar(select(AuditEvent).where(AuditEvent.tag == AuditTag.CREDIT_NOTE_ISSUED))
    assert audit.after["corrects"] == "2026/000001" and audit.after["amount_cents"] == 7890
