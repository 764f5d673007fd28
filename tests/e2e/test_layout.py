"""In the browser: labelled fields and a collapsing menu on a phone; the language switch in the footer."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

PHONE = {"viewport": {"width": 375, "height": 812}, "is_mobile": True, "has_touch": True}


@pytest.mark.browser_context_args(**PHONE)
def test_login_page_on_a_phone_has_a_label_on_every_field(page):
    page.goto("/entrar")

    expect(page.get_by_role("heading", name="Entrar no portal")).to_be_visible()
    expect(page.get_by_label("E-mail")).to_be_visible()
    expect(page.get_by_label("Senha", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Entrar", exact=True)).to_be_visible()

    fields = page.locator("input:not([type=hidden]), select, textarea")
    expect(fields).not_to_have_count(0)
    for index in range(fields.count()):
        field = fields.nth(index)
        # A <label for>, aria-label or aria-labelledby: whatever a screen reader would announce.
        expect(field).to_have_accessible_name(re.compile(r"\S"))
        has_label = field.evaluate(
            "el => el.labels.length > 0 || !!el.getAttribute('aria-label') || !!el.getAttribute('aria-labelledby')"
        )
        assert has_label, field.evaluate("el => el.outerHTML")

    # Nothing sticks out sideways at phone width.
    overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the phone"


@pytest.mark.browser_context_args(**PHONE)
def test_navigation_collapses_behind_the_menu_button_on_a_phone(page, log_in):
    log_in(page, "master@demo.example.com")

    nav = page.get_by_test_id("nav")
    toggler = page.get_by_role("button", name="Abrir menu")
    expect(toggler).to_be_visible()
    expect(toggler).to_have_attribute("aria-expanded", "false")
    # In the page, but folded away.
    expect(nav.get_by_role("link", name="Usuários", include_hidden=True)).to_have_count(1)
    expect(nav.get_by_role("link", name="Usuários", include_hidden=True)).to_be_hidden()
    expect(page.get_by_role("button", name="Sair")).to_be_hidden()

    page.wait_for_load_state("load")  # Bootstrap's script (end of the body) must be running before the click
    toggler.click()

    expect(toggler).to_have_attribute("aria-expanded", "true")
    expect(nav.get_by_role("link", name="Início")).to_be_visible()
    expect(nav.get_by_role("link", name="Usuários")).to_be_visible()
    expect(page.get_by_role("button", name="Sair")).to_be_visible()

    nav.get_by_role("link", name="Usuários").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Usuários")


def test_language_switch_in_the_footer_shows_the_page_in_english(page):
    page.goto("/entrar")
    expect(page.locator("html")).to_have_attribute("lang", "pt-BR")
    expect(page.get_by_role("heading", level=1)).to_have_text("Entrar no portal")

    page.get_by_label("Idioma").select_option(label="English")
    page.get_by_role("button", name="Mudar").click()

    expect(page).to_have_url(re.compile(r"/entrar$"))
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_label(re.compile("Language|Idioma"))).to_have_value("en")
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_be_visible()
    expect(heading).not_to_have_text("Entrar no portal")

    # The choice sticks for the rest of the visit.
    page.goto("/senha/esqueci")
    expect(page.locator("html")).to_have_attribute("lang", "en")


def test_sign_in_page_is_sound_at_both_widths(page, check_page):
    page.goto("/entrar")
    check_page(page)


# Every demo role (README "Demo logins"); staff sign in with the demo TOTP code.
CUSTOMERS = ("master@demo.example.com", "adm@demo.example.com", "cobranca@demo.example.com",
             "suporte@demo.example.com", "master@outra.example.com")
STAFF = ("comercial@staff.example.com", "financeiro@staff.example.com", "suporte@staff.example.com",
         "compliance@staff.example.com", "admin@staff.example.com")

# Links that are not pages: documents (PDF, CSV, ZIP) and the sign-out.
_NOT_A_PAGE = re.compile(r"\.(pdf|csv|zip|xml|txt)$|/(pdf|csv|download|baixar|exportar)(/|$|\?)|/sair$")


def _page_links(page, selector: str) -> list[str]:
    """The distinct same-site page paths of the links matching `selector`, in page order."""
    hrefs = page.eval_on_selector_all(
        selector, "els => els.map(a => { const u = new URL(a.href); return u.origin === location.origin"
                  " ? u.pathname + u.search : null; })")
    seen = []
    for href in hrefs:
        if href and not _NOT_A_PAGE.search(href.split("?")[0]) and href not in seen:
            seen.append(href)
    return seen


def _walk_navigation(page, check_page) -> list[str]:
    """Visits every page the navigation links to (the areas, the profile), the tabs of each, and on each of those the
    first row's link of its first table, and checks each page (tests/e2e/pagecheck.py). Fails with the problems of
    every page at once; returns the paths visited."""
    visited, problems = [], []

    def visit(href: str | None, came_from: str = "") -> bool:
        if href is not None:
            if href in visited:
                return False
            response = page.goto(href)
            if response is None or not response.ok:
                problems.append(f"{href}{came_from} answered {response and response.status}")
                return False
        visited.append(href or page.url)
        try:
            check_page(page)
        except AssertionError as error:
            problems.append(str(error))
        return True

    def visit_with_first_row(href: str, came_from: str = "") -> None:
        if visit(href, came_from):
            for row_href in _page_links(page, "main table tbody tr:first-child a[href]")[:1]:
                visit(row_href, f" (first row of {href})")

    visit(None)
    for href in _page_links(page, "#nav-main a[href]"):
        visit_with_first_row(href)
        if page.url.endswith(href):
            for tab in _page_links(page, "main .nav-tabs a[href], main .nav-pills a[href]"):
                visit_with_first_row(tab, f" (tab of {href})")
    assert not problems, "\n".join(problems)
    return visited


@pytest.mark.parametrize("email", CUSTOMERS)
def test_every_page_of_a_customer_role_is_sound_at_both_widths(page, log_in, check_page, email):
    log_in(page, email)

    visited = _walk_navigation(page, check_page)

    assert len(visited) >= 3, visited  # Início plus at least two areas: the navigation really was walked


@pytest.mark.parametrize("email", STAFF)
def test_every_page_of_a_staff_role_is_sound_at_both_widths(page, log_in, check_page, email):
    log_in(page, email, totp=True)

    visited = _walk_navigation(page, check_page)

    assert len(visited) >= 3, visited


@pytest.mark.browser_context_args(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
def test_on_a_phone_each_licence_is_a_card_with_its_buttons_in_reach(page, log_in, check_page):
    log_in(page, "master@demo.example.com")
    page.get_by_role("button", name="Abrir menu").click()
    page.get_by_role("navigation", name="Navegação principal").get_by_role("link", name="Licenças").click()

    table = page.get_by_test_id("licenses-table")
    expect(table).to_be_visible()
    page.wait_for_load_state("load")  # measured with the stylesheet applied (before it, the table is desktop-wide)
    # Nothing to scroll sideways: the table fits its box, and every row's buttons are inside the screen.
    assert table.evaluate("t => t.parentElement.scrollWidth - t.parentElement.clientWidth") <= 0
    buttons = table.get_by_role("link", name=re.compile("^(Alterar quantidades|Cancelar)"))
    expect(buttons.first).to_be_visible()
    for index in range(buttons.count()):
        box = buttons.nth(index).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, buttons.nth(index).text_content()
    # Each cell says what it is, as the column header would (its data-label, shown before it).
    labels = table.locator("tbody tr").first.locator("td[data-label]").evaluate_all(
        "cells => cells.map(c => getComputedStyle(c, '::before').content)")
    assert labels[:2] == ['"Licenças"', '"Preço por licença"'], labels
    check_page(page)


@pytest.mark.browser_context_args(viewport={"width": 1366, "height": 768})
@pytest.mark.parametrize(("email", "totp"), [("admin@staff.example.com", True), ("compliance@staff.example.com", True),
                                             ("master@demo.example.com", False)])
def test_at_1366_px_every_menu_item_and_sair_are_on_the_bar_on_one_line(page, log_in, email, totp):
    log_in(page, email, totp=totp)
    page.wait_for_load_state("load")  # measured with the stylesheet applied
    bar = page.get_by_role("navigation", name="Navegação principal").bounding_box()
    expect(page.get_by_role("button", name="Abrir menu")).to_be_hidden()  # wide enough: no folding

    links = page.get_by_test_id("nav").get_by_role("link")
    assert links.count() >= 5
    sair = page.get_by_role("button", name="Sair")
    for item in [links.nth(index) for index in range(links.count())] + [sair]:
        expect(item).to_be_visible()
        box = item.bounding_box()
        name = item.text_content().strip()
        # Inside the screen and on the (blue) bar, not below or beside it: "Sair" was off-screen, white on white.
        assert box["x"] >= 0 and box["x"] + box["width"] <= 1366, name
        assert box["y"] >= bar["y"] and box["y"] + box["height"] <= bar["y"] + bar["height"], name
        # One line: "Adicionar novos produtos" took three.
        assert box["height"] < 48, name
