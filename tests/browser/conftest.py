"""The web page in Debian's Chromium (Playwright), against the whole system as real processes: the
session's `running_system` (tests/system.py, shared with tests/e2e; status serves frontend/dist at /)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "browser"


@pytest.fixture(scope="session")
def built_page() -> Path:
    dist = ROOT / "frontend" / "dist"
    if not (dist / "index.html").is_file():
        pytest.fail("frontend/dist is missing: build the page first (make frontend)")
    return dist


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Module scope: sync Playwright runs an event loop in this thread while it is open, which the async
    # tests after this module must not find.
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-background-networking", "--enable-unsafe-swiftshader"],
        )
        yield browser
        browser.close()


@pytest.fixture
def context(browser: Browser, request: pytest.FixtureRequest) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    context.set_default_timeout(20_000)
    yield context
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for index, page in enumerate(context.pages):
        # a screenshot is a courtesy for whoever reads a failure; taking it must not fail the test
        with contextlib.suppress(Exception):
            page.screenshot(path=ARTIFACTS / f"{request.node.name}-{index}.png", full_page=True)
    context.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    page = context.new_page()
    page.errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda error: page.errors.append(str(error)))  # type: ignore[attr-defined]
    return page
