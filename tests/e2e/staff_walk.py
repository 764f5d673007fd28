"""Helpers of the staff browser walks (tests/e2e/test_staff_*.py, test_offers.py).

`PageChecks` runs `check_page` (point 21 of issue 13) on every page a walk visits, but lets the walk go on to its
result when a page fails the check: the test still fails at its end, with every page that failed and why, so one
layout defect (today: /favicon.ico is 404 on every page) does not hide the flow's own assertions, nor the
problems of the pages after it.
"""

import re
from collections.abc import Callable

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Locator, Page, expect

from tests.e2e.pagecheck import PageWatch


class PageChecks:
    """`checks(page)` after each page is reached, `checks.later(…)` for a known defect's assertion,
    `checks.assert_clean()` as the test's last line."""

    def __init__(self, check_page: Callable[[Page], None], page_watch: PageWatch) -> None:
        self.check_page = check_page
        self.page_watch = page_watch
        self.failures: list[str] = []
        self.defects: list[str] = []
        self.checked = 0

    def __call__(self, page: Page) -> Page:
        self.checked += 1
        try:
            self.check_page(page)
        except AssertionError as failure:
            self.failures.append(str(failure))
        return page

    def later(self, what: str, assertion: Callable[[], object]) -> None:
        """Runs an assertion about a defect fixed elsewhere (issue 13) whose failure must not stop the walk: a
        failure is reported by `assert_clean`, with the pages', instead of hiding them."""
        try:
            assertion()
        except (AssertionError, PlaywrightError) as failure:
            self.defects.append(f"{what}: " + str(failure).split("\nCall log:")[0])

    def assert_clean(self) -> None:
        assert self.checked, "no page was checked"
        report = [f"{len(self.failures)} of {self.checked} pages failed the page check:", *self.failures] \
            if self.failures else []
        if self.defects:
            report += ["and these assertions failed:", *self.defects]
        assert not report, "\n".join(report)


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
