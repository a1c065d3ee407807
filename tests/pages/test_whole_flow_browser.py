"""The whole journey in headless chromium with real parts: a live gunicorn server, the IBKR
gateway simulator over HTTPS, and the real connector CLI (`ibkr-connector run` and `pair`).

Sign in → download details (and the bytes hash to the SHA-256 shown) → generate a token →
`ibkr-connector pair TOKEN` → the connector shows online with the simulator's positions and
working stop orders → the gateway logs out → "Gateway needs login" with its troubleshooting →
revoke → the connector reports needs_token. A screenshot is saved in each state.
"""

from __future__ import annotations

import hashlib
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.pages.conftest import SLOW_EXPECT_MS
from tests.pages.helpers import PASSWORD, Connector, sign_in
from tests.support.waiting import wait_until

STOP_TYPES = {"stop", "stop limit", "trailing_stop", "trailing_stop_limit", "stp", "stop_limit",
              "trail", "traillmt"}
WORKING = {"submitted", "presubmitted", "pendingsubmit"}
INSTALLER_VERSION = "1.4.2"


def working_stop_order_ids(account: dict[str, Any]) -> set[str]:
    """The simulator's orders a connector must deliver: stop types that still work."""
    return {str(order["orderId"]) for order in account["orders"]
            if str(order["orderType"]).lower() in STOP_TYPES
            and str(order["status"]).lower() in WORKING}


def page_number(text: str) -> Decimal:
    """A number as the page prints it (`1,250`, `-3.5`)."""
    return Decimal(text.replace(",", "").strip())


def wait_for_connector_state(connector: Connector, wanted: str, timeout_s: float = 60) -> dict:
    """Poll `ibkr-connector status --json` until it reports `wanted` (or fail with the log)."""
    status: dict[str, Any] = {}

    def reached() -> dict[str, Any] | None:
        status.update(connector.status())
        return status if status["state"] == wanted else None

    return wait_until(reached, timeout_s, lambda: f"the connector to be {wanted!r}, not "
                      f"{status.get('state')!r}\n{connector.log_tail()}", interval_s=0.5)


@pytest.mark.slow
def test_whole_flow_with_real_connector_and_simulator(
        tmp_path: Path, start_server, open_page, screenshot, gateway_sim_factory):
    installer = tmp_path / "VeracityIBKRConnector-Setup.exe"
    installer.write_bytes(hashlib.sha256(b"seed").digest() * 8000)
    expected_sha256 = hashlib.sha256(installer.read_bytes()).hexdigest()
    server = start_server(env={
        "IBKR_CONNECTOR_WINDOWS_FILE": str(installer),
        "IBKR_CONNECTOR_WINDOWS_VERSION": INSTALLER_VERSION,
        "IBKR_CONNECTOR_WINDOWS_PUBLISHED_AT": "2026-11-20T09:30:00Z",
        "IBKR_CONNECTOR_WINDOWS_NOTES": "Faster first sync; clearer gateway login messages.",
        "IBKR_CONNECTOR_WINDOWS_RELEASE_NOTES_URL": "https://veracity.example/releases/1.4.2",
    })
    server.create_user("flow@example.com", PASSWORD)
    # A long idle timeout: the session should end only when this test logs the gateway out.
    sim = gateway_sim_factory(idle_timeout_s=600)
    sim.control.login()
    connector = Connector(home=tmp_path / "connector", veracity_url=server.base_url,
                          gateway_url=sim.base_url, log_path=tmp_path / "connector.log")

    page: Any = open_page(base_url=server.base_url)
    sign_in(page, server.base_url, "flow@example.com")

    # Download card: metadata from the download endpoint; the file served hashes to it.
    card = page.locator("#download-card")
    expect(card.locator("[data-field='version']")).to_have_text(INSTALLER_VERSION)
    expect(card.locator("[data-field='sha256']")).to_have_text(expected_sha256)
    expect(card.locator("[data-field='size']")).to_contain_text(
        f"{installer.stat().st_size:,} bytes")
    expect(card.locator("[data-field='published_at']")).to_have_text("20 November 2026")
    expect(card.get_by_text("Faster first sync")).to_be_visible()
    expect(card.get_by_role("link", name="Release notes")).to_have_attribute(
        "href", "https://veracity.example/releases/1.4.2")
    card.get_by_role("button", name="Copy SHA-256 checksum").click()
    assert page.evaluate("navigator.clipboard.readText()") == expected_sha256
    with page.expect_download() as download_info:
        card.get_by_role("link", name=f"Download version {INSTALLER_VERSION} for Windows").click()
    downloaded = Path(download_info.value.path())
    assert hashlib.sha256(downloaded.read_bytes()).hexdigest() == expected_sha256

    with connector.running():
        wait_for_connector_state(connector, "needs_token")
        page.get_by_role("button", name="Generate token").click()
        token_input = page.locator("#token-value")
        expect(token_input).to_have_value(re.compile(r"^vct_\S{20,}$"))
        token = token_input.input_value()
        countdown = page.locator("[data-field='countdown']")
        expect(countdown).to_have_text(re.compile(r"^(10:00|9:[0-5]\d)$"))
        first_reading = countdown.inner_text()
        expect(countdown).not_to_have_text(first_reading)  # it counts down live
        page.get_by_role("button", name="Copy token").click()
        assert page.evaluate("navigator.clipboard.readText()") == token
        assert token not in page.url
        screenshot(page, "02-waiting-for-pairing")

        paired = connector.cli("pair", token)
        assert paired.returncode == 0, paired.stdout + paired.stderr
        assert token not in paired.stdout

        # The page notices the new connector by itself (polling) and hides the used token.
        expect(page.locator("#token-paired")).to_contain_text("Paired with",
                                                               timeout=SLOW_EXPECT_MS)
        expect(page.locator("#token-panel")).to_be_hidden()
        item = page.locator("li[data-connector-id]")
        expect(item.locator("[data-field='status-badge']")).to_have_text("Online",
                                                                         timeout=SLOW_EXPECT_MS)
        expect(item.locator("[data-field='gateway']")).to_have_text(
            f"Gateway connected and logged in (port {sim.port})", timeout=SLOW_EXPECT_MS)

        # Positions and working stop orders on the page match the simulator's book.
        sim_accounts = sim.control.state()["accounts"]
        for account in sim_accounts:
            section = page.locator(f"section.account[data-account-id='{account['account_id']}']")
            expect(section).to_be_visible(timeout=SLOW_EXPECT_MS)
            rows = section.locator("table.positions tbody tr")
            expect(rows).to_have_count(len(account["positions"]), timeout=SLOW_EXPECT_MS)
            shown = dict(zip(rows.evaluate_all("rows => rows.map(row => row.dataset.conid)"),
                             section.locator("table.positions [data-field='quantity']")
                             .all_inner_texts(), strict=True))
            expected = {str(position["conid"]): Decimal(str(position["position"]))
                        for position in account["positions"]}
            assert {conid: page_number(text) for conid, text in shown.items()} == expected
            order_ids = set(section.locator("table.stop-orders tbody tr").evaluate_all(
                "rows => rows.map(row => row.dataset.orderId)"))
            assert order_ids == working_stop_order_ids(account)
            assert order_ids, "the demo book has working stop orders in every account"
        # A protected long stock: the page shows quantity x (price - stop) from the sim's data.
        first = sim_accounts[0]
        stop = next(order for order in first["orders"] if order["orderType"] == "Stop"
                    and str(order["status"]).lower() in WORKING and order["side"] == "SELL"
                    and any(p["conid"] == order["conid"] and p["position"] > 0 and
                            p["assetClass"] == "STK" for p in first["positions"]))
        position = next(p for p in first["positions"] if p["conid"] == stop["conid"])
        at_risk = (Decimal(str(position["position"])) * (Decimal(str(position["mktPrice"]))
                   - Decimal(stop["stop_price"]))).quantize(Decimal("0.01"))
        row = page.locator(f"section.account[data-account-id='{first['account_id']}'] "
                           f"table.positions tr[data-conid='{stop['conid']}']")
        expect(row.locator("[data-field='at-risk']")).to_have_text(f"{at_risk:,.2f} USD")
        expect(page.locator("#last-sync")).to_contain_text("Last sync:")
        expect(page.locator("figure.chart-figure svg[role='img']").first).to_be_visible()
        screenshot(page, "03-syncing")

        # The gateway session ends: the connector says so, the page explains what to do.
        sim.control.logout()
        expect(item.locator("[data-field='gateway']")).to_have_text(
            f"Gateway needs login — open https://localhost:{sim.port} on that machine",
            timeout=SLOW_EXPECT_MS)
        trouble = page.locator("#trouble-gateway-login")
        expect(trouble).to_have_attribute("open", "")
        expect(trouble).to_contain_text("Affects")
        screenshot(page, "04-gateway-needs-login")
        # Revoke with confirmation; the connector learns it at its next call (a heartbeat
        # carries on while the gateway waits for its login).
        item.get_by_role("button", name=re.compile("^Revoke connector on ")).click()
        page.locator("#revoke-dialog").get_by_role("button", name="Revoke connector").click()
        expect(item.locator("[data-field='status-badge']")).to_have_text("Revoked")
        expect(page.locator("#trouble-invalid-key")).to_have_attribute("open", "")
        screenshot(page, "05-revoked")
        status = wait_for_connector_state(connector, "needs_token")
        assert status["paired"] is False
