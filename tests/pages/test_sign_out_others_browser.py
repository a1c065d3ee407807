"""'Sign out other sessions' in headless chromium: another browser's session (and a copy of its
cookie) ends, this one stays; then 'Sign out' ends this one for a copied cookie too."""

from __future__ import annotations

import contextlib
from typing import Any

import requests
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from tests.pages.helpers import PASSWORD, sign_in

PORTFOLIO = "/api/v1/profile/ibkr/portfolio"


def _copied_cookie(page: Any, server: Any) -> requests.Session:
    """A requests session holding a copy of the page's session cookie."""
    copy = requests.Session()
    for cookie in page.context.cookies(server.base_url):
        copy.cookies.set(cookie["name"], cookie["value"])
    return copy


def test_sign_out_other_sessions_from_the_page(start_server, open_page, screenshot) -> None:
    server = start_server()
    server.create_user("two-browsers@example.com", PASSWORD)
    # The office page polls: once its session is ended, the next poll answers 401 (handled).
    office: Any = open_page(base_url=server.base_url, expected_statuses=(401,))
    home: Any = open_page(base_url=server.base_url)
    sign_in(office, server.base_url, "two-browsers@example.com")
    sign_in(home, server.base_url, "two-browsers@example.com")
    copy_of_office = _copied_cookie(office, server)
    assert copy_of_office.get(server.url(PORTFOLIO), timeout=10).status_code == 200

    home.get_by_role("button", name="Sign out other sessions").click()
    expect(home.locator("#logout-others-result")).to_have_text("1 other session signed out.")
    screenshot(home, "sign-out-others")

    assert copy_of_office.get(server.url(PORTFOLIO), timeout=10).status_code == 401
    # Its own poll may already be taking it to the sign-in page, aborting a reload.
    with contextlib.suppress(PlaywrightError):
        office.reload()
    office.wait_for_url("**/login**")  # the office browser is signed out
    home.reload()
    expect(home.get_by_role("heading", name="IBKR Integration")).to_be_visible()

    copy_of_home = _copied_cookie(home, server)
    home.get_by_role("button", name="Sign out", exact=True).click()
    home.wait_for_url("**/login")
    assert copy_of_home.get(server.url(PORTFOLIO), timeout=10).status_code == 401


def test_sign_out_lands_on_the_plain_sign_in_page_while_polls_run(start_server, open_page) -> None:
    # Polls every half second, and the sign-out's answer held back for three seconds after the
    # server has ended the session: any poll sent meanwhile would answer 401 and take the person
    # to "/login?next=…" instead (and log the 401). Sign-out stops the polls before it asks.
    server = start_server(env={"VERACITY_PAGE_POLL_INTERVAL_S": "0.5"})
    server.create_user("slow-sign-out@example.com", PASSWORD)
    page: Any = open_page(base_url=server.base_url)
    sign_in(page, server.base_url, "slow-sign-out@example.com")
    regions = []
    page.on("request", lambda request: regions.append(request.url)
            if "/profile/ibkr/" in request.url else None)
    page.wait_for_timeout(1_500)
    assert regions, "the page should be polling before the sign-out"
    copy = _copied_cookie(page, server)

    def answer_late(route: Any) -> None:
        answer = route.fetch()
        page.wait_for_timeout(3_000)
        with contextlib.suppress(PlaywrightError):
            route.fulfill(response=answer)

    page.route("**/api/v1/session", answer_late)
    page.get_by_role("button", name="Sign out", exact=True).click()
    page.wait_for_url("**/login", timeout=15_000)
    assert page.url == server.url("/login")
    assert copy.get(server.url(PORTFOLIO), timeout=10).status_code == 401
