"""What the real-browser tests share: Debian's chromium driven by Playwright (`browser`, and
`page`: one tab of it that records Content-Security-Policy violations in
`page.csp_violations`), and logging in to the admin (`log_in`, `logged_in` for a new tab).

Ask for `page` or `browser` last among a test's fixtures: Playwright's sync API runs an
event loop in the test's thread, and Django refuses database work (creating `admin_user`)
while one runs. Import a fixture by its own name (`from tests.browser_helpers import page as
page`) so pytest finds it.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.admin_helpers import CHROMIUM, CHROMIUM_ARGS

TIMEOUT_MS = 30_000  # generous: the machine is shared; nothing here measures speed


def new_page(browser: Browser, width: int = 1280) -> Page:
    """A tab in a new context (its own cookies: a new session), recording CSP violations."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.csp_violations = []  # type: ignore[attr-defined]
    page.on(
        "console",
        lambda m: "Content Security Policy" in m.text and page.csp_violations.append(m.text),  # type: ignore[attr-defined]
    )
    return page


def log_in(page: Page, base: str, username: str = "admin", password: str = "password") -> None:
    """Log in through the admin's login form; `base` is the live server's admin URL."""
    page.goto(f"{base}/login/?next=/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url(f"{base}/")


def logged_in(browser: Browser, base: str, username: str, password: str) -> Page:
    """A new tab of a new session, logged in as username."""
    page = new_page(browser)
    log_in(page, base, username, password)
    return page


@pytest.fixture
def browser():
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    """One tab, 1200 px wide (the admin's sidebar open still leaves room for every list)."""
    return new_page(browser, width=1200)
