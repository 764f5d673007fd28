"""Browser: the home ("Início") of each role of the demo organization, as loaded by the demo data — the Master's
four cards, the Cobrança's invoices ("copiar Pix" copies the invoice's Pix, "baixar boleto", the spend chart's
table and CSV), the Adm's licences, renewals and orders, the Suporte's open ticket with its SLA."""

import re
from datetime import timedelta

import pytest
from flask import current_app
from playwright.sync_api import expect
from sqlalchemy import select

from portal.accounts.models import Membership, Organization, User
from portal.billing import documents
from portal.billing.lines import existing_invoice
from portal.billing.models import Invoice, InvoiceStatus
from portal.billing.run import invoice_organization
from portal.billing.settings import BillingSettings
from portal.extensions import db
from portal.home import service
from portal.shared import clock
from portal.shared.audit import Actor
from portal.shared.formatting import format_money
from tests.e2e.pagecheck import PageChecks

pytestmark = pytest.mark.e2e

DEMO = "@demo.example.com"
CARDS = ("home-billing", "home-spend", "home-licences", "home-tickets")


def _organization(email: str) -> Organization:
    return db.session.scalar(select(Organization).join(Membership).join(User).where(User.email == email))


def payable_invoice(app) -> dict:
    """The demo organization's open invoice whose boleto can still be paid (the demo's last one, unless another test
    paid it: then one issued now), with its Pix; and the next invoice's estimate as the billing rules draft it."""
    with app.app_context():
        organization = _organization("cobranca" + DEMO)
        settings = BillingSettings.from_config(current_app.config)
        today = clock.today()
        payable = [i for i in db.session.scalars(
            select(Invoice).where(Invoice.organization_id == organization.id, Invoice.status == InvoiceStatus.OPEN)
            .order_by(Invoice.due_date)) if i.current_boleto is not None and i.current_boleto.due_date >= today]
        if not payable:
            day = today
            while existing_invoice(organization.id, day) is not None:
                day -= timedelta(days=1)
            payable = [invoice_organization(organization.id, on=day, settings=settings,
                                            actor=Actor.system("e2e")).invoice]
        found = payable[0]
        documents.ensure_invoice_documents(found, settings=settings, actor=Actor.system("e2e"))
        found = db.session.get(Invoice, found.id)
        facts = {"id": found.id, "number": found.display_number, "pix": found.current_boleto.pix_payload,
                 "next": format_money(service.next_invoice(organization, today).total_cents),
                 "spend": format_money(service.spend_last_12_months(organization.id, today).total_cents)}
        db.session.remove()
        return facts


def test_master_sees_every_card_and_the_shortcuts(page, log_in, live_server, check_page):
    checks = PageChecks(check_page)
    log_in(page, "master" + DEMO)
    expect(page.get_by_role("heading", level=1)).to_have_text("Demo Tecnologia")
    for card in CARDS:
        expect(page.get_by_test_id(card)).to_be_visible()
    expect(page.get_by_role("heading", name="Atalhos")).to_be_visible()
    expect(page.get_by_test_id("home-shortcuts").get_by_role("link", name="Gerenciar usuários")).to_be_visible()
    # The charts are drawn (Chart.js sizes the canvas) and their numbers are on the page as tables.
    for chart in ("home-spend-chart", "home-licences-chart"):
        expect(page.locator(f"#{chart}")).to_have_attribute("style", re.compile("height"))
    expect(page.get_by_test_id("home-spend-table")).to_be_visible()
    expect(page.get_by_test_id("home-licences-table")).to_be_visible()
    checks(page)
    checks.assert_clean()


def test_cobranca_copies_the_pix_and_reads_the_spend(page, context, log_in, live_server, check_page):
    checks = PageChecks(check_page)
    invoice = payable_invoice(live_server.app)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    log_in(page, "cobranca" + DEMO)
    expect(page.get_by_test_id("home-billing")).to_be_visible()
    expect(page.get_by_test_id("home-spend")).to_be_visible()
    for card in ("home-licences", "home-tickets"):
        expect(page.get_by_test_id(card)).to_have_count(0)
    expect(page.get_by_test_id("next-invoice")).to_contain_text(invoice["next"])
    expect(page.get_by_test_id("recurring-monthly")).to_contain_text(re.compile(r"R\$ [\d.]+,\d\d por mês"))
    overdue = page.get_by_test_id("home-invoice").filter(has=page.get_by_test_id("home-invoice-status")
                                                         .filter(has_text="vencida"))
    expect(overdue.first.get_by_role("link", name=re.compile("Emitir 2ª via"))).to_be_visible()

    row = page.get_by_test_id("home-invoice").filter(has_text=invoice["number"])
    copy = row.get_by_role("button", name=f"Copiar Pix da fatura {invoice['number']}")
    expect(copy).to_be_visible()
    copy.click()
    expect(row.locator(f'[data-copy="home-pix-{invoice["id"]}"]')).to_have_text("Copiado!")  # for two seconds
    assert page.evaluate("() => navigator.clipboard.readText()") == invoice["pix"]
    with page.expect_download() as started:
        row.get_by_role("link", name=f"Baixar boleto da fatura {invoice['number']}").click()
    assert started.value.suggested_filename.startswith("boleto-")

    table = page.get_by_test_id("home-spend-table")
    expect(table).to_be_visible()
    expect(table.get_by_role("columnheader", name="Microsoft 365")).to_be_visible()
    expect(table.get_by_role("columnheader", name="Segurança")).to_be_visible()
    expect(table.locator("tbody tr")).to_have_count(12)
    expect(page.get_by_test_id("home-spend-total")).to_have_text(invoice["spend"])
    with page.expect_download() as started:
        page.get_by_test_id("home-spend-csv").click()
    with open(started.value.path(), encoding="utf-8-sig") as saved:
        rows = [line.split(";") for line in saved.read().splitlines()]
    assert rows[0][:3] == ["Mês", "Microsoft 365", "Segurança"] and len(rows) == 14
    assert rows[-1][-1] == re.sub(r"[^\d,]", "", invoice["spend"])  # "R$ 12.508,79" → "12508,79"
    checks(page)
    checks.assert_clean()


def test_adm_sees_licences_renewals_and_orders_only(page, log_in, live_server, check_page):
    checks = PageChecks(check_page)
    log_in(page, "adm" + DEMO)
    card = page.get_by_test_id("home-licences")
    expect(card).to_be_visible()
    for other in ("home-billing", "home-spend", "home-tickets"):
        expect(page.get_by_test_id(other)).to_have_count(0)
    expect(page.get_by_test_id("home-licences-table").get_by_role("rowheader", name="Backup em Nuvem")).to_be_visible()
    # The demo's renewals ("Renovações" rows): Entra ID P1 first (about 25 days), then Defender with the change
    # scheduled for its next term (15 → 12 licences at R$ 12,00).
    renewals = page.get_by_test_id("home-renewal")
    expect(renewals.first).to_contain_text("Microsoft Entra ID P1")
    expect(renewals.filter(has_text="Microsoft Defender for Office 365 (Plano 1)")).to_contain_text(
        re.compile(r"renova em \d\d/\d\d/\d{4}:\s+12 licenças, R\$ 144,00 por mês\s+· decidir até"))
    order = page.get_by_test_id("home-order").filter(has_text="Backup em Nuvem 100 GB")
    expect(order).to_be_visible()
    checks(page)
    order.get_by_role("link", name=re.compile(r"Pedido nº \d+")).click()
    expect(page).to_have_url(re.compile(r"/pedidos/\d+$"))
    checks.assert_clean()


def test_suporte_sees_the_open_ticket_and_its_sla(page, log_in, live_server, check_page):
    checks = PageChecks(check_page)
    log_in(page, "suporte" + DEMO)
    card = page.get_by_test_id("home-tickets")
    expect(card).to_be_visible()
    for other in ("home-billing", "home-spend", "home-licences"):
        expect(page.get_by_test_id(other)).to_have_count(0)
    ticket = page.get_by_test_id("home-ticket").filter(has_text="Outlook pede a senha a cada hora")
    expect(ticket.get_by_test_id("home-ticket-first")).to_contain_text("1ª resposta: 1 h (meta 8 h) — no prazo")
    expect(ticket.get_by_test_id("home-ticket-resolution")).to_contain_text("Resolução: em aberto há")
    checks(page)
    ticket.get_by_role("link", name=re.compile("Outlook pede a senha")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Outlook pede a senha a cada hora")
    checks.assert_clean()
