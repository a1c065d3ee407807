"""Fair delivery: a backlog of 1,000 snapshots drains while the gateway tickle and the heartbeat
keep their schedule — the simulator's session lapses after a few seconds without a request, and
it never does."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

from tests.client.engine_kit import SMALL_BOOK, new_user
from tests.support.server_fixtures import snapshot_body, start_live_server
from tests.support.waiting import wait_until
from veracity_connector.credentials import FileStore
from veracity_connector.engine import Engine
from veracity_connector.settings import Settings

BACKLOG = 1000
IDLE_TIMEOUT_S = 4  # the simulator drops a session left this long without a request


def test_a_backlog_of_a_thousand_drains_without_a_missed_tickle(simulator, folders, tmp_path):
    simulator.control.configure(idle_timeout_s=IDLE_TIMEOUT_S, preflight_empty_orders=False,
                                positions_cache_s=0)
    simulator.control.set_accounts(SMALL_BOOK)
    with start_live_server(tmp_path / "fair") as live:
        settings = Settings(veracity_url=live.base_url, gateway_url=simulator.base_url,
                            key_store="file", tickle_interval_s=1, heartbeat_interval_s=2,
                            # Room for the backlog and the engine's own first snapshot: the
                            # outbox's bound (drop the oldest) is not what this test is about.
                            snapshot_interval_s=600, outbox_max_count=2 * BACKLOG)
        engine = Engine(settings, folders,
                        credentials=FileStore(folders.data_dir / "connector-key"))
        email = new_user(live)
        assert engine.pair(live.issue_token(email)).ok
        start = datetime.now(UTC) - timedelta(hours=2)
        for number in range(BACKLOG):
            body = snapshot_body(positions=1, stop_orders=0, snapshot_id=str(uuid.uuid4()),
                                 taken_at=start + timedelta(seconds=number))
            engine.outbox.put(body["snapshot_id"], body["taken_at"], json.dumps(body))
        beats_before = engine.counters.heartbeats_sent
        simulator.control.login()  # the idle timeout counts from here: the engine starts now
        started = time.monotonic()
        engine.start()
        try:
            wait_until(lambda: engine.outbox.count() == 0, 300,
                       lambda: f"the backlog to drain ({engine.outbox.count()} left)",
                       interval_s=0.5)
            drained_s = time.monotonic() - started
            session = simulator.control.session()
        finally:
            engine.stop()
    assert engine.counters.snapshots_delivered >= BACKLOG
    assert session["logged_in"] and session["authenticated"], session
    assert not session.get("lapsed_reason"), session  # not one tickle missed long enough
    # The heartbeat kept going too: about one per interval while the backlog drained.
    assert engine.counters.heartbeats_sent - beats_before >= max(1, int(drained_s / 2) - 2)
