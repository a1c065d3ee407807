"""Browser fixtures for the page tests: Debian's chromium driven by Playwright (never a
downloaded browser), one browser per session, a fresh context per test.

- `start_server(env=None)`: a live gunicorn server (tests.support.server_fixtures) for this test,
  stopped after the browser pages are closed (pages poll; a stopped server would log errors).
- `browser` (session): headless chromium at /usr/bin/chromium; missing → skip locally, fail in CI.
- `open_page(viewport=(w, h), base_url=None, javascript=True, expected_statuses=())`: a new
  page in a new context (clipboard allowed, own cookies); console errors and
  Content-Security-Policy violations are collected and fail the test.
- `screenshot(page, name)`: full-page PNG in `test-artefacts/pages/` (git-ignored).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.support.server_fixtures import LiveServer, start_live_server
from tests.support.system import require_executable

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTEFACTS = REPO_ROOT / "test-artefacts" / "pages"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
# Playwright waits (expect/wait_for) give up after this; a connector's first sync includes IBKR's
# 5-second pacing of /portfolio/accounts and the orders "pre-flight", so be generous.
SLOW_EXPECT_MS = 60_000
# Every other wait: Playwright's 5 s default was too short once in a loaded CI run (3 test
# workers and the wine suite on 2 cores), for a revoke's round trip and re-render.
expect.set_options(timeout=15_000)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that opens a browser carries the `browser` marker."""
    for item in items:
        if "open_page" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Headless Debian chromium (Playwright's own browsers are never downloaded)."""
    executable = require_executable("chromium", "chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(executable), headless=True,
                                              args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """Start live servers (page polling every second unless `env` says otherwise)."""
    with contextlib.ExitStack() as stack:
        count = 0

        def start(env: dict[str, str] | None = None) -> LiveServer:
            nonlocal count
            count += 1
            folder = tmp_path / f"server-{count}"
            folder.mkdir()
            settings = {"VERACITY_PAGE_POLL_INTERVAL_S": "1", **(env or {})}
            return stack.enter_context(start_live_server(folder, env=settings))

        yield start


@pytest.fixture
def open_page(browser: object, start_server: object) -> Iterator[Callable[..., object]]:
    """Open pages in fresh contexts; fail the test on console errors or CSP violations."""
    contexts = []
    problems: list[str] = []

    def opener(viewport: tuple[int, int] = (1280, 900), base_url: str | None = None,
               javascript: bool = True, expected_statuses: tuple[int, ...] = ()) -> object:
        context = browser.new_context(  # type: ignore[attr-defined]
            viewport={"width": viewport[0], "height": viewport[1]}, base_url=base_url,
            accept_downloads=True, java_script_enabled=javascript)
        if base_url:
            context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
        contexts.append(context)
        page = context.new_page()
        # `expected_statuses`: answers this page may get and handle (e.g. 401 on its next poll
        # once its session was ended elsewhere); chromium logs each as a console error.
        expected = tuple(f"status of {status}" for status in expected_statuses)
        page.on("console", lambda message: problems.append(f"console {message.type}: "
                                                           f"{message.text}")
                if message.type == "error" and not any(text in message.text
                                                        for text in expected) else None)
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        return page

    yield opener
    for context in contexts:
        context.close()
    # The 503 "not configured" download lookup is an expected answer the page handles;
    # chromium logs every non-2xx fetch as a console error.
    unexpected = [problem for problem in problems if "status of 503" not in problem]
    assert not unexpected, "\n".join(unexpected)


@pytest.fixture
def screenshot() -> Callable[[object, str], Path]:
    """Save a full-page screenshot under test-artefacts/pages/<name>.png."""
    ARTEFACTS.mkdir(parents=True, exist_ok=True)

    def shoot(page: object, name: str) -> Path:
        path = ARTEFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
        return path

    return shoot
