"""The profile page in headless chromium against a live gunicorn server: the "no release"
state, a 375 px phone, and keyboard-only use. Data comes from contract-conformant connector
calls (the whole flow with the real connector is in test_whole_flow_browser.py)."""

from __future__ import annotations

import re
from typing import Any

import requests
from playwright.sync_api import expect

from tests.pages.helpers import (
    PASSWORD,
    post_heartbeat,
    seed_portfolio,
    sign_in,
    wait_until_settled,
)


def test_no_release_configured_shows_a_plain_message(start_server, open_page, screenshot):
    # The shortest token lifetime the server allows, to watch a token expire unused.
    server = start_server(env={"VERACITY_PAIRING_TOKEN_TTL_S": "10"})
    server.create_user("no-release@example.com", PASSWORD)
    page: Any = open_page(base_url=server.base_url)
    sign_in(page, server.base_url, "no-release@example.com")
    card = page.locator("#download-card")
    expect(card.get_by_text("The Windows installer is not available yet.")).to_be_visible()
    expect(card.get_by_text("Looking up the latest Windows release…")).to_be_hidden()
    expect(card.get_by_role("link", name="Download for Windows")).to_be_hidden()
    expect(page.locator("#no-connectors")).to_be_visible()
    expect(page.locator("#no-portfolio")).to_be_visible()
    screenshot(page, "01-no-release")
    csp = requests.get(server.url("/login"), timeout=10).headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp

    # An unused token counts down to zero and is taken off the page.
    page.get_by_role("button", name="Generate token").click()
    expect(page.locator("#token-value")).to_have_value(token_pattern())
    expect(page.locator("[data-field='countdown']")).to_have_text(re.compile(r"^0:(10|0\d)$"))
    expect(page.locator("#token-expired")).to_be_visible(timeout=20_000)
    expect(page.locator("#token-panel")).to_be_hidden()
    assert page.locator("#token-value").input_value() == ""

    # Signing out ends the session: the page sends the person back to the sign-in form.
    page.get_by_role("button", name="Sign out", exact=True).click()
    page.wait_for_url("**/login")
    page.goto(f"{server.base_url}/profile/ibkr")
    page.wait_for_url("**/login?next=/profile/ibkr")


def test_page_fits_a_375px_phone(start_server, open_page, screenshot):
    server = start_server()
    server.create_user("phone@example.com", PASSWORD)
    _, key = server.pair("phone@example.com", hostname="TRADING-DESKTOP-01")
    seed_portfolio(server.base_url, key)
    post_heartbeat(server.base_url, key, "unauthenticated", port=5001)
    page: Any = open_page(viewport=(375, 812), base_url=server.base_url)
    sign_in(page, server.base_url, "phone@example.com")
    expect(page.locator("li[data-hostname='TRADING-DESKTOP-01']")).to_be_visible()
    expect(page.locator("#portfolio-totals")).to_be_visible()
    page.get_by_role("button", name="Generate token").click()
    expect(page.locator("#token-value")).to_have_value(token_pattern())
    # The page never scrolls sideways: wide tables scroll inside their own boxes.
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1] == 375, widths
    for name in ("Generate a new token", "Copy token", "Sign out"):
        box = page.get_by_role("button", name=name, exact=True).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375, name
    revoke = page.get_by_role("button", name="Revoke connector on TRADING-DESKTOP-01")
    box = revoke.bounding_box()
    assert box is not None and box["x"] + box["width"] <= 375
    # Positions stack into "label value" lines: the risk columns show without sideways scroll.
    at_risk = page.locator("#positions-U1234567 tr[data-conid='265598'] [data-field='at-risk']")
    expect(at_risk).to_have_text("1,707.00 USD")  # 100 x (187.12 - 170.05)
    box = at_risk.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375
    no_stop = page.locator("#positions-U1234567 tr[data-conid='756733'] [data-field='stop']")
    expect(no_stop).to_have_text("No stop")
    screenshot(page, "06-phone-375px")


def token_pattern() -> re.Pattern[str]:
    return re.compile(r"^vct_\S{20,}$")


def test_keyboard_alone_signs_in_pairs_and_revokes(start_server, open_page, screenshot):
    server = start_server()
    server.create_user("keys@example.com", PASSWORD)
    _, key = server.pair("keys@example.com", hostname="KEYBOARD-PC")
    post_heartbeat(server.base_url, key)
    page: Any = open_page(base_url=server.base_url)
    page.goto(f"{server.base_url}/profile/ibkr")
    page.wait_for_url("**/login?next=/profile/ibkr")
    # The email field has focus on arrival; everything else is Tab, typing and Enter.
    page.keyboard.type("keys@example.com")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/profile/ibkr")
    wait_until_settled(page)

    focus_by_tab(page, "#generate-token")
    page.keyboard.press("Enter")
    token_input = page.locator("#token-value")
    expect(token_input).to_be_focused()
    token = token_input.input_value()
    assert token.startswith("vct_")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Copy token")).to_be_focused()
    page.keyboard.press("Enter")
    assert page.evaluate("navigator.clipboard.readText()") == token

    revoke = page.get_by_role("button", name="Revoke connector on KEYBOARD-PC")
    focus_by_tab(page, "[data-action='revoke']")
    page.keyboard.press("Enter")
    dialog = page.locator("#revoke-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(revoke).to_be_focused()  # focus goes back where it was

    page.keyboard.press("Enter")
    expect(dialog).to_be_visible()
    page.keyboard.press("Tab")
    expect(dialog.get_by_role("button", name="Revoke connector")).to_be_focused()
    page.keyboard.press("Enter")
    item = page.locator("li[data-hostname='KEYBOARD-PC']")
    expect(item.locator("[data-field='status-badge']")).to_have_text("Revoked")
    expect(item.locator("h3")).to_be_focused()
    screenshot(page, "07-keyboard-revoked")
    connectors = server.login("keys@example.com").get(
        server.url("/api/v1/profile/ibkr/connectors"), timeout=10).json()["connectors"]
    assert [connector["status"] for connector in connectors] == ["revoked"]


def focus_by_tab(page: Any, selector: str, limit: int = 80) -> None:
    """Press Tab until the element matching `selector` has focus (fail after `limit` presses),
    checking on the way that every focused element shows a visible focus outline."""
    target = page.locator(selector).first
    for _ in range(limit):
        page.keyboard.press("Tab")
        if target.evaluate("element => element === document.activeElement"):
            outline = target.evaluate("element => getComputedStyle(element).outlineStyle")
            assert outline != "none", f"{selector} has no visible focus style"
            return
    raise AssertionError(f"{selector} was not reached with Tab in {limit} presses")


def test_page_reads_without_javascript(start_server, open_page, screenshot):
    server = start_server()
    server.create_user("plain@example.com", PASSWORD)
    _, key = server.pair("plain@example.com", hostname="NOSCRIPT-PC")
    seed_portfolio(server.base_url, key, points=2)
    post_heartbeat(server.base_url, key, "unreachable", port=5000)
    session = server.login("plain@example.com")  # signing in itself needs the script
    page: Any = open_page(base_url=server.base_url, javascript=False)
    page.context.add_cookies([{"name": cookie.name, "value": cookie.value,
                               "url": server.base_url} for cookie in session.cookies])
    page.goto(f"{server.base_url}/profile/ibkr")
    # Everything read-only is server-rendered: connectors, troubleshooting, portfolio, chart.
    expect(page.locator("li[data-hostname='NOSCRIPT-PC']")).to_contain_text(
        "Gateway not reachable on port 5000")
    expect(page.locator("#trouble-port-in-use")).to_have_attribute("open", "")
    expect(page.locator("#trouble-firewall")).to_have_attribute("open", "")
    expect(page.locator("#portfolio-totals")).to_contain_text("121,800.55 USD")
    expect(page.locator("figure.chart-figure").first).to_be_visible()
    expect(page.get_by_role("link", name="Download for Windows")).to_have_attribute(
        "href", "/api/v1/downloads/ibkr-connector/windows/installer")
    # Controls that need the script are hidden and say so, instead of doing nothing.
    expect(page.get_by_role("button", name="Generate token")).to_be_hidden()
    # (Playwright's text matching skips <noscript>, so look the notice up by id.)
    notice = page.locator("#pairing-needs-script")
    expect(notice).to_be_visible()
    assert "Generating a token needs JavaScript." in notice.evaluate("node => node.textContent")
    expect(page.get_by_role("button", name="Revoke connector on NOSCRIPT-PC")).to_be_hidden()
    expect(page.get_by_text("Looking up the latest Windows release…")).to_be_hidden()
    screenshot(page, "08-without-javascript")
