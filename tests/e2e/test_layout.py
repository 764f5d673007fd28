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
