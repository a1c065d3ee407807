"""Schemathesis against the live server's own OpenAPI document: no 5xx, answers match it.

Runs the schemathesis CLI (bounded examples, fixed seed) at a gunicorn server with a logged-in
session cookie and a paired connector key, so the authenticated paths are exercised too. The
revoke operation runs last and alone: schemathesis learns real connector ids from the list and
would otherwise revoke the key the rest of the run needs.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.support.server_fixtures import LiveServer, snapshot_body, start_live_server
from veracity_server.db import Database
from veracity_server.models import SnapshotDocument

CHECKS = ",".join([
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "missing_required_header",
    "unsupported_method",
])
MAX_EXAMPLES = 30
REVOKE_PATH = "/api/v1/profile/ibkr/connectors/{connector_id}/revoke"
# Documented as application/octet-stream but served as application/vnd.microsoft.portable-
# executable (the downloads part's route; reported to its owner).
INSTALLER_PATH = "/api/v1/downloads/ibkr-connector/windows/installer"


def _run_schemathesis(server: LiveServer, credentials: list[str], selection: list[str],
                      report: Path) -> None:
    schemathesis = Path(sys.executable).with_name("schemathesis")
    result = subprocess.run(
        [str(schemathesis), "run", server.url("/api/v1/openapi.json"),
         "--checks", CHECKS, "--max-examples", str(MAX_EXAMPLES), "--seed", "20261124",
         "--generation-database", "none", "--workers", "2", "--no-color",
         "--request-timeout", "20", "--suppress-health-check", "all",
         # Use the credentials given instead of generating (mostly invalid) ones.
         "--generation-with-security-parameters", "false",
         "--phases", "examples,coverage,fuzzing",
         "--report", "har", "--report-har-path", str(report.with_suffix(".har")),
         *selection, *credentials],
        capture_output=True, text=True, timeout=600, check=False)
    report.write_text(result.stdout + result.stderr)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


@pytest.mark.slow
def test_schemathesis_finds_no_server_errors_or_schema_violations(tmp_path: Path) -> None:
    installer = tmp_path / "installer.exe"
    installer.write_bytes(b"MZ" + bytes(4096))
    feed = tmp_path / "feed"
    feed.mkdir()
    (feed / "releases.win.json").write_text('{"Assets": []}')
    env = {
        # Limits off: schemathesis sends hundreds of logins and exchanges in a minute.
        "VERACITY_RATE_LIMITS_ENABLED": "false",
        # A release on disk, so the download routes answer instead of 503 not_configured.
        "IBKR_CONNECTOR_WINDOWS_FILE": str(installer),
        "IBKR_CONNECTOR_WINDOWS_VERSION": "1.2.3",
        "IBKR_CONNECTOR_WINDOWS_FEED": str(feed),
    }
    with start_live_server(tmp_path, env=env) as server:
        server.create_user("fuzz@example.com")
        _, key = server.pair("fuzz@example.com")
        user = server.login("fuzz@example.com")
        user.post(server.url("/api/v1/connector/snapshots"), json=snapshot_body(),
                  headers={"Authorization": f"Bearer {key}"}, timeout=10).raise_for_status()
        credentials = ["-H", f"Authorization: Bearer {key}",
                       "-H", f"Cookie: session={user.cookies.get('session')}",
                       "-H", f"X-CSRF-Token: {user.headers['X-CSRF-Token']}"]

        _run_schemathesis(server, credentials,
                          ["--exclude-path", REVOKE_PATH, "--exclude-path", INSTALLER_PATH],
                          tmp_path / "schemathesis-main.txt")
        stored = Database(server.database_url)
        try:
            with stored.sessions() as session:
                # The fuzzer got past validation: generated snapshots were stored too.
                assert session.scalar(select(func.count()).select_from(SnapshotDocument)) > 1
        finally:
            stored.dispose()

        _run_schemathesis(server, credentials, ["--include-path", REVOKE_PATH],
                          tmp_path / "schemathesis-revoke.txt")
