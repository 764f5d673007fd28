"""Review before issuing (issue 16 point 8, BILLING_REVIEW=true): the run makes drafts (no number, boleto, Pix,
nota fiscal or e-mail; customers never see them), finance corrects and approves them, approval issues once, and a
draft late for approval is flagged to finance once."""

import dataclasses
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from portal.billing import fiscal, review, run
from portal.billing.jobs import flag_late_drafts
from portal.billing.models import (
    Boleto,
    CreditEntry,
    Invoice,
    InvoiceDraft,
    InvoiceDraftStatus,
    InvoiceSeries,
    InvoiceStatus,
    LineKind,
)
from portal.billing.settings import BillingSettings
from portal.extensions import db
from portal.notifications.models import EmailDelivery
from portal.shared import clock
from portal.shared.audit import Actor, AuditEvent, AuditTag, verify
from portal.shared.errors import ServiceError
from portal.subscriptions import service as subscriptions
from portal.subscriptions.models import Subscription
from tests import factories
from tests.billing.routes_review import make_draft
from tests.fakes.concurrency import concurrently
from tests.html import alerts, field_errors, input_value, section, shown, text, visible

SYSTEM = Actor.system("tests")
APRIL_1 = date(2026, 4, 1)
DUE = date(2026, 4, 13)  # April 1 + 10 days is a Saturday → Monday the 13th


def at(day: date, hour: int = 15) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


@pytest.fixture(autouse=True)
def queued(monkeypatch):
    """The documents (PDFs → NFS-e → e-mail) and the Pix each issued invoice would have queued."""
    found = []
    monkeypatch.setattr(run, "_queue_documents", lambda invoice: found.append(invoice.id))
    return found


@pytest.fixture
def settings(app_ctx):
    return dataclasses.replace(BillingSettings.from_config(app_ctx.config), review=True)


@pytest.fixture
def review_on(app_ctx, monkeypatch):
    monkeypatch.setitem(app_ctx.config, "BILLING_REVIEW", True)


@pytest.fixture
def demo(app_ctx, world):
    world.demo.billing_day = 1
    world.demo.microsoft_tenant_id = "tenant-demo"
    db.session.commit()
    factories.subscription(world.demo, quantity=10, added_at=at(date(2026, 1, 1)))
    return world.demo


def drafted(settings) -> InvoiceDraft:
    with clock.frozen(at(APRIL_1, 9)):
        result = run.run_billing(on=APRIL_1, settings=settings, actor=SYSTEM)
    [draft_id] = result.drafted
    db.session.expire_all()
    return db.session.get(InvoiceDraft, draft_id)


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


# ---------------------------------------------------------------- the run

def test_without_review_the_run_issues_as_before(app_ctx, demo, queued):
    settings = BillingSettings.from_config(app_ctx.config)
    assert settings.review is False and settings.review_lead_days == 3  # the defaults
    with clock.frozen(at(APRIL_1, 9)):
        result = run.run_billing(on=APRIL_1, settings=settings, actor=SYSTEM)
    assert len(result.issued) == 1 and result.drafted == [] and count(InvoiceDraft) == 0
    assert queued == result.issued


def test_with_review_the_run_makes_a_draft_and_issues_nothing(demo, settings, queued):
    draft = drafted(settings)
    assert (draft.organization_id, draft.status, draft.billing_date, draft.due_date) == (
        demo.id, InvoiceDraftStatus.PENDING, APRIL_1, DUE)
    assert [(line.kind, line.quantity, line.unit_price_cents, line.amount_cents) for line in draft.lines] == [
        ("recurring", 10, 7890, 78900)]
    assert (draft.subtotal_cents, draft.credit_cents, draft.total_cents) == (78900, 0, 78900)
    # No number taken (the series does not even exist yet), no boleto, no Pix, no documents, no e-mail.
    assert count(Invoice) == 0 and count(InvoiceSeries) == 0 and count(Boleto) == 0
    assert queued == [] and count(EmailDelivery) == 0
    # Running the day again finds the draft: nothing twice.
    with clock.frozen(at(APRIL_1, 10)):
        again = run.run_billing(on=APRIL_1, settings=settings, actor=SYSTEM, batch_size=1)
    assert (again.drafted, again.existing) == ([], 1) and count(InvoiceDraft) == 1


def test_a_day_already_invoiced_is_not_drafted(app_ctx, demo, settings):
    with clock.frozen(at(APRIL_1, 9)):
        run.run_billing(on=APRIL_1, settings=dataclasses.replace(settings, review=False), actor=SYSTEM)
        result = run.run_billing(on=APRIL_1, settings=settings, actor=SYSTEM)
    assert (result.drafted, result.existing) == ([], 1) and count(InvoiceDraft) == 0


# ---------------------------------------------------------------- approval

def test_approval_issues_the_invoice_with_the_next_number_its_boleto_and_documents(demo, settings, queued, world):
    draft = drafted(settings)
    with clock.frozen(at(date(2026, 4, 2))):
        review.edit_line(draft.id, draft.lines[0].id, description="Microsoft 365 (contrato 42)",
                         actor=Actor.for_user(world.staff_financeiro))
        outcome = review.approve(draft.id, settings=settings, actor=Actor.for_user(world.staff_financeiro))
    assert outcome.created
    invoice = db.session.get(Invoice, outcome.invoice_id)
    assert invoice.display_number == "2026/000001" and invoice.status == InvoiceStatus.OPEN
    assert (invoice.billing_date, invoice.due_date, invoice.total_cents) == (APRIL_1, DUE, 78900)
    assert [line.description for line in invoice.lines] == ["Microsoft 365 (contrato 42)"]
    [boleto] = invoice.boletos
    assert (boleto.amount_cents, boleto.due_date) == (78900, DUE)
    assert queued == [invoice.id]  # the Pix and the documents (PDFs → NFS-e → e-mail), as issuing queues them
    db.session.expire_all()
    draft = db.session.get(InvoiceDraft, draft.id)
    assert (draft.status, draft.invoice_id, draft.approved_by_id) == (
        InvoiceDraftStatus.APPROVED, invoice.id, world.staff_financeiro.id)
    tags = db.session.scalars(select(AuditEvent.tag).order_by(AuditEvent.seq)).all()
    assert [t for t in tags if t.startswith("billing:")] == [
        AuditTag.INVOICE_DRAFT_LINE_EDITED, AuditTag.INVOICE_ISSUED, AuditTag.INVOICE_DRAFT_APPROVED]
    # Approved drafts cannot be changed any more.
    with pytest.raises(ServiceError):
        review.edit_line(draft.id, draft.lines[0].id, description="outra", actor=SYSTEM)
    with pytest.raises(ServiceError):
        review.add_discount(draft.id, amount_cents=100, reason="x", actor=SYSTEM)


def test_approving_twice_issues_once(demo, settings, queued):
    draft = drafted(settings)
    first = review.approve(draft.id, settings=settings, actor=SYSTEM)
    second = review.approve(draft.id, settings=settings, actor=SYSTEM)
    assert first.created and not second.created and first.invoice_id == second.invoice_id
    assert count(Invoice) == 1 and count(Boleto) == 1 and queued == [first.invoice_id]
    assert db.session.scalar(select(InvoiceSeries.last_number)) == 1


def test_numbers_are_taken_in_approval_order_and_stay_gapless(app_ctx, settings, world):
    first = make_draft(world.demo, billing_date=APRIL_1)
    second = make_draft(world.other, billing_date=APRIL_1)
    later = review.approve(second.id, settings=settings, actor=SYSTEM)
    sooner = review.approve(first.id, settings=settings, actor=SYSTEM)
    numbers = {db.session.get(Invoice, o.invoice_id).number for o in (later, sooner)}
    assert db.session.get(Invoice, later.invoice_id).number == 1 and numbers == {1, 2}


def test_a_draft_whose_day_was_invoiced_meanwhile_is_refused_clearly(demo, settings):
    draft = drafted(settings)
    with clock.frozen(at(APRIL_1, 11)):  # issued without review (review switched off) for the same day
        run.invoice_organization(demo.id, on=APRIL_1, settings=settings, actor=SYSTEM)
    with pytest.raises(ServiceError) as info:
        review.approve(draft.id, settings=settings, actor=SYSTEM)
    assert "Já existe uma fatura" in info.value.message
    assert count(Invoice) == 1


def test_concurrent_approvals_issue_one_invoice(make_app, engine_name, monkeypatch):
    monkeypatch.setattr(run, "_queue_documents", lambda invoice: None)
    app = make_app(engine_name)
    with app.app_context():
        organizations = [factories.OrganizationFactory(billing_day=1) for _ in range(2)]
        drafts = [make_draft(organization, billing_date=APRIL_1).id for organization in organizations]
        settings = dataclasses.replace(BillingSettings.from_config(app.config), review=True)

    def approve(index):
        with app.app_context():
            return review.approve(drafts[index % 2], settings=settings, actor=SYSTEM)

    with clock.frozen(at(APRIL_1)):
        results, errors = concurrently(6, approve)
    assert not errors, errors
    assert sum(outcome.created for outcome in results) == 2  # each draft issued once
    assert len({outcome.invoice_id for outcome in results}) == 2
    with app.app_context():
        assert sorted(db.session.scalars(select(Invoice.number))) == [1, 2]
        assert db.session.scalar(select(func.count(Boleto.id))) == 2
        issued = db.session.scalar(select(func.count(AuditEvent.seq)).where(AuditEvent.tag == AuditTag.INVOICE_ISSUED))
        assert issued == 2 and verify().ok


# ---------------------------------------------------------------- corrections

def test_a_discount_needs_a_reason_lowers_the_total_never_below_zero_and_is_audited(app_ctx, settings, world):
    draft = make_draft(world.demo, billing_date=APRIL_1, credit_cents=50000)
    assert (draft.subtotal_cents, draft.credit_cents, draft.total_cents) == (78900, 50000, 28900)
    with pytest.raises(ServiceError) as info:
        review.add_discount(draft.id, amount_cents=1000, reason="  ", actor=SYSTEM)
    assert info.value.field == "reason"
    with pytest.raises(ServiceError) as info:
        review.add_discount(draft.id, amount_cents=78901, reason="cortesia", actor=SYSTEM)
    assert info.value.field == "amount" and "R$ 789,00" in info.value.message
    review.add_discount(draft.id, amount_cents=38900, reason="Licenças sem uso em março", actor=SYSTEM)
    db.session.expire_all()
    draft = db.session.get(InvoiceDraft, draft.id)
    # The credit applies to what is left (never more than the subtotal): the total stays ≥ 0.
    assert (draft.subtotal_cents, draft.credit_cents, draft.total_cents) == (40000, 40000, 0)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.tag == AuditTag.INVOICE_DRAFT_DISCOUNTED))
    assert event.after == {"amount_cents": 38900, "reason": "Licenças sem uso em março", "subtotal_cents": 40000}
    db.session.add(CreditEntry(organization_id=world.demo.id, amount_cents=50000, description="crédito"))
    db.session.commit()
    outcome = review.approve(draft.id, settings=settings, actor=SYSTEM)
    invoice = db.session.get(Invoice, outcome.invoice_id)
    assert [(line.kind, line.amount_cents) for line in invoice.lines] == [
        (LineKind.RECURRING, 78900), (LineKind.ADJUSTMENT, -38900), (LineKind.CREDIT, -40000)]
    assert (invoice.subtotal_cents, invoice.credit_applied_cents, invoice.total_cents, invoice.status) == (
        40000, 40000, 0, InvoiceStatus.PAID)
    assert invoice.boletos == []
    # On the NFS-e the discount is a discount like the credit: gross R$ 789,00 = net 0 + 400,00 + 389,00.
    request = fiscal.fiscal_request(invoice, settings)
    assert (request.amount_cents, request.discount_cents) == (0, 78900)


def test_approval_never_applies_more_credit_than_the_ledger_still_has(app_ctx, settings, world):
    draft = make_draft(world.demo, billing_date=APRIL_1, credit_cents=50000)
    db.session.add(CreditEntry(organization_id=world.demo.id, amount_cents=20000, description="crédito"))
    db.session.commit()
    invoice = db.session.get(Invoice, review.approve(draft.id, settings=settings, actor=SYSTEM).invoice_id)
    assert (invoice.credit_applied_cents, invoice.total_cents) == (20000, 58900)


# ---------------------------------------------------------------- late drafts

def test_a_late_draft_is_flagged_to_finance_once(app_ctx, world, review_on):
    draft = make_draft(world.demo, billing_date=APRIL_1, due_date=DUE)
    with clock.frozen(at(DUE - timedelta(days=4))):
        assert flag_late_drafts.call_local() == 0
    with clock.frozen(at(DUE - timedelta(days=3))):  # BILLING_REVIEW_LEAD_DAYS = 3
        assert flag_late_drafts.call_local() == 1
        assert flag_late_drafts.call_local() == 0  # once per draft
    [email] = db.session.scalars(select(EmailDelivery).where(EmailDelivery.template == "invoice_drafts_late")).all()
    assert email.to_address == world.staff_financeiro.email
    assert "Demo Tecnologia" in email.body_text and "R$ 789,00" in email.body_text
    assert f"http://portal.test/backoffice/faturas/rascunhos/{draft.id}" in email.body_text
    assert db.session.get(InvoiceDraft, draft.id).flagged_at is not None
    assert not review.is_late(draft, DUE - timedelta(days=4), 3) and review.is_late(draft, DUE - timedelta(days=3), 3)


# ---------------------------------------------------------------- customers never see drafts

CUSTOMER_INVOICE_ROUTES = ["/faturas/{id}", "/faturas/{id}/fatura.pdf", "/faturas/{id}/boleto.pdf",
                           "/faturas/{id}/boletos/{id}.pdf", "/faturas/{id}/nota-fiscal.pdf",
                           "/faturas/{id}/nota-fiscal.xml", "/faturas/{id}/segunda-via"]


def test_customers_never_see_a_draft(app_ctx, world, login_as, review_on):
    with clock.frozen(at(APRIL_1)):
        draft = make_draft(world.demo, billing_date=APRIL_1, lines=[(7, 12345)])  # R$ 864,15
        for role in ("master", "cobranca"):
            client = login_as(role)
            for route in CUSTOMER_INVOICE_ROUTES:
                assert client.get(route.format(id=draft.id)).status_code == 404, route
            assert client.post(f"/faturas/{draft.id}/segunda-via").status_code == 404
            listing = client.get("/faturas")
            assert listing.status_code == 200 and "864,15" not in text(listing)
            home = client.get("/")
            assert home.status_code == 200 and "864,15" not in text(home)
            assert "rascunho" not in visible(listing).lower() and "rascunho" not in visible(home).lower()


# ---------------------------------------------------------------- the backoffice pages

def test_finance_corrects_and_approves_a_draft_in_the_backoffice(app_ctx, world, login_as, review_on, queued):
    with clock.frozen(at(APRIL_1)):
        draft = make_draft(world.demo, billing_date=APRIL_1, due_date=APRIL_1 + timedelta(days=2))
        client = login_as("staff_financeiro")
        page = shown(client.get("/backoffice/faturas/rascunhos"))
        assert "Demo Tecnologia" in section(page, "drafts") and "atrasado para aprovação" in section(page, "drafts")
        line = draft.lines[0]
        refused = client.post(f"/backoffice/faturas/rascunhos/{draft.id}/linhas/{line.id}",
                              data={f"line-{line.id}-description": "   "})
        assert refused.status_code == 422 and field_errors(refused)
        refused = client.post(f"/backoffice/faturas/rascunhos/{draft.id}/desconto",
                              data={"discount-amount": "10,00", "discount-reason": ""})
        assert refused.status_code == 422 and input_value(refused, "discount-amount") == "10,00"
        refused = client.post(f"/backoffice/faturas/rascunhos/{draft.id}/desconto",
                              data={"discount-amount": "1.000,00", "discount-reason": "cortesia"})
        assert refused.status_code == 422 and any("subtotal" in e for e in field_errors(refused))
        done = client.post(f"/backoffice/faturas/rascunhos/{draft.id}/desconto",
                           data={"discount-amount": "89,00", "discount-reason": "cortesia do mês"})
        assert done.status_code == 302
        page = shown(client.get(f"/backoffice/faturas/rascunhos/{draft.id}"))
        assert section(page, "draft-total") == "R$ 700,00" and "cortesia do mês" in page
        approved = client.post(f"/backoffice/faturas/rascunhos/{draft.id}/aprovar")
        assert approved.status_code == 302
        invoice = db.session.scalar(select(Invoice))
        assert approved.headers["Location"].endswith(f"/backoffice/faturas/{invoice.id}")
        assert (invoice.display_number, invoice.total_cents) == ("2026/000001", 70000)
        again = client.post(f"/backoffice/faturas/rascunhos/{draft.id}/aprovar")
        assert "já tinha sido aprovado" in " ".join(alerts(client.get(again.headers["Location"])))
        assert count(Invoice) == 1
        assert "Nenhum rascunho" in shown(client.get("/backoffice/faturas/rascunhos"))


def test_approving_several_asks_for_a_confirmation_first(app_ctx, world, login_as, review_on, queued):
    with clock.frozen(at(APRIL_1)):
        drafts = [make_draft(world.demo, billing_date=APRIL_1), make_draft(world.other, billing_date=APRIL_1)]
        client = login_as("staff_financeiro")
        ids = [str(d.id) for d in drafts]
        confirm = client.post("/backoffice/faturas/rascunhos/aprovar", data={"draft": ids})
        assert confirm.status_code == 200 and "Aprovar 2 rascunhos, total R$ 1.578,00" in section(confirm,
                                                                                                  "approve-confirm")
        assert count(Invoice) == 0  # nothing yet
        assert client.post("/backoffice/faturas/rascunhos/aprovar", data={"draft": ["x"]}).status_code == 302
        done = client.post("/backoffice/faturas/rascunhos/aprovar", data={"draft": ids, "confirm": "1"})
        assert done.status_code == 302
        assert "2 faturas emitidas." in alerts(client.get(done.headers["Location"]))
        assert sorted(db.session.scalars(select(Invoice.number))) == [1, 2] and len(queued) == 2


def test_a_draft_of_nobody_is_404(app_ctx, login_as, world):
    client = login_as("staff_financeiro")
    assert client.get("/backoffice/faturas/rascunhos/999999").status_code == 404
    assert client.post("/backoffice/faturas/rascunhos/999999/aprovar").status_code == 404
    draft = make_draft(world.demo)
    assert client.post(f"/backoffice/faturas/rascunhos/{draft.id}/linhas/999999").status_code == 404


def test_the_backoffice_billing_run_makes_drafts_with_review_on(demo, login_as, review_on, queued):
    client = login_as("staff_financeiro")
    with clock.frozen(at(APRIL_1, 9)):
        confirm = client.post("/backoffice/faturamento", data={"day": "01/04/2026"})
        assert "são criados rascunhos" in section(confirm, "run-confirm")
        done = client.post("/backoffice/faturamento", data={"day": "01/04/2026", "confirm": "1"})
    assert "1 rascunho para revisão" in section(done, "run-result")
    assert count(Invoice) == 0 and count(InvoiceDraft) == 1 and queued == []


def test_a_change_on_a_pending_draft_is_not_drafted_again_the_next_month(app_ctx, world, settings):
    world.demo.billing_day = 1
    world.demo.microsoft_tenant_id = "tenant-demo"
    db.session.commit()
    with clock.frozen(at(date(2026, 3, 11))):
        subscription = factories.subscription(world.demo, quantity=10, added_at=at(date(2026, 1, 1)))
        actor = Actor.for_user(world.adm)
        quote = subscriptions.quote_quantity_change(organization=world.demo, subscription=subscription,
                                                    new_quantity=13, actor=actor)
        subscriptions.confirm_quote(organization=world.demo, token=quote.token, actor=actor)
    april = drafted(settings)
    assert [line.kind for line in april.lines] == ["recurring", "prorata"]
    may_1 = date(2026, 5, 1)
    with clock.frozen(at(may_1, 9)):
        [may_id] = run.run_billing(on=may_1, settings=settings, actor=SYSTEM).drafted
    may = db.session.get(InvoiceDraft, may_id)
    assert [(line.kind, line.quantity) for line in may.lines] == [("recurring", 13)]  # the +3 is April's, once


def test_the_purchase_order_and_cost_centre_go_from_the_draft_to_the_invoice(demo, settings):
    """A subscription's PO and cost centre reach the invoice's lines through the review as through direct issuing."""
    subscription = db.session.scalars(select(Subscription).where(Subscription.organization_id == demo.id)).one()
    subscription.purchase_order, subscription.cost_centre = "4500012345", "TI-SP"
    db.session.commit()
    draft = drafted(settings)
    assert (draft.lines[0].purchase_order, draft.lines[0].cost_centre) == ("4500012345", "TI-SP")
    with clock.frozen(at(date(2026, 4, 2))):
        outcome = review.approve(draft.id, settings=settings, actor=SYSTEM)
    [line] = db.session.get(Invoice, outcome.invoice_id).lines
    assert (line.purchase_order, line.cost_centre) == ("4500012345", "TI-SP")
