"""Browser: a customer opens a ticket; staff suporte finds it in the queue, takes it ("Assumir"), answers it while
keeping it in progress, finds it under "Meus" and marks it resolved; the customer sees the answer and the new
status. Every page on the way passes `check_page`."""

import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.e2e.pagecheck import PageChecks
from tests.e2e.staff_walk import flash, search, staff_nav

pytestmark = pytest.mark.e2e

CUSTOMER = "suporte@demo.example.com"
STAFF = "suporte@staff.example.com"
STAFF_NAME = "Sônia Suporte"
REPLY = "Encontramos a causa: a licença do Exchange estava sem caixa postal. Já corrigimos; confirme, por favor."


def test_staff_suporte_takes_answers_and_resolves_a_ticket(page, log_in, another_browser, mail_to, check_page,
                                                           page_watch):
    checks = PageChecks(check_page)
    subject = f"E-mails não chegam ({uuid.uuid4().hex[:6]})"

    # The customer opens the ticket, in their own browser.
    customer = another_browser()
    log_in(customer, CUSTOMER)
    customer.get_by_test_id("nav").get_by_role("link", name="Chamados").click()
    customer.get_by_role("link", name="Abrir chamado").click()
    customer.get_by_label("Categoria").select_option(label="Suporte técnico")
    customer.get_by_label("Prioridade").select_option(label="alta")
    customer.get_by_label("Assunto").fill(subject)
    customer.get_by_label("Descrição").fill("Desde hoje cedo os e-mails de fora não chegam à caixa do financeiro.")
    customer.get_by_role("button", name="Abrir chamado").click()
    expect(customer).to_have_url(re.compile(r"/chamados/\d+$"))
    ticket_id = int(customer.url.rsplit("/", 1)[1])

    # Staff suporte: the queue, the ticket, "Assumir".
    log_in(page, STAFF, totp=True)
    staff_nav(page, "Chamados")
    expect(page.get_by_role("heading", name="Chamados", level=1)).to_be_visible()
    row = page.get_by_test_id(f"ticket-row-{ticket_id}")
    expect(row).to_contain_text("Demo Tecnologia")
    checks(page)
    row.get_by_role("link", name=subject).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Chamado nº {ticket_id}: {subject}")
    expect(page.get_by_test_id("ticket-status")).to_have_text("aberto")
    expect(page.get_by_test_id("assignee")).to_have_text("sem responsável")
    checks(page)
    page.get_by_role("button", name="Assumir").click()
    flash(page, "Responsável atualizado.")
    expect(page.get_by_test_id("assignee")).to_have_text(STAFF_NAME)
    expect(page.get_by_role("button", name="Assumir")).to_have_count(0)
    checks(page)

    # The answer, keeping the ticket in progress.
    page.get_by_label("Resposta ao cliente").fill(REPLY)
    page.get_by_label("Depois de responder").select_option(label="Continuar em atendimento")
    page.get_by_role("button", name="Enviar resposta").click()
    flash(page, "Resposta enviada ao cliente.")
    expect(page.get_by_test_id("ticket-status")).to_have_text("em atendimento")
    expect(page.get_by_test_id("conversation")).to_contain_text(REPLY)
    checks(page)

    # "Meus" in the queue lists it; from there, the status changes to resolved.
    staff_nav(page, "Chamados")
    mine = search(page, checks, "tickets-table", {"Responsável": "Meus"}).and_(
        page.get_by_test_id(f"ticket-row-{ticket_id}"))
    expect(mine).to_contain_text("em atendimento")
    mine.get_by_role("link", name=subject).click()
    page.get_by_label("Nova situação").select_option(label="resolvido")
    page.get_by_role("button", name="Alterar situação").click()
    flash(page, "Situação alterada para “resolvido”. O cliente foi avisado por e-mail.")
    expect(page.get_by_test_id("ticket-status")).to_have_text("resolvido")
    checks(page)

    # The customer sees the answer and the status.
    customer.reload()
    expect(customer.get_by_test_id("ticket-status")).to_have_text("resolvido")
    expect(customer.get_by_test_id("message").filter(has_text=REPLY)).to_be_visible()
    checks(customer)
    assert f"/chamados/{ticket_id}" in mail_to(CUSTOMER).get_body(preferencelist=("plain",)).get_content()
    checks.assert_clean()
