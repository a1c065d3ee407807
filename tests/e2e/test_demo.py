"""`make demo` (scripts/demo.py): server + simulator + a paired headless connector that syncs,
a spare pairing token that works, and Ctrl-C stops every process it started."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

from ibkr_gateway_sim.flex.service import DEMO_TOKEN
from tests.support.processes import free_port
from tests.support.waiting import wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_demo_syncs_the_demo_book_and_stops_cleanly(tmp_path):
    port = free_port()
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("VERACITY_", "IBKR_")) and key != "DATABASE_URL"}
    process = subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "scripts" / "demo.py"), "--port", str(port),
         "--gateway-port", str(free_port()),
         "--demo-dir", str(tmp_path / "demo")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        start_new_session=True)
    try:
        lines = []
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if "its log" in line:  # the last line of the connector's summary
                break
        output = "".join(lines)
        gateway_port = int(re.search(r"IBKR gateway simulator\s+https://127\.0\.0\.1:(\d+)",
                                     output).group(1))
        assert "Headless connector" in output and "needs_token" not in output
        assert f"http://127.0.0.1:{port}/profile/ibkr" in output and "demo@example.com" in output
        # The printed token is spare (the demo's connector paired with its own): it still pairs.
        token = next(word for word in output.split() if word.startswith("vct_"))
        exchange = requests.post(f"http://127.0.0.1:{port}/api/v1/connector/exchange",
                                 timeout=10, json={"token": token, "device": {
                                     "hostname": "demo-pc", "platform": "Windows-11",
                                     "connector_version": "1.0.0"}})
        assert exchange.status_code == 201, exchange.text
        session = requests.Session()
        answer = session.post(f"http://127.0.0.1:{port}/api/v1/session", timeout=10,
                              json={"email": "demo@example.com", "password": "veracity-demo"})
        assert answer.status_code == 200

        def synced():
            accounts = session.get(f"http://127.0.0.1:{port}/api/v1/profile/ibkr/portfolio",
                                   timeout=10).json()["accounts"]
            return len(accounts) == 3 and accounts
        accounts = wait_until(synced, 90, "the demo book on the server")
        assert sum(len(account["positions"]) for account in accounts) == 276

        # A year of NAV through the gateway right after pairing (issue 19), on the 1Y chart.
        def year_of_history() -> set[str]:
            series = session.get(f"http://127.0.0.1:{port}/api/v1/profile/ibkr/portfolio",
                                 params={"range": "1Y"}, timeout=10).json()["value_history"]
            days = {point["taken_at"][:10] for entry in series for point in entry["points"]
                    if point["source"] == "gateway"}
            return days if len(days) >= 100 else set()  # the chart thins a year to ~130
        days = wait_until(year_of_history, 120, "a year of gateway history on the 1Y chart")
        assert min(days) < (datetime.now(UTC) - timedelta(days=300)).date().isoformat()
        # Flex with the simulator's demo token, by the command the demo prints.
        words = next(line for line in lines if "add Flex history" in line).split()
        command_at = words.index("ibkr-connector")
        flex_env = dict(word.split("=", 1) for word in words[3:command_at])
        query_id = words[words.index("--query-id") + 1]
        flex_set = subprocess.run(
            [sys.executable, "-m", "veracity_connector", "flex", "set", "--query-id", query_id],
            input=DEMO_TOKEN + "\n", env={**env, **flex_env}, capture_output=True, text=True,
            timeout=120)
        assert flex_set.returncode == 0, flex_set.stdout + flex_set.stderr
        flex_status = subprocess.run([sys.executable, "-m", "veracity_connector", "flex", "status"],
                                     env={**env, **flex_env}, capture_output=True, text=True,
                                     timeout=60)
        assert "set up" in flex_status.stdout and DEMO_TOKEN not in flex_status.stdout, (
            flex_status.stdout)
        # Alerts: the demo's worker sends a test e-mail into the SMTP sink's folder.
        csrf = {"X-CSRF-Token": answer.json()["csrf_token"]}
        saved = session.put(f"http://127.0.0.1:{port}/api/v1/profile/alerts", headers=csrf,
                            timeout=10, json={
                                "email_enabled": True, "email_address": "demo@example.com",
                                "webhook_enabled": False, "webhook_url": None,
                                "silent_after_s": 900, "login_after_s": 300,
                                "competing_after_s": 1800, "update_alerts": True,
                                "schedule_kind": "always", "schedule_days": [0, 1, 2, 3, 4],
                                "schedule_start": "09:30", "schedule_end": "16:00",
                                "schedule_timezone": "America/New_York", "snoozed_until": None})
        assert saved.status_code == 200, saved.text
        queued = session.post(f"http://127.0.0.1:{port}/api/v1/profile/alerts/test",
                              headers=csrf, json={"channel": "email"}, timeout=10)
        assert queued.status_code == 202, queued.text
        mails = wait_until(lambda: list((tmp_path / "demo" / "mail").glob("*test-alert*.eml")),
                           30, "the demo's test e-mail in .demo/mail")
        assert b"To: demo@example.com" in mails[0].read_bytes()
    finally:
        os.killpg(process.pid, signal.SIGINT)
        remaining, _ = process.communicate(timeout=60)
    assert process.returncode == 0, remaining
    assert "stopped." in remaining
    assert not port_open(gateway_port) and not port_open(port)
    status = subprocess.run([sys.executable, "-m", "veracity_connector", "status", "--json"],
                            env={**env, "IBKR_CONNECTOR_HOME": str(tmp_path / "demo" /
                                                                   "connector"),
                                 "IBKR_CONNECTOR_KEY_STORE": "file"},
                            capture_output=True, text=True, check=True)
    assert '"engine_running": false' in status.stdout  # the connector stopped too
