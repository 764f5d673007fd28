"""Helpers of the staff browser walks (tests/e2e/test_staff_*.py, test_offers.py).

The page checks of every walk are `tests.e2e.pagecheck.PageChecks`.
"""

import re

from playwright.sync_api import Locator, Page, expect

from tests.e2e.pagecheck import PageChecks


def staff_nav(page: Page, name: str) -> None:
    """Follows a link of the backoffice's main navigation (the collapsed menu is opened first on a phone)."""
    nav = page.get_by_test_id("nav")
    toggler = page.get_by_role("button", name="Abrir menu")
    page.wait_for_load_state("load")  # before the stylesheet, the menu button of a phone shows at every width
    if toggler.is_visible():
        toggler.click()
    nav.get_by_role("link", name=re.compile(rf"^{re.escape(name)}")).click()


def flash(page: Page, text: str) -> None:
    """The page shows the message `text` (a flashed status or alert)."""
    expect(page.get_by_role("status").or_(page.get_by_role("alert")).filter(has_text=text).first).to_be_visible()


def search(page: Page, checks: PageChecks, table: str, filters: dict[str, str], *, button: str = "Filtrar") -> Locator:
    """A list page's search: each filter (its label → a text, or a select's option), the button, the page checked;
    the rows of the table `table` (a test id) found."""
    for label, value in filters.items():
        field = page.get_by_label(label, exact=True)
        if field.evaluate("element => element.tagName") == "SELECT":
            field.select_option(label=value)
        else:
            field.fill(value)
    with page.expect_navigation():
        page.get_by_role("button", name=button, exact=True).click()
    checks(page)
    return page.get_by_test_id(table).locator("tbody tr")
