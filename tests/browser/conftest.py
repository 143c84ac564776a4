"""Shared Playwright fixtures: headless Debian Chromium against pytest-django's live_server.

Use ``browser_page`` (a fresh browser context per test, its base URL set to the live server)
in tests marked ``@pytest.mark.browser`` with ``pytest.mark.django_db(transaction=True)``.
A failing test leaves a screenshot in ``var/browser-failures/``.
"""

import os
import re
import warnings
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; the Django ORM calls the tests make
# next to it are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
FAILURES_DIR = Path(__file__).resolve().parents[2] / "var" / "browser-failures"
DEFAULT_TIMEOUT_MS = 15_000


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def chromium():
    """One headless Chromium for the whole run; tests get their own contexts."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=DEFAULT_TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def browser_page(request, chromium, live_server, stand_in):
    """A fresh page (own cookies, own storage) whose relative URLs go to the live server.

    ``page.js_errors`` collects uncaught JavaScript errors, for tests that want none.
    """
    context = chromium.new_context(base_url=live_server.url, locale="en-US")
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    page = context.new_page()
    page.js_errors = []
    page.on("pageerror", lambda error: page.js_errors.append(str(error)))
    yield page
    call_report = getattr(request.node, "rep_call", None)
    if call_report is not None and call_report.failed:
        FAILURES_DIR.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)[-150:]
        from playwright.sync_api import Error as PlaywrightError

        try:
            page.screenshot(path=str(FAILURES_DIR / f"{name}.png"), full_page=True)
        except PlaywrightError as exc:  # the page may be gone; the test's own failure matters more
            warnings.warn(f"no failure screenshot: {exc}", stacklevel=1)
    context.close()
