"""Point 21 of issue 13: what every page a browser test visits must hold, at a laptop's width and a phone's.

`check_page(page)` (a fixture in conftest.py) looks at the page the test is on: no document-level horizontal overflow at
1366×768 nor at 390×844, no console error and no failed request for a page asset since the context opened,
and, on a Portuguese page, none of the English words or internal codes users reported (issue 13, point 9).
"""

import re
from collections.abc import Callable

from playwright.sync_api import BrowserContext, Page
from playwright.sync_api import Error as PlaywrightError

VIEWPORTS = ((1366, 768), (390, 844))

# Words users found on Portuguese pages (issue 13, point 9) and the shapes of internal codes: an English
# status sentence, a provider error code, a settings name, a snake_case identifier.
FORBIDDEN_IN_PORTUGUESE = (
    re.compile(r"\border created\b", re.IGNORECASE),
    re.compile(r"\bfailed \(", re.IGNORECASE),
    re.compile(r"\(signed\)", re.IGNORECASE),
    re.compile(r"\bcredit \(crédito\)", re.IGNORECASE),
    re.compile(r"\baccepted by the provider\b", re.IGNORECASE),
    re.compile(r"\bpolling\b", re.IGNORECASE),
    re.compile(r"\b[A-Z]{2,}(?:_[A-Z0-9]+)+\b"),  # a setting's name: COSELL_USD_RATES
    re.compile(r"(?<![\w@./-])[a-z]+(?:_[a-z]+)+(?![\w@./-])"),  # an internal code: no_tenant, past_due
)

ASSET_TYPES = {"stylesheet", "script", "image", "font", "media"}


class PageWatch:
    """Collects, for one browser context, console errors and failed asset requests of every page."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def attach(self, context: BrowserContext) -> None:
        context.on("console", self._console)
        context.on("requestfailed", self._failed)
        context.on("response", self._response)

    def _console(self, message) -> None:
        # "Failed to load resource" is Chromium's echo of any 4xx/5xx response: for assets `_response` reports it
        # with its URL; for the page itself a 422 (a refused form) or a 404 is the portal answering as it should.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.problems.append(f"console error: {message.text} ({message.location.get('url', '')})")

    def _failed(self, request) -> None:
        is_asset = request.resource_type in ASSET_TYPES or request.url.endswith("/favicon.ico")
        # A navigation away cancels the assets still loading: that is not a broken page.
        if is_asset and "ERR_ABORTED" not in (request.failure or ""):
            self.problems.append(f"asset failed: {request.url} ({request.failure})")

    def _response(self, response) -> None:
        request = response.request
        if (request.resource_type in ASSET_TYPES or request.url.endswith("/favicon.ico")) and response.status >= 400:
            self.problems.append(f"asset {response.status}: {request.url}")


def forbidden_words(text: str) -> list[str]:
    """The English words or internal codes of point 9 found in a Portuguese page's visible text."""
    return sorted({match.group(0) for pattern in FORBIDDEN_IN_PORTUGUESE for match in pattern.finditer(text)})


def check(page: Page, watch: PageWatch) -> None:
    """Asserts point 21 on the page as it is now (and restores its viewport)."""
    page.wait_for_load_state("load")
    original = page.viewport_size
    problems = []
    try:
        for width, height in VIEWPORTS:
            page.set_viewport_size({"width": width, "height": height})
            overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
            if overflow > 0:
                problems.append(f"{page.url} is {overflow}px wider than {width}×{height}")
    finally:
        if original:
            page.set_viewport_size(original)
    if page.locator("html").get_attribute("lang") == "pt-BR":
        found = forbidden_words(page.locator("body").inner_text())
        if found:
            problems.append(f"{page.url} shows English words or internal codes: {found}")
    problems += watch.problems
    watch.problems.clear()
    assert not problems, "\n".join(problems)


class PageChecks:
    """A whole walk's page checks: a page that fails does not stop the flow, which goes on to its result; the test
    fails at its end with every page that failed and why. `checks(page)` after each page is reached,
    `checks.later(…)` for an assertion that must not stop the walk, `checks.assert_clean()` as the last line."""

    def __init__(self, check_page: Callable[[Page], None]) -> None:
        self.check_page = check_page
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
        """Runs an assertion whose failure must not stop the walk (what a later step shows matters too): a failure
        is reported by `assert_clean`, with the pages'."""
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
