"""The page with history: a revoked connector's accounts marked not current and deleted after a
confirmation; a 10,000-position book with a year of history stays a usable page."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from playwright.sync_api import expect

from tests.pages.helpers import PASSWORD, post_heartbeat, post_snapshot, sign_in
from tests.support.server_fixtures import snapshot_body


def test_a_revoked_connector_is_marked_not_current_and_deleted_after_confirming(
        start_server, open_page) -> None:
    server = start_server()
    server.create_user("old@example.com", PASSWORD)
    connector_id, key = server.pair("old@example.com", hostname="OLD-PC")
    post_heartbeat(server.base_url, key)
    post_snapshot(server.base_url, key, snapshot_body(positions=2, stop_orders=1))
    session = server.login("old@example.com", PASSWORD)
    session.post(server.url(f"/api/v1/profile/ibkr/connectors/{connector_id}/revoke"),
                 timeout=10).raise_for_status()

    page: Any = open_page(base_url=server.base_url)
    sign_in(page, server.base_url, "old@example.com")
    expect(page.locator("[data-field='not-current']")).to_contain_text("revoked connector")
    delete = page.get_by_role("button", name="Delete connector on OLD-PC and its history")
    delete.click()
    dialog = page.locator("#delete-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("li[data-connector-id]")).to_have_count(1)  # nothing without confirming

    delete.click()
    dialog.get_by_role("button", name="Delete connector and history").click()
    expect(page.locator("li[data-connector-id]")).to_have_count(0)
    expect(page.locator("#no-portfolio")).to_be_visible()
    answer = session.get(server.url("/api/v1/profile/ibkr/portfolio"), timeout=10).json()
    assert answer["accounts"] == [] and answer["value_history"] == []


def test_a_10000_position_book_with_a_year_of_history_is_a_usable_page(
        start_server, open_page) -> None:
    server = start_server()
    server.create_user("big@example.com", PASSWORD)
    _, key = server.pair("big@example.com", hostname="BIG-PC")
    post_heartbeat(server.base_url, key)
    now = datetime.now(UTC)
    with requests.Session() as http:
        # A year of daily history (late snapshots from an outbox), then the big current book.
        for day in range(365, 0, -1):
            body = snapshot_body(positions=1, stop_orders=0, accounts=2,
                                 taken_at=now - timedelta(days=day),
                                 net_liquidation=f"{100000 + day * 10}.00")
            http.post(server.url("/api/v1/connector/snapshots"), json=body, timeout=30,
                      headers={"Authorization": f"Bearer {key}"}).raise_for_status()
        big = snapshot_body(positions=5000, stop_orders=20, accounts=2,
                            taken_at=now - timedelta(minutes=1))
        http.post(server.url("/api/v1/connector/snapshots"), json=big, timeout=60,
                  headers={"Authorization": f"Bearer {key}"}).raise_for_status()

    page: Any = open_page(base_url=server.base_url)
    started = time.monotonic()
    sign_in(page, server.base_url, "big@example.com")
    expect(page.locator("section.account[data-account-id='U1000000']")).to_be_visible()
    page.locator("nav.chart-ranges").get_by_role("link", name="1Y").click()
    page.wait_for_url("**/profile/ibkr?range=1Y")
    account = page.locator("section.account[data-account-id='U1000000']")
    expect(account).to_be_visible()
    # The page lists the first 500 positions of each account and says how many there are.
    expect(account.locator("table.positions tbody tr")).to_have_count(500)
    expect(account.locator("#positions-U1000000 summary")).to_contain_text("500 of 5000 shown")
    expect(account.locator("[data-field='positions-hidden']")).to_contain_text("4500 more")
    expect(page.locator("#portfolio-totals")).to_contain_text("10000 positions")
    # The year's chart is drawn from the daily points.
    expect(page.locator("figure.chart-figure").first).to_be_visible()
    expect(page.locator(".chart-range.selected")).to_have_text("1Y")
    print(f"page with 10,000 positions and a year of history loaded in "
          f"{time.monotonic() - started:.1f} s")
