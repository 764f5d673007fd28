"""In the browser: every demo role signs in and sees only its own navigation; a wrong password is refused."""

import re

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.e2e

CUSTOMER_LINKS = ("Início", "Licenças", "Adicionar novos produtos", "Faturas", "Usuários", "Histórico")
STAFF_LINKS = ("Painel", "Organizações", "Usuários", "Pedidos", "Catálogo")

# e-mail, role label on the home page, nav links it sees (the others of CUSTOMER_LINKS must be absent)
CUSTOMERS = [
    ("master@demo.example.com", "Master",
     {"Início", "Licenças", "Adicionar novos produtos", "Faturas", "Usuários", "Histórico"}),
    ("adm@demo.example.com", "Adm", {"Início", "Licenças", "Adicionar novos produtos"}),
    ("cobranca@demo.example.com", "Cobrança", {"Início", "Licenças", "Faturas"}),
    ("suporte@demo.example.com", "Suporte", {"Início"}),
]

# e-mail, name shown in the header, whether it is admin: sees "Nova organização" and "Catálogo"
STAFF = [
    ("comercial@staff.example.com", "Camila Comercial", False),
    ("financeiro@staff.example.com", "Fábio Financeiro", False),
    ("suporte@staff.example.com", "Sônia Suporte", False),
    ("compliance@staff.example.com", "Cláudio Compliance", False),
    ("admin@staff.example.com", "Alice Admin", True),
]


def expect_nav(page: Page, *, visible: set[str], among: tuple[str, ...]) -> None:
    nav = page.get_by_test_id("nav")
    expect(nav).to_be_visible()
    for name in among:
        # The name, with its badge when there is one ("Pedidos 1 precisam de atenção": the demo's implantação)
        link = nav.get_by_role("link", name=re.compile(rf"^{re.escape(name)}(\s+\d+ precisam? de atenção)?$"))
        if name in visible:
            expect(link).to_be_visible()
        else:
            expect(link).to_have_count(0)


def log_out(page: Page) -> None:
    page.get_by_role("button", name="Sair").click()
    expect(page).to_have_url(re.compile(r"/entrar$"))
    expect(page.get_by_role("status")).to_contain_text("Você saiu do portal.")
    expect(page.get_by_role("heading", name="Entrar no portal")).to_be_visible()
    expect(page.get_by_test_id("nav")).to_have_count(0)


def expect_signed_out(page: Page) -> None:
    """The home page sends an anonymous visitor to the sign-in form."""
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/entrar\?next=(%2F|/)$"))
    expect(page.get_by_role("heading", name="Entrar no portal")).to_be_visible()


@pytest.mark.parametrize(("email", "role_label", "links"), CUSTOMERS, ids=[c[0].split("@")[0] for c in CUSTOMERS])
def test_customer_role_signs_in_and_sees_its_own_navigation(page, log_in, live_server, email, role_label, links):
    log_in(page, email)

    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Demo Tecnologia")
    expect(page.get_by_test_id("current-org")).to_have_text("Demo Tecnologia")
    expect(page.get_by_test_id("my-roles")).to_contain_text(role_label)
    expect_nav(page, visible=links, among=CUSTOMER_LINKS)

    # What is not in the navigation is not reachable by typing its address either.
    response = page.goto("/usuarios")
    assert response is not None
    assert response.status == (200 if "Usuários" in links else 403)
    page.goto("/")

    log_out(page)
    expect_signed_out(page)


@pytest.mark.parametrize(("email", "name", "creates_organizations"), STAFF, ids=[s[0].split("@")[0] for s in STAFF])
def test_staff_role_signs_in_with_two_factor_and_lands_on_the_backoffice(
    page, log_in, live_server, email, name, creates_organizations
):
    log_in(page, email, totp=True)

    expect(page).to_have_url(f"{live_server.url}/backoffice/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Backoffice")
    expect(page.get_by_role("link", name="Portal Cloud · Backoffice")).to_be_visible()
    expect(page.get_by_role("link", name=name, exact=True)).to_be_visible()
    visible = set(STAFF_LINKS) if creates_organizations else set(STAFF_LINKS) - {"Catálogo"}  # admin only
    expect_nav(page, visible=visible, among=STAFF_LINKS)
    expect(page.get_by_test_id("nav").get_by_role("link", name="Histórico")).to_have_count(0)
    new_organization = page.get_by_role("link", name="Nova organização")
    expect(new_organization).to_have_count(1 if creates_organizations else 0)

    log_out(page)
    expect_signed_out(page)


def test_staff_password_alone_does_not_open_the_backoffice(page):
    page.goto("/entrar")
    page.get_by_label("E-mail").fill("admin@staff.example.com")
    page.get_by_label("Senha", exact=True).fill("Portal#Demo2026")
    page.get_by_role("button", name="Entrar", exact=True).click()
    expect(page).to_have_url(re.compile(r"/entrar/verificacao$"))

    page.goto("/backoffice/")
    expect(page).to_have_url(re.compile(r"/entrar"))
    expect(page.get_by_test_id("nav")).to_have_count(0)


@pytest.mark.parametrize(
    ("email", "password"),
    [("master@demo.example.com", "Senha#Errada2026"), ("ninguem@demo.example.com", "Portal#Demo2026")],
    ids=["wrong-password", "unknown-email"],
)
def test_wrong_credentials_show_the_message_and_keep_the_user_out(page, email, password):
    page.goto("/entrar")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Senha", exact=True).fill(password)
    page.get_by_role("button", name="Entrar", exact=True).click()

    expect(page.get_by_role("alert")).to_have_text("E-mail ou senha incorretos.")
    expect(page).to_have_url(re.compile(r"/entrar$"))
    expect(page.get_by_role("heading", name="Entrar no portal")).to_be_visible()
    expect(page.get_by_label("E-mail")).to_have_value(email)
    expect(page.get_by_label("Senha", exact=True)).to_have_value("")
    expect(page.get_by_test_id("nav")).to_have_count(0)
    expect_signed_out(page)
