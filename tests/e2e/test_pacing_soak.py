"""A 10-minute compressed run of the demo scenario: the connector never gets a 429 and keeps
every per-endpoint limit, as counted by the simulator. The connector's intervals are compressed
(snapshots back to back, tickle every 5 s); the simulator's pacing is IBKR's, unchanged."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import E2E_EMAIL
from tests.support.waiting import wait_until

SOAK_SECONDS = float(os.environ.get("CONNECTOR_SOAK_SECONDS", "600"))


@pytest.mark.slow
@pytest.mark.timeout(SOAK_SECONDS + 300)
def test_compressed_demo_run_stays_within_every_gateway_limit(connector, veracity,
                                                               gateway_process):
    control = gateway_process.control
    control.configure(price_tick_interval_s=3.0)  # the demo's prices move: snapshots change
    assert connector("pair", veracity.issue_token(E2E_EMAIL)).returncode == 0
    with connector.start_run(IBKR_CONNECTOR_TICKLE_INTERVAL_S="5",
                             IBKR_CONNECTOR_SNAPSHOT_INTERVAL_S="5",
                             IBKR_CONNECTOR_HEARTBEAT_INTERVAL_S="2") as run:
        wait_until(lambda: connector.status()["state"] == "syncing", 120, "syncing",
                   interval_s=0.5)
        # The soak itself: nothing to drive, the connector runs on its own (unless it exits).
        with contextlib.suppress(subprocess.TimeoutExpired):
            run.wait(SOAK_SECONDS)
        assert run.poll() is None, connector.output()
        counters = control.requests()
        status = connector.status()
    # The figures for the report: test-artefacts/ is git-ignored.
    artefacts = Path(__file__).resolve().parents[2] / "test-artefacts"
    artefacts.mkdir(exist_ok=True)
    (artefacts / "connector-soak-requests.json").write_text(json.dumps(counters, indent=2))
    print(json.dumps(counters, indent=2))
    assert counters["refused_429"] == 0, counters
    assert counters["penalty_boxes"] == 0, counters  # the global 10/s was never exceeded
    assert counters.get("peak_per_second", 0) <= 10, counters
    assert counters.get("violations", []) == [], counters
    for endpoint, stats in counters["endpoints"].items():
        assert stats["refused_429"] == 0, endpoint
        limit = stats["limit_min_interval_s"]
        if limit is not None and stats["min_interval_s"] is not None:
            assert stats["min_interval_s"] >= limit, (endpoint, stats)
    orders = counters["endpoints"]["/iserver/account/orders"]
    # The run really pressed on the limits (not a speed check: a third of what the 1-per-5 s
    # orders limit allows, which a connector that kept syncing reaches on any machine).
    assert orders["accepted"] >= SOAK_SECONDS / 5 / 3, orders
    assert status["state"] == "syncing"
    assert status["last_snapshot_at"] is not None
