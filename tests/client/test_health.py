"""The health summary the connector sends with its heartbeats: doctor's quick checks, made at
most every few minutes, cut to the contract's limits, and scrubbed of the person (home folder,
user name in paths, secrets) — checked end to end against the real server."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from veracity_connector.credentials import FileStore
from veracity_connector.doctor import Check
from veracity_connector.engine import Engine
from veracity_connector.health import HealthReporter, Scrubber, check_name, summary_of
from veracity_connector.settings import Folders, Settings
from veracity_contract.connector import (
    HEALTH_MAX_CHECKS,
    HEALTH_MESSAGE_MAX_LENGTH,
    HeartbeatRequest,
)

USER = "zelda"


def test_the_scrubber_takes_out_home_folders_user_names_in_paths_and_secrets() -> None:
    posix = Scrubber("/home/zelda", [USER])
    assert posix("/home/zelda/.config/ibkr/settings.json (found)") == \
        "~/.config/ibkr/settings.json (found)"
    assert posix("/mnt/disk/Zelda/clientportal.gw is not a folder") == \
        "/mnt/disk/<user>/clientportal.gw is not a folder"
    assert posix("/srv/zelda") == "/srv/<user>"
    # A word that is the user name but no path is left alone; a longer folder name too.
    assert posix("zelda's gateway at /opt/zeldas/gw") == "zelda's gateway at /opt/zeldas/gw"
    assert posix("key vck_AbC123-_x was refused, token vct_Q9") == \
        "key vck_… was refused, token vct_…"
    windows = Scrubber(r"C:\Users\Zelda", [USER])
    assert windows(r"c:\users\zelda\AppData\Local\ibkr\settings.json") == \
        r"~\AppData\Local\ibkr\settings.json"
    assert windows(r"D:\Backup\ZELDA\gw has no bin/run.bat") == \
        r"D:\Backup\<user>\gw has no bin/run.bat"


def test_the_summary_fits_the_contract() -> None:
    checks = [Check("Gateway Folder", "fail", "x" * 1000, "y" * 1000),
              Check("gateway folder", "warn", "a milder finding"),
              Check("java", "warn", "no Java found", "install Java"),
              Check("Flex/Query!", "strange-level", "odd")]
    checks += [Check(f"extra {number}", "ok", "fine") for number in range(40)]
    summary = summary_of(checks, datetime(2026, 12, 6, 22, tzinfo=UTC), lambda text: text)
    # The contract's own model accepts it (what the server validates).
    HeartbeatRequest.model_validate({"connector_version": "1.0.0",
                                     "gateway": {"state": "ok"}, "health": summary})
    assert len(summary["checks"]) == HEALTH_MAX_CHECKS
    first = summary["checks"][0]
    assert first["name"] == "gateway folder" and first["level"] == "fail"  # the worst kept
    assert len(first["message"]) == HEALTH_MESSAGE_MAX_LENGTH and first["message"].endswith("…")
    assert summary["checks"][2] == {"name": "flex-query", "level": "warn", "message": "odd",
                                    "fix": ""}
    assert summary["checked_at"] == "2026-12-06T22:00:00Z"
    assert check_name("  ") == "check"


def test_the_checks_run_once_per_refresh_interval_and_a_broken_one_is_reported() -> None:
    now = [0.0]
    calls = []

    def quick() -> list[Check]:
        calls.append(now[0])
        return [Check("settings", "ok", "found")]

    def broken() -> list[Check]:
        raise OSError("disk away")

    reporter = HealthReporter([quick, broken], clock=lambda: now[0], refresh_s=300,
                              scrub=lambda text: text)
    first = reporter.summary()
    assert first is not None
    assert [check["name"] for check in first["checks"]] == ["settings", "broken"]
    assert first["checks"][1]["level"] == "warn"
    for second in (1, 60, 299):
        now[0] = second
        assert reporter.summary() is first
    now[0] = 300
    reporter.summary()
    assert calls == [0.0, 300] and reporter.runs == 2
    reporter.add_source(lambda: [Check("flex", "ok", "query answered")])
    summary = reporter.summary()
    assert summary is not None and summary["checks"][-1]["name"] == "flex"
    assert HealthReporter([], scrub=lambda text: text).summary() is None


def test_a_path_naming_the_user_never_reaches_the_server(simulator, server, tmp_path,
                                                         monkeypatch) -> None:
    home = tmp_path / "home" / USER
    home.mkdir(parents=True)
    for variable in ("USER", "LOGNAME", "USERNAME"):
        monkeypatch.setenv(variable, USER)
    monkeypatch.setenv("HOME", str(home))
    folders = Folders.from_environment({"IBKR_CONNECTOR_HOME": str(home / ".ibkr-connector")})
    # A gateway folder outside the home folder whose path names the user, not unzipped yet.
    gateway_dir = tmp_path / "disk" / USER / "clientportal.gw"
    settings = Settings(veracity_url=server.base_url, gateway_url=simulator.base_url,
                        key_store="file", rate_limit_backoff_s=1, gateway_dir=str(gateway_dir))
    engine = Engine(settings, folders, credentials=FileStore(folders.data_dir / "connector-key"),
                    clock=lambda: 1_700_000_000.0)
    server.create_user("health@example.com")
    simulator.control.login()
    assert engine.pair(server.issue_token("health@example.com")).ok
    engine.step()
    assert engine.counters.heartbeats_sent >= 1
    session = server.login("health@example.com")
    [connector] = session.get(server.url("/api/v1/profile/ibkr/connectors"), timeout=10).json()[
        "connectors"]
    answer = session.get(server.url(f"/api/v1/profile/ibkr/connectors/{connector['id']}/events"),
                         timeout=10).json()
    health = answer["health"]
    text = json.dumps(health)
    assert USER not in text.lower() and str(home) not in text
    by_name = {check["name"]: check for check in health["checks"]}
    assert by_name["settings"]["message"].startswith("~/.ibkr-connector/")
    assert by_name["gateway folder"]["level"] == "fail"
    assert "/disk/<user>/clientportal.gw is not a folder" in by_name["gateway folder"]["message"]
    assert by_name["gateway folder"]["fix"].startswith("download clientportal.gw.zip")
    assert by_name["key"]["level"] == "ok"
    # The Profile page shows it with the fix line.
    page = session.get(server.url("/profile/ibkr"), timeout=10).text
    assert "Fix: download clientportal.gw.zip from IBKR" in page
    assert Path(gateway_dir).name in page and USER not in page.lower().replace(
        "health@example.com", "")
