"""Helpers for the page tests: sign in through the real form, run the real connector CLI,
and build contract-conformant snapshots for tests whose subject is only the page."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from playwright.sync_api import expect

from tests.support.processes import running_process

PASSWORD = "correct horse battery staple"


def sign_in(page: Any, base_url: str, email: str, password: str = PASSWORD) -> None:
    """Open the profile page, get sent to the sign-in form, sign in, land on the profile page."""
    page.goto(f"{base_url}/profile/ibkr")
    page.wait_for_url("**/login?next=/profile/ibkr")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/profile/ibkr")
    wait_until_settled(page)


def wait_until_settled(page: Any) -> None:
    """Wait for the page's download lookup to finish (`aria-busy` off on its card).

    Its answer replaces the card's one-line "Looking up…" with a taller notice or the release's
    facts, moving everything below it: a click aimed at the Generate button while that lands
    hits where the button was (a lost click in a loaded CI run).
    """
    expect(page.locator("#download-card")).to_have_attribute("aria-busy", "false")


@dataclass
class Connector:
    """The real connector CLI (`ibkr-connector`) with its own config, data and key folders."""

    home: Path
    veracity_url: str
    gateway_url: str
    log_path: Path

    @property
    def env(self) -> dict[str, str]:
        """Isolated folders, a 0600 key file (no OS keyring here), short intervals for tests."""
        return {
            **os.environ,
            "IBKR_CONNECTOR_HOME": str(self.home),
            "VERACITY_URL": self.veracity_url,
            "IBKR_GATEWAY_URL": self.gateway_url,
            "IBKR_CONNECTOR_KEY_STORE": "file",
            "IBKR_CONNECTOR_HEARTBEAT_INTERVAL_S": "1",
            "IBKR_CONNECTOR_SNAPSHOT_INTERVAL_S": "2",
            "IBKR_CONNECTOR_TICKLE_INTERVAL_S": "30",
        }

    @staticmethod
    def command() -> list[str]:
        """The installed `ibkr-connector` script (as users run it), else `-m veracity_connector`."""
        script = Path(sys.executable).with_name("ibkr-connector")
        return [str(script)] if script.exists() else [sys.executable, "-m", "veracity_connector"]

    def cli(self, *args: str, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
        """Run one connector command to completion."""
        return subprocess.run([*self.command(), *args], env=self.env,
                              capture_output=True, text=True, timeout=timeout_s, check=False)

    def status(self) -> dict[str, Any]:
        """`ibkr-connector status --json`, parsed."""
        result = self.cli("status", "--json")
        assert result.returncode == 0, result.stdout + result.stderr
        return json.loads(result.stdout)  # type: ignore[no-any-return]

    @contextlib.contextmanager
    def running(self) -> Iterator[subprocess.Popen]:
        """`ibkr-connector run` in the background for the `with` block."""
        with running_process([*self.command(), "run"], env=self.env,
                             log_path=self.log_path) as process:
            yield process

    def log_tail(self) -> str:
        """The end of the running connector's output, for failure messages."""
        return self.log_path.read_text(errors="replace")[-3000:] if self.log_path.exists() else ""


def post_snapshot(base_url: str, key: str, body: dict[str, Any]) -> None:
    """Send one snapshot as a connector would (contract-conformant HTTP)."""
    response = requests.post(f"{base_url}/api/v1/connector/snapshots", json=body,
                             headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert response.status_code in (200, 201), response.text


def post_heartbeat(base_url: str, key: str, gateway_state: str = "ok",
                   port: int = 5000) -> None:
    """Send one heartbeat as a connector would."""
    response = requests.post(f"{base_url}/api/v1/connector/heartbeat", json={
        "connector_version": "1.0.0", "uptime_s": 42, "last_snapshot_at": None,
        "gateway": {"state": gateway_state, "message": None, "port": port}},
        headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert response.status_code == 200, response.text


def two_currency_snapshot(taken_at: datetime, usd_value: str = "125430.55",
                          eur_value: str = "48210.10") -> dict[str, Any]:
    """Two accounts (USD, EUR): a stock with a stop, an option, a short with a BUY stop, and a
    position with no stop at all."""
    def position(conid: int, symbol: str, quantity: str, price: str, value: str,
                 asset_class: str = "STK", currency: str = "USD",
                 description: str | None = None) -> dict[str, Any]:
        return {"conid": conid, "symbol": symbol, "description": description or f"{symbol} Inc",
                "asset_class": asset_class, "quantity": quantity, "market_price": price,
                "market_value": value, "average_cost": price, "unrealized_pnl": "125.50",
                "currency": currency, "multiplier": None}

    def stop(order_id: str, conid: int, symbol: str, side: str, quantity: str,
             stop_price: str | None, order_type: str = "Stop",
             trailing: tuple[str, str] | None = None) -> dict[str, Any]:
        return {"order_id": order_id, "conid": conid, "symbol": symbol, "side": side,
                "order_type": order_type, "quantity": quantity, "stop_price": stop_price,
                "limit_price": None, "trailing_amount": trailing[0] if trailing else None,
                "trailing_unit": trailing[1] if trailing else None, "time_in_force": "GTC",
                "status": "Submitted"}

    return {
        "snapshot_id": str(uuid.uuid4()),
        "taken_at": taken_at.isoformat().replace("+00:00", "Z"),
        "accounts": [
            {"account_id": "U1234567", "base_currency": "USD", "net_liquidation": usd_value,
             "cash": "10250.00", "positions": [
                 position(265598, "AAPL", "100", "187.12", "18712.00"),
                 position(4815747, "NVDA", "-50", "120.00", "-6000.00"),
                 position(500001, "AAPL 241220C00200000", "2", "3.50", "700.00", "OPT",
                          description="AAPL Dec20'24 200 CALL"),
                 position(756733, "SPY", "30", "450.25", "13507.50"),
             ], "stop_orders": [
                 stop("1001", 265598, "AAPL", "SELL", "100", "170.05"),
                 stop("1002", 4815747, "NVDA", "BUY", "50", "130.00", "Stop Limit"),
                 stop("1003", 500001, "AAPL 241220C00200000", "SELL", "2", None,
                      "TRAILING_STOP", ("0.50", "amount")),
             ]},
            {"account_id": "DU7654321", "base_currency": "EUR", "net_liquidation": eur_value,
             "cash": "1500.00", "positions": [
                 position(14094, "SAP", "40", "180.00", "7200.00", currency="EUR"),
             ], "stop_orders": [
                 stop("2001", 14094, "SAP", "SELL", "40", "171.00"),
             ]},
        ],
    }


def seed_portfolio(base_url: str, key: str, points: int = 6) -> None:
    """A few snapshots an hour apart (a value history for the chart), newest last."""
    now = datetime.now(UTC)
    for index in range(points):
        taken = now - timedelta(hours=points - 1 - index)
        post_snapshot(base_url, key, two_currency_snapshot(
            taken, usd_value=f"{120000 + index * 1100 + (index % 2) * 700}.55",
            eur_value=f"{47000 + index * 250}.10"))
