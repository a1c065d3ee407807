"""`scripts/demo.py` (what `make demo` runs): it serves, and the token it prints pairs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import requests

from tests.support.processes import free_port
from tests.support.server_fixtures import REPO_ROOT


def test_demo_prints_a_working_token_and_login(tmp_path: Path) -> None:
    port = free_port()
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("VERACITY_") and key != "DATABASE_URL"}
    process = subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "scripts" / "demo.py"), "--port", str(port),
         "--gateway-port", str(free_port()),
         "--demo-dir", str(tmp_path / "demo")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        start_new_session=True)
    try:
        lines = []
        assert process.stdout is not None
        for line in process.stdout:  # the summary ends with the pair command
            lines.append(line)
            if "ibkr-connector pair" in line:
                break
        output = "".join(lines)
        token = next(word for word in output.split() if word.startswith("vct_"))
        base_url = f"http://127.0.0.1:{port}"
        assert base_url in output and "demo@example.com" in output
        exchange = requests.post(f"{base_url}/api/v1/connector/exchange", timeout=10, json={
            "token": token, "device": {"hostname": "demo-pc", "platform": "Windows-11",
                                       "connector_version": "1.0.0"}})
        assert exchange.status_code == 201, exchange.text
        login = requests.post(f"{base_url}/api/v1/session", timeout=10, json={
            "email": "demo@example.com", "password": "veracity-demo"})
        assert login.status_code == 200
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=30)
    assert process.returncode == 0
