"""The Profile page with daily history (issue 19): the 1Y chart marks where its points come
from (live, gateway history, Flex) and the reconciliation table lists a differing day with both
values, newest first. Real gunicorn server, real chromium; screenshot in test-artefacts/pages."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import requests
from playwright.sync_api import expect

from tests.pages.helpers import PASSWORD, post_heartbeat, post_snapshot, sign_in
from tests.support.server_fixtures import snapshot_body

HISTORY = "/api/v1/connector/history/daily"


def _days_ago(days: int) -> date:
    return datetime.now(UTC).date() - timedelta(days=days)


def _close(day: date, value: str) -> dict[str, Any]:
    return snapshot_body(positions=2, stop_orders=0, net_liquidation=value,
                         taken_at=datetime(day.year, day.month, day.day, 22, 0, tzinfo=UTC))


def _send(base_url: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
    response = requests.post(base_url + HISTORY, json=body, timeout=30,
                             headers={"Authorization": f"Bearer {key}"})
    response.raise_for_status()
    return response.json()  # type: ignore[no-any-return]


def test_chart_sources_and_reconciliation_table(start_server, open_page, screenshot) -> None:
    server = start_server()
    server.create_user("history@example.com", PASSWORD)
    _, key = server.pair("history@example.com", hostname="HISTORY-PC")
    post_heartbeat(server.base_url, key)
    # Live end-of-day snapshots on three days, and the current one.
    older, newer, matching = _days_ago(5), _days_ago(3), _days_ago(2)
    for day in (older, newer, matching):
        post_snapshot(server.base_url, key, _close(day, "100000.00"))
    post_snapshot(server.base_url, key, snapshot_body(positions=2, stop_orders=0,
                                                      net_liquidation="101000.00"))
    # A year of gateway NAVs, then Flex for the last week with positions.
    # (On the live days they agree with the live closes: no difference from the gateway.)
    year = [_days_ago(days) for days in range(365, 0, -1)]
    live_days = {older, newer, matching}
    answer = _send(server.base_url, key, {"source": "gateway", "accounts": [{
        "account_id": "U1000000", "base_currency": "USD",
        "days": [{"report_date": day.isoformat(),
                  "nav": "100000.00" if day in live_days else f"{90000 + index * 25}.00"}
                 for index, day in enumerate(year)]}]})
    assert answer["with_live_data"] == 3 and answer["differences"] == 0
    assert answer["stored"] == 365
    held = [{"conid": 265598, "symbol": "SYM0", "quantity": "100"},
            {"conid": 265599, "symbol": "SYM1", "quantity": "101"}]
    flex_days = []
    for days in range(7, 0, -1):
        day = _days_ago(days)
        nav = {older: "100250.00", newer: "99000.00"}.get(day, "100000.00")
        positions = ([{"conid": 265598, "symbol": "SYM0", "quantity": "100"},
                      {"conid": 265599, "symbol": "SYM1", "quantity": "95"}]
                     if day == newer else held)
        flex_days.append({"report_date": day.isoformat(), "nav": nav, "positions": positions})
    answer = _send(server.base_url, key, {"source": "flex", "accounts": [{
        "account_id": "U1000000", "base_currency": "USD", "days": flex_days}]})
    assert answer == {"source": "flex", "stored": 7, "already_present": 0,
                      "with_live_data": 3, "differences": 2}

    page: Any = open_page(base_url=server.base_url)
    sign_in(page, server.base_url, "history@example.com")
    page.locator("nav.chart-ranges").get_by_role("link", name="1Y").click()
    page.wait_for_url("**/profile/ibkr?range=1Y")
    figure = page.locator("figure.chart-figure").first
    expect(figure).to_be_visible()
    sources = figure.locator("[data-field='chart-sources'] li")
    expect(sources).to_have_count(3)
    expect(sources.nth(0)).to_contain_text("Live")
    expect(sources.nth(1)).to_contain_text("Gateway history")
    expect(sources.nth(2)).to_contain_text("Flex statement")
    # The year is drawn (thinned to the chart's 250 points a series): gateway days as hollow
    # circles, Flex days as squares.
    assert figure.locator("circle.marker-gateway").count() > 150
    assert figure.locator("rect.marker-flex").count() >= 1
    figure.locator("details.chart-data summary").click()
    expect(figure.locator("td[data-source='flex']").first).to_have_text("Flex statement")

    table = page.locator("#reconciliation-table")
    expect(table).to_be_visible()
    rows = table.locator("tbody tr")
    expect(rows).to_have_count(3)
    # Newest day first: the quantity and NAV of `newer`, then the NAV of `older`.
    expect(rows.nth(0)).to_have_attribute("data-day", newer.isoformat())
    expect(rows.nth(0)).to_contain_text("Net asset value")
    expect(rows.nth(0).locator("[data-field='live']")).to_have_text("100,000.00 USD")
    expect(rows.nth(0).locator("[data-field='history']")).to_have_text("99,000.00 USD")
    expect(rows.nth(1)).to_contain_text("Quantity of SYM1")
    expect(rows.nth(1).locator("[data-field='live']")).to_have_text("101")
    expect(rows.nth(1).locator("[data-field='history']")).to_have_text("95")
    expect(rows.nth(2)).to_have_attribute("data-day", older.isoformat())
    expect(rows.nth(2).locator("[data-field='history']")).to_have_text("100,250.00 USD")
    expect(table).not_to_contain_text(matching.isoformat())
    screenshot(page, "19-daily-history-reconciliation")
