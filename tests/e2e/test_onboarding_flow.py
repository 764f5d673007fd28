"""Browser (issue 13, points 1, 2, 8 and 20): the onboarding pipeline walked by the staff who do each step, from
a new opportunity to "Ativa", submitting only the forms the pages render.

Comercial creates the opportunity, fills its data (with a new Microsoft tenant to create), adds a product,
advances it by clicking "Avançar" (point 1: the button answered "Escolha a etapa seguinte." for every
opportunity), sends the contract to the e-signature simulator and signs it there (the signed PDF carries the
evidence page, point 8), then takes it to the financeiro approval. Financeiro approves: the tenant is created at
the (simulated) Partner Center and the Microsoft order waits for the customer's Master to accept the agreement
(point 2). Suporte is told the implantação cannot be concluded while that order is open; the new Master opens the
invitation, accepts the agreement, the order goes, and suporte concludes the implantação: "Ativa".
Every page visited is checked (tests/e2e/pagecheck.py).
"""

import random
import re
import secrets
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from portal.shared import clock
from tests import factories
from tests.fakes.pdf import flat, pdf_text

pytestmark = pytest.mark.e2e

PASSWORD = "Contrato-Assinado-2027!"  # noqa: S105 - a throwaway password for a throwaway customer
PRODUCT = "Microsoft 365 Business Basic"


def _stage(page):
    return page.get_by_test_id("opportunity-stage")


def _advance(page, check_page, *stages: str) -> None:
    """Click the "Avançar para …" button the page renders, once per stage, and land on that stage."""
    for stage in stages:
        page.get_by_role("button", name=f"Avançar para “{stage}”").click()
        expect(page.get_by_role("status").filter(has_text=f"Oportunidade em “{stage}”")).to_be_visible()
        expect(_stage(page)).to_have_text(stage)
        check_page(page)


def test_an_opportunity_goes_from_presentation_to_active(page, log_in, another_browser, mail_to, unique_email,
                                                         check_page, live_server):
    company = f"Acme Nuvem {secrets.token_hex(3)}"
    contact_email = unique_email("rita")
    tenant_prefix = f"acme{secrets.token_hex(6)}"
    first_payment = clock.today() + timedelta(days=31)

    # Comercial: a new opportunity from the pipeline's page.
    log_in(page, "comercial@staff.example.com", totp=True)
    page.goto("/backoffice/contratacao")
    check_page(page)
    page.get_by_role("link", name="Nova oportunidade").click()
    check_page(page)
    page.get_by_label("Empresa").fill(company)
    page.get_by_role("button", name="Criar oportunidade").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(company)
    expect(_stage(page)).to_have_text("Apresentação")
    check_page(page)
    opportunity_url = page.url

    # Its data, as the form renders it: contact, registration, billing and the customer's Microsoft tenant.
    data = page.get_by_test_id("data-form")
    for label, value in (("Responsável", "Rita Responsável"), ("Telefone", "(11) 98888-7777"),
                         ("E-mail", contact_email),
                         ("CNPJ", factories.valid_cnpj(root=random.randrange(10_000_000, 99_999_999))),
                         ("Razão social", f"{company} Ltda"), ("Logradouro", "Rua das Flores"),
                         ("Número", "10"), ("Bairro", "Centro"), ("Cidade", "São Paulo"), ("CEP", "01001-000"),
                         ("Dia de faturamento", "10"), ("ID do tenant ou domínio", "nome com espaço")):
        data.get_by_label(label, exact=True).fill(value)
    data.get_by_label("UF", exact=True).select_option("SP")
    data.get_by_label("Data da 1ª mensalidade").fill(first_payment.isoformat())
    data.get_by_label("Tenant Microsoft do cliente").select_option(label="Criar um novo tenant na Microsoft")
    page.get_by_role("button", name="Salvar dados").click()
    # A tenant that cannot be one is refused on its field, the rest of the input kept.
    expect(data.get_by_label("ID do tenant ou domínio", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_text("só com letras e números")).to_be_visible()
    expect(data.get_by_label("Razão social", exact=True)).to_have_value(f"{company} Ltda")
    check_page(page)
    data.get_by_label("ID do tenant ou domínio", exact=True).fill(tenant_prefix)
    page.get_by_role("button", name="Salvar dados").click()
    expect(page.get_by_role("status").filter(has_text="Dados salvos.")).to_be_visible()
    expect(data.get_by_label("ID do tenant ou domínio", exact=True)).to_have_value(
        f"{tenant_prefix}.onmicrosoft.com")
    check_page(page)

    # The proposal's product.
    items = page.get_by_test_id("item-form")
    product = items.get_by_label("Produto")
    # (the demo also sells its monthly-term sibling, "… Business Basic (termo mensal)")
    product.select_option(product.locator("option", has_text=PRODUCT).filter(has_not_text="termo mensal")
                          .get_attribute("value"))
    items.get_by_label("Quantidade").fill("5")
    page.get_by_role("button", name="Incluir ou alterar quantidade").click()
    expect(page.get_by_test_id("items")).to_contain_text(PRODUCT)
    check_page(page)

    # Point 1: "Avançar" moves the opportunity, one stage per click.
    _advance(page, check_page, "Levantamento", "Oportunidade registrada", "Proposta", "Negociação")
    expect(page.get_by_test_id("documents")).to_contain_text("Proposta comercial (PDF)")

    # The contract goes to e-signature; the simulator stands for the signers.
    expect(page.get_by_test_id("ready")).to_be_visible()
    page.get_by_role("button", name="Enviar contrato para assinatura").click()
    expect(_stage(page)).to_have_text("Contrato enviado")
    check_page(page)
    page.get_by_role("button", name="Simular assinatura de todos (simulador)").click()
    expect(page.get_by_role("status").filter(has_text="Contrato assinado por todos")).to_be_visible()
    expect(_stage(page)).to_have_text("Contrato assinado")
    check_page(page)

    # Point 8: the signed contract is not the contract sent; it ends with the evidence page.
    sent = page.request.get(page.get_by_role("link", name="Contrato enviado (PDF)").get_attribute("href"))
    signed = page.request.get(page.get_by_role("link", name="Contrato assinado (PDF)").get_attribute("href"))
    assert sent.ok and signed.ok and signed.body() != sent.body()
    evidence = flat(pdf_text(signed.body()))
    assert "SIMULAÇÃO" in evidence and contact_email in evidence and "Rita Responsável" in evidence
    assert "comercial@staff.example.com" in evidence

    _advance(page, check_page, "Ganha", "Revisão (dados cadastrais)", "Aprovação (financeiro)")
    expect(page.get_by_role("button", name="Aprovar e criar o cliente")).to_have_count(0)  # financeiro's
    expect(page.get_by_text("Aguardando a aprovação do financeiro.")).to_be_visible()

    # Financeiro approves: the new tenant is created at Partner Center (simulated), the customer and its order.
    financeiro = another_browser()
    log_in(financeiro, "financeiro@staff.example.com", totp=True)
    financeiro.goto(opportunity_url)
    check_page(financeiro)
    financeiro.get_by_role("button", name="Aprovar e criar o cliente").click()
    expect(financeiro.get_by_role("status").filter(has_text="Aprovada: organização")).to_be_visible()
    expect(financeiro.get_by_role("status").filter(has_text="aguardam o aceite do contrato")).to_be_visible()
    expect(_stage(financeiro)).to_have_text("Implantação")  # the handover card went to Teams (simulated)
    customer = financeiro.get_by_test_id("customer")
    expect(customer.get_by_test_id("tenant")).to_contain_text(f"{tenant_prefix}.onmicrosoft.com")
    expect(customer).to_contain_text("aguardando o aceite do contrato pelo Master")
    expect(financeiro.get_by_test_id("events")).to_contain_text("Novo tenant Microsoft criado no Partner Center")
    check_page(financeiro)

    # Suporte, in the implantação queue: the card, and the refusal while the order waits.
    suporte = another_browser()
    log_in(suporte, "suporte@staff.example.com", totp=True)
    suporte.goto("/backoffice/contratacao/implantacao")
    check_page(suporte)
    card = suporte.get_by_test_id("handover-card").filter(has_text=f"{company} Ltda - Rita Responsável")
    expect(card).to_contain_text(first_payment.strftime("%d/%m/%Y"))
    card.get_by_label("O que foi feito (opcional)").fill("Tenant configurado, usuários criados.")
    card.get_by_role("button", name="Implantação concluída").click()
    expect(suporte.get_by_test_id("action-error")).to_contain_text("pedido de licenças não concluído")
    expect(_stage(suporte)).to_have_text("Implantação")
    expect(suporte.get_by_test_id("unfinished-orders")).to_contain_text("aguardando o aceite do contrato")
    check_page(suporte)

    # The customer's Master: the invitation from the e-mail, then the agreement.
    text = mail_to(contact_email).get_body(preferencelist=("plain",)).get_content()
    link = re.search(r"https?://\S+/convite/[\w.\-~]+", text)
    assert link, text
    master = another_browser()
    master.goto(urlsplit(link.group(0)).path)
    check_page(master)
    master.get_by_label("Nova senha", exact=True).fill(PASSWORD)
    master.get_by_label("Repita a nova senha").fill(PASSWORD)
    master.get_by_role("button", name="Criar acesso").click()
    expect(master).to_have_url(f"{live_server.url}/")
    check_page(master)
    master.get_by_test_id("nav").get_by_role("link", name="Licenças").click()  # the order waits, and says why
    expect(master.get_by_test_id("order-waiting")).to_contain_text("Aguardando o aceite do contrato")
    check_page(master)
    master.get_by_test_id("nav").get_by_role("link", name=re.compile("Contrato")).click()
    expect(master).to_have_url(re.compile(r"/contrato$"))
    check_page(master)
    for kind in ("microsoft_mca", "reseller_terms"):
        master.get_by_test_id(f"agreement-{kind}").get_by_label("Li e aceito").check()
    master.get_by_label("Telefone").fill("(11) 98888-7777")
    master.get_by_role("button", name="Aceitar").click()
    expect(master.get_by_role("status").filter(has_text="Contrato aceito.")).to_be_visible()
    check_page(master)
    master.get_by_test_id("nav").get_by_role("link", name="Licenças").click()
    expect(master.get_by_test_id("order-waiting")).to_have_count(0)
    expect(master.get_by_test_id("order-state")).to_contain_text("concluído")
    check_page(master)

    # The order went on its own; suporte concludes the implantação.
    suporte.goto(opportunity_url)
    expect(suporte.get_by_test_id("customer")).to_contain_text("concluído")
    expect(suporte.get_by_test_id("unfinished-orders")).to_have_count(0)
    check_page(suporte)
    suporte.get_by_label("O que foi feito (opcional)").fill("Tenant configurado, usuários criados.")
    suporte.get_by_role("button", name="Implantação concluída").click()
    expect(suporte.get_by_role("status").filter(has_text="Implantação concluída")).to_be_visible()
    expect(_stage(suporte)).to_have_text("Ativa")
    expect(suporte.get_by_test_id("events")).to_contain_text("Implantação → Ativa")
    check_page(suporte)
