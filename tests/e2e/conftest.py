"""Browser-test fixtures: Playwright pages pointed at the live server, sign-in steps, the live outbox.

Every test gets fresh browser contexts (no cookies carried over), but the live server's database is
shared by all tests of one engine, so a test that creates data uses unique e-mail addresses.
"""

import re
import time
import uuid
from email.message import EmailMessage
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import BrowserContext, Page, expect
from playwright.sync_api import Error as PlaywrightError

from portal.demo import DEMO_TOTP_SECRET
from tests.e2e.pagecheck import PageWatch, check

DEMO_PASSWORD = "Portal#Demo2026"  # noqa: S105 - the documented demo password (config DEMO_PASSWORD)

# Milliseconds, for actions, navigations and `expect` (Playwright's defaults: 30 s and 5 s). The live server
# answers in a few ms, but CI runs two test processes, two Chromiums and PostgreSQL on two cores: once a form's
# POST and the page it redirected to took longer than `expect`'s 5 s (the switch-organization step of
# test_offers.py, its request not yet logged when the check gave up). One limit for both, still short.
ACTION_TIMEOUT_MS = 10_000
expect.set_options(timeout=ACTION_TIMEOUT_MS)


@pytest.fixture
def open_contexts() -> list[BrowserContext]:
    """Every browser context the test opened, for the screenshots of a failure."""
    return []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed browser test leaves a screenshot of each of its pages in test-results/<test id>/.

    Done here rather than with pytest-playwright's `--screenshot only-on-failure`, which would need a flag
    and screenshots every page of every test (then throws the passing ones away): about 0.3 s a test.
    """
    outcome = yield
    report = outcome.get_result()
    contexts = item.funcargs.get("open_contexts") if hasattr(item, "funcargs") else None
    if report.when != "call" or not report.failed or not contexts:
        return
    test_id = re.sub(r"[^\w.-]+", "-", item.nodeid).strip("-")
    folder = Path(item.config.getoption("--output", default="test-results")) / test_id
    folder.mkdir(parents=True, exist_ok=True)
    shots = []
    for page in [p for ctx in contexts for p in ctx.pages]:
        path = folder / f"failed-{len(shots) + 1}.png"
        try:
            page.screenshot(path=path, full_page=True, timeout=5_000)
        except PlaywrightError:
            continue
        shots.append(str(path))
    if shots:
        report.sections.append(("screenshots", "\n".join(shots)))


class _ClosedBeforeSending:
    """WSGI middleware: reads each response whole and closes it before the server sends anything.

    Werkzeug's development server skips closing a response when the browser drops the connection
    mid-request (its `finally` reads the dead socket first and raises): a static file stays open,
    and its ResourceWarning, an error under our `filterwarnings = error`, lands in whichever test
    runs next. Chromium drops connections whenever a test navigates or closes its context while
    the page's scripts are still loading, so without this the run fails now and then.
    """

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        iterable = self.wsgi_app(environ, start_response)
        try:
            return [b"".join(iterable)]
        finally:
            if hasattr(iterable, "close"):
                iterable.close()


@pytest.fixture(scope="session", autouse=True)
def _responses_closed_before_sending(live_server):
    if not isinstance(live_server.app.wsgi_app, _ClosedBeforeSending):
        live_server.app.wsgi_app = _ClosedBeforeSending(live_server.app.wsgi_app)


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args, live_server):
    """Relative URLs (page.goto("/entrar")) go to the live server of the current engine; the browser asks for pt-BR."""
    return {**browser_context_args, "base_url": live_server.url, "locale": "pt-BR"}


@pytest.fixture
def page_watch() -> PageWatch:
    return PageWatch()


@pytest.fixture
def check_page(page_watch):
    """`check_page(page)`: the page as it is now has no sideways overflow at 1366 px nor 390 px, no console error
    or failed asset since its context opened, and no English word or internal code if Portuguese (pagecheck.py)."""
    return lambda page: check(page, page_watch)


@pytest.fixture
def prepared_context(new_context, open_contexts, page_watch):
    """`prepared_context(**args)` → a new browser context with short timeouts, remembered for screenshots,
    whose console errors and failed assets `check_page` reports (tests/e2e/pagecheck.py)."""

    def make(**context_args) -> BrowserContext:
        context = new_context(**context_args)
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        context.set_default_navigation_timeout(ACTION_TIMEOUT_MS)
        page_watch.attach(context)
        open_contexts.append(context)
        return context

    return make


@pytest.fixture
def context(prepared_context) -> BrowserContext:
    return prepared_context()


@pytest.fixture
def another_browser(prepared_context):
    """`another_browser()` → a page in a new, separate browser context (another person, no shared cookies)."""

    def open_page(**context_args) -> Page:
        return prepared_context(**context_args).new_page()

    return open_page


def staff_code() -> str:
    """The demo staff TOTP code right now (the live server's clock is not frozen; it accepts ±1 step)."""
    return pyotp.TOTP(DEMO_TOTP_SECRET).now()


def _forget_last_code(app, email: str) -> None:
    """A TOTP code is accepted once (replay guard): tests signing the same staff user in twice within one
    30-second step would otherwise be refused. Forgetting the last accepted step is what a new step does."""
    from sqlalchemy import update

    from portal.accounts.models import User
    from portal.extensions import db

    with app.app_context():
        db.session.execute(update(User).where(User.email == email).values(totp_last_step=None))
        db.session.commit()


@pytest.fixture
def log_in(live_server):
    """`log_in(page, email)`: the sign-in form; with `totp=True` also the two-factor step (demo staff code).

    Returns once the portal has left the sign-in pages (the caller asserts where it landed).
    """

    def sign_in(page: Page, email: str, password: str = DEMO_PASSWORD, *, totp: bool = False) -> Page:
        if totp:
            _forget_last_code(live_server.app, email)
        page.goto("/entrar")
        page.get_by_label("E-mail").fill(email)
        page.get_by_label("Senha", exact=True).fill(password)
        page.get_by_role("button", name="Entrar", exact=True).click()
        if totp:
            expect(page).to_have_url(re.compile(r"/entrar/verificacao$"))
            expect(page.get_by_role("heading", name="Verificação em duas etapas")).to_be_visible()
            page.get_by_label("Código de verificação ou código de recuperação").fill(staff_code())
            page.get_by_role("button", name="Verificar").click()
        expect(page).not_to_have_url(re.compile(r"/entrar"))
        # The page's scripts (Bootstrap's menu toggler among them) are attached only once it has loaded: a click
        # before that does nothing, and a test that opens the phone menu at once would wait for a menu that never opens.
        page.wait_for_load_state("load")
        return page

    return sign_in


@pytest.fixture
def mail_to(live_server):
    """`mail_to(address)` → the newest e-mail the live server sent to `address` (waits up to 5 s)."""
    outbox: list[EmailMessage] = live_server.app.extensions["mailer"].outbox

    def newest(address: str, timeout: float = 5.0) -> EmailMessage:
        deadline = time.monotonic() + timeout
        while True:
            found = [m for m in list(outbox) if address.lower() in str(m["To"]).lower()]
            if found:
                return found[-1]
            if time.monotonic() > deadline:
                raise AssertionError(f"no e-mail to {address} in the outbox ({len(outbox)} messages to others)")
            time.sleep(0.05)

    return newest


@pytest.fixture
def unique_email():
    """`unique_email("convidado")` → convidado-<random>@e2e.example.com (the database outlives the test)."""

    def make(prefix: str) -> str:
        return f"{prefix}-{uuid.uuid4().hex[:10]}@e2e.example.com"

    return make
