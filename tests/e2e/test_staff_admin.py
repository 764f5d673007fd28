"""Browser, the backoffice's queues and registers: a customer's order fails for lack of a Microsoft tenant;
suporte finds it under "Implantação e falhas", admin enters the tenant on the organization page and suporte
sends the order again. Admin looks people and organizations up (a deactivated member and a pending invitation
are not shown as active: issue 13 point 7), and creates a product and its price, which a customer then finds in
the catalog. Every page on the way passes `check_page`."""

import re
import uuid

import pytest
from playwright.sync_api import Page, expect

from portal.shared import clock
from tests.e2e import staff_data
from tests.e2e.pagecheck import PageChecks
from tests.e2e.staff_walk import flash, search, staff_nav

pytestmark = pytest.mark.e2e

SUPORTE = "suporte@staff.example.com"
ADMIN = "admin@staff.example.com"


def buy_one_more_licence(page: Page) -> None:
    """The Master's increase: Licenças → Alterar quantidades → one more → Confirmar."""
    page.get_by_role("navigation", name="Navegação principal").get_by_role("link", name="Licenças").click()
    page.get_by_role("link", name=f"Alterar quantidades — {staff_data.PRODUCT}").click()
    page.get_by_label("Nova quantidade de licenças").fill("4")
    page.get_by_role("button", name="Ver valores antes de confirmar").click()
    page.get_by_role("button", name="Confirmar").click()
    flash(page, "Pedido registrado.")


def test_suporte_retries_an_order_that_failed_for_lack_of_a_tenant(page, log_in, another_browser, check_page,
                                                                   page_watch, live_server):
    checks = PageChecks(check_page)
    customer = staff_data.customer(live_server.app, billing_day=10, tenant=False)
    master = another_browser()
    log_in(master, customer.master_email)
    buy_one_more_licence(master)
    row = master.get_by_test_id("licenses-table").locator("tr").filter(has_text=staff_data.PRODUCT)
    expect(row.get_by_test_id("order-state")).to_contain_text("falhou")
    checks(master)

    # Suporte: the queue of what needs the team, then the order.
    log_in(page, SUPORTE, totp=True)
    staff_nav(page, "Pedidos")
    expect(page.get_by_role("heading", name="Pedidos", level=1)).to_be_visible()
    checks(page)
    page.get_by_role("link", name="Implantação e falhas").click()
    expect(page.get_by_label("Precisam da equipe")).to_be_checked()
    failed = page.get_by_test_id("orders-table").locator("tbody tr").filter(has_text=customer.legal_name)
    expect(failed).to_have_count(1)
    expect(failed).to_contain_text("falhou")
    checks(page)
    failed.get_by_role("link", name=re.compile(r"^\d+$")).click()
    order_url = page.url
    expect(page.get_by_test_id("order-status")).to_have_text("falhou")
    expect(page.get_by_test_id("order-error")).not_to_have_text("—")
    checks(page)

    # Admin enters the customer's tenant on the organization page.
    admin = another_browser()
    log_in(admin, ADMIN, totp=True)
    staff_nav(admin, "Organizações")
    found = search(admin, checks, "organizations-table", {"Buscar": customer.legal_name}, button="Buscar")
    found.get_by_role("link", name=customer.legal_name).click()
    expect(admin.get_by_test_id("tenant")).to_contain_text("não informado")
    checks(admin)
    tenant = str(uuid.uuid4())
    admin.get_by_label("ID do tenant Microsoft (customer id no Partner Center)").fill(tenant)
    admin.get_by_role("button", name="Salvar tenant").click()
    flash(admin, "Tenant Microsoft salvo.")
    expect(admin.get_by_test_id("tenant")).to_have_text(tenant)
    checks(admin)

    # Suporte sends the order again: it no longer fails.
    page.goto(order_url)
    page.get_by_role("button", name="Reenviar ao provedor").click()
    flash(page, "reenviado ao provedor, a partir da primeira tentativa.")
    expect(page.get_by_test_id("order-status")).not_to_have_text("falhou")
    checks(page)
    master.reload()
    expect(row.get_by_test_id("order-state")).not_to_contain_text("falhou")
    checks(master)

    # The other implantação page suporte keeps an eye on: new customers handed over by Contratação.
    staff_nav(page, "Contratação")
    page.get_by_role("link", name="Implantação", exact=True).click()
    expect(page.get_by_role("link", name="Implantação", exact=True)).to_have_attribute("aria-current", "page")
    checks(page)
    checks.assert_clean()


def test_admin_looks_up_people_and_organizations(page, log_in, check_page, page_watch, live_server):
    checks = PageChecks(check_page)
    customer = staff_data.customer(live_server.app, billing_day=10)
    others = staff_data.former_and_invited(live_server.app, customer)
    tag = customer.master_email.split("@")[0].removeprefix("master-")

    log_in(page, ADMIN, totp=True)
    staff_nav(page, "Usuários")
    expect(page.get_by_test_id("all-users-table")).to_contain_text("Alice Admin")
    checks(page)
    people = search(page, checks, "all-users-table", {"Buscar": tag}, button="Buscar")
    expect(people).to_have_count(3)
    active = re.compile(r"(?<![\wí])ativo\b", re.IGNORECASE)
    expect(people.filter(has_text=customer.master_email)).to_contain_text(active)
    statuses = {who: people.filter(has_text=email).inner_text() for who, email in others.items()}

    staff_nav(page, "Organizações")
    checks(page)
    organizations = search(page, checks, "organizations-table", {"Buscar": customer.legal_name}, button="Buscar")
    expect(organizations).to_have_count(1)
    organizations.get_by_role("link", name=customer.legal_name).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(customer.legal_name)
    checks(page)

    def no_one_inactive_reads_active():  # issue 13 point 7: the former member and the invitation are "ativo" today
        assert not [who for who, text in statuses.items() if active.search(text)], statuses
    checks.later("point 7, /backoffice/usuarios", no_one_inactive_reads_active)
    checks.assert_clean()


def test_admin_creates_a_product_and_its_price_and_a_customer_finds_it(page, log_in, another_browser, check_page,
                                                                       page_watch):
    checks = PageChecks(check_page)
    tag = uuid.uuid4().hex[:6]
    name, sku = f"Backup de Estações {tag}", f"BKP-EST-{tag}".upper()
    today = clock.today()

    log_in(page, ADMIN, totp=True)
    staff_nav(page, "Catálogo")
    expect(page.get_by_role("heading", name="Catálogo", level=1)).to_be_visible()
    checks(page)
    page.get_by_role("link", name="Novo produto").click()
    checks(page)
    page.get_by_label("SKU", exact=True).fill(sku)
    page.get_by_label("Nome").fill(name)
    page.get_by_label("Descrição").fill("Backup diário das estações de trabalho, com retenção de 30 dias.")
    page.get_by_label("Família de produtos").select_option(label="Backup em Nuvem")
    page.get_by_label("Fornecedor").select_option(label="Serviço próprio")
    page.get_by_label("Termo").select_option(label="mensal")
    page.get_by_label("Frequência de cobrança").select_option(label="mensal")
    page.get_by_label("Quantidade máxima").fill("50")
    page.get_by_role("button", name="Salvar").click()
    flash(page, f"Produto {name} criado. Cadastre o preço para que ele apareça no catálogo.")
    expect(page.get_by_test_id("price-history")).to_contain_text("Sem preço")
    checks(page)

    page.get_by_label("Preço unitário por período (R$)").fill("49,90")
    page.get_by_label("Vale a partir de").fill(today.isoformat())  # a date input: the picker's format
    page.get_by_role("button", name="Cadastrar preço").click()
    flash(page, f"Novo preço de {name}: R$ 49,90 a partir de {today.strftime('%d/%m/%Y')}.")
    current = page.get_by_test_id("price-history").locator("tbody tr").filter(has_text="R$ 49,90")
    expect(current).to_contain_text("em vigor")
    checks(page)

    # A customer's Master finds it, with its price, in the catalog.
    customer = another_browser()
    log_in(customer, "master@demo.example.com")
    customer.get_by_role("navigation", name="Navegação principal").get_by_role(
        "link", name="Adicionar novos produtos").click()
    expect(customer.get_by_role("link", name=name)).to_be_visible()
    customer.get_by_role("link", name=name).click()
    expect(customer.get_by_role("heading", name=name)).to_be_visible()
    expect(customer.get_by_text("R$ 49,90").first).to_be_visible()
    checks(customer)
    checks.assert_clean()


def test_admin_marks_the_upgrades_of_a_microsoft_product_on_its_form(page, log_in, check_page, page_watch):
    """The upgrades a subscription may move to at renewal ("Renovações") are typed on the product's form: a SKU the
    catalog does not have comes back on the field with everything typed kept; known ones are saved."""
    checks = PageChecks(check_page)
    tag = uuid.uuid4().hex[:6].upper()
    name, sku = f"Microsoft 365 F3 {tag}", f"M365-F3-{tag}"

    log_in(page, ADMIN, totp=True)
    staff_nav(page, "Catálogo")
    page.get_by_role("link", name="Novo produto").click()
    page.get_by_label("SKU", exact=True).fill(sku)
    page.get_by_label("Nome").fill(name)
    page.get_by_label("Família de produtos").select_option(label="Microsoft 365")
    page.get_by_label("Oferta no Partner Center").fill(f"CFQ7TTC0{tag[:4]}:0001:CFQ7TTC0{tag[:4]}A")
    page.get_by_label("Upgrades na renovação (SKUs)").fill("M365-NAO-EXISTE, M365-PREM")
    page.get_by_role("button", name="Salvar").click()
    field = page.get_by_label("Upgrades na renovação (SKUs)")
    expect(page.locator("#upgrade_to-error")).to_contain_text("SKU não encontrado no catálogo: M365-NAO-EXISTE.")
    expect(field).to_have_value("M365-NAO-EXISTE, M365-PREM")
    expect(page.get_by_label("Nome")).to_have_value(name)
    checks(page)

    field.fill("m365-prem; M365-E3")
    page.get_by_role("button", name="Salvar").click()
    flash(page, f"Produto {name} criado.")
    expect(page.get_by_label("Upgrades na renovação (SKUs)")).to_have_value("M365-PREM, M365-E3")
    checks(page)
    checks.assert_clean()
