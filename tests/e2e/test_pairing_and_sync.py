"""Pairing with a token and syncing the demo book, through the CLI, against real processes."""

from __future__ import annotations

from datetime import datetime

from tests.e2e.conftest import E2E_EMAIL
from tests.e2e.expectations import expected_accounts, reported_accounts
from tests.support.waiting import wait_until


def portfolio(veracity):
    return veracity.login(E2E_EMAIL).get(veracity.url("/api/v1/profile/ibkr/portfolio"),
                                         timeout=10).json()


def test_pair_then_sync_once_makes_the_server_portfolio_equal_the_gateway(
        connector, veracity, gateway_process):
    assert connector.status()["state"] == "needs_token"
    paired = connector("pair", "-", stdin=veracity.issue_token(E2E_EMAIL) + "\n")
    assert paired.returncode == 0, paired.stdout + paired.stderr
    assert "vck_" not in paired.stdout + paired.stderr  # no command prints a key
    assert connector.key_file.exists()
    assert connector.status()["state"] == "not_running"

    synced = connector("sync", "--once")
    assert synced.returncode == 0, synced.stdout + synced.stderr

    expected = expected_accounts(gateway_process.control.state())
    reported = reported_accounts(portfolio(veracity)["accounts"])
    assert reported == expected  # every account, every position page, only working stops
    assert sorted(len(account["positions"]) for account in reported.values()) == [10, 16, 250]
    counters = gateway_process.control.requests()
    assert counters["refused_429"] == 0
    pages = counters["endpoints"]["/portfolio/{accountId}/positions/{pageId}"]["accepted"]
    assert pages == 3 + 1 + 1  # 250 positions = pages 0-2; a page shorter than 100 is the last

    doctor = connector("doctor")
    assert doctor.returncode == 0, doctor.stdout
    assert "key accepted" in doctor.stdout and "vck_" not in doctor.stdout
    key = connector.key_file.read_text().strip()
    log = connector.log_file.read_text()
    assert key not in log and "vct_" not in log  # keys and tokens never reach the log


def test_bad_tokens_get_clear_answers_and_exit_codes(connector, veracity):
    malformed = connector("pair", "not-a-token")
    assert malformed.returncode == 10 and "vct_" in malformed.stdout
    unknown = connector("pair", "vct_" + "a" * 40)
    assert unknown.returncode == 10 and "does not know this token" in unknown.stdout
    token = veracity.issue_token(E2E_EMAIL)
    assert connector("pair", token).returncode == 0
    reused = connector("pair", token)
    assert reused.returncode == 10 and "already used" in reused.stdout
    assert connector.key_file.exists()  # a refused pairing keeps the working key


def test_a_price_change_reaches_the_server_with_the_next_snapshot(
        connector, veracity, gateway_process):
    control = gateway_process.control
    control.set_accounts([{
        "account_id": "U1", "base_currency": "USD", "cash": {"USD": 500},
        "positions": [{"conid": 9001, "ticker": "ACME", "market_price": 10, "quantity": 3}],
        "orders": [{"conid": 9001, "order_type": "Stop", "aux_price": "9", "quantity": 3}],
    }])
    assert connector("pair", veracity.issue_token(E2E_EMAIL)).returncode == 0
    with connector.start_run():
        wait_until(lambda: portfolio(veracity)["accounts"], 60, "the first snapshot")
        control.set_prices({9001: 12.34})
        changed_at = datetime.now().astimezone()  # every snapshot from here reads 12.34

        def new_price_shown():
            [account] = portfolio(veracity)["accounts"]
            prices = {p["conid"]: p["market_price"] for p in account["positions"]}
            return account if prices[9001] == "12.34" else None

        account = wait_until(new_price_shown, 60, "the new price on the server")
        taken_at = datetime.fromisoformat(account["taken_at"])
        # The first snapshot taken after the change carries it: none in between was stored
        # with the old price (the schedule itself is tested with a fake clock in test_engine).
        [series] = portfolio(veracity)["value_history"]
        between = [point["taken_at"] for point in series["points"]
                   if changed_at < datetime.fromisoformat(point["taken_at"]) < taken_at]
        assert between == []
        assert connector.status()["state"] == "syncing"
