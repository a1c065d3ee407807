"""Monotonic scheduling: a wall-clock jump of ±2 hours or a sleep gap brings ONE immediate
re-check of the gateway and Veracity — never a burst, never a stall. The engine runs against
the simulator and the real server; the test owns both of its clocks (monotonic and wall)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.client.engine_kit import new_user, serve_book
from veracity_connector.credentials import FileStore
from veracity_connector.engine import Engine
from veracity_connector.engine.timetable import GAP_THRESHOLD_S, GapDetector
from veracity_connector.settings import Settings
from veracity_connector.state import ConnectorState

BOOK = [{"account_id": "U1", "base_currency": "USD", "cash": {"USD": 1000},
         "positions": [{"conid": 9001, "ticker": "ACME", "market_price": 10.5, "quantity": 3}],
         "orders": []}]


class Clocks:
    """A monotonic clock and a wall clock that the test moves together or apart."""

    def __init__(self) -> None:
        self.monotonic = 5_000.0
        self.wall = 1_700_000_000.0

    def advance(self, seconds: float) -> None:
        """Time passes normally."""
        self.monotonic += seconds
        self.wall += seconds

    def jump_wall(self, seconds: float) -> None:
        """The wall clock is set (by hand, NTP), or the machine slept (Linux: monotonic stops)."""
        self.wall += seconds


@pytest.fixture
def clocks() -> Clocks:
    return Clocks()


@pytest.fixture
def engine(simulator, server, folders, clocks) -> Iterator[Engine]:
    serve_book(simulator, BOOK)
    settings = Settings(veracity_url=server.base_url, gateway_url=simulator.base_url,
                        key_store="file", rate_limit_backoff_s=1)
    built = Engine(settings, folders, credentials=FileStore(folders.data_dir / "connector-key"),
                   clock=lambda: clocks.monotonic, wall_clock=lambda: clocks.wall)
    email = new_user(server, "gaps")
    assert built.pair(server.issue_token(email)).ok
    built.step()  # everything is due at first: tickle, snapshot, delivery, heartbeat
    assert built.status.state is ConnectorState.SYNCING
    yield built
    built.gateway.close()


def activity(engine: Engine, simulator) -> tuple[int, int, int]:
    """(tickles the gateway got, heartbeats Veracity accepted, snapshots taken)."""
    return (simulator.control.endpoint("/tickle")["count"], engine.counters.heartbeats_sent,
            engine.counters.snapshots_taken)


@pytest.mark.parametrize("jump_s", [2 * 3600, -2 * 3600], ids=["forward-2h", "back-2h"])
def test_a_wall_clock_jump_brings_one_recheck_then_the_usual_schedule(engine, simulator,
                                                                      clocks, jump_s):
    tickles, heartbeats, snapshots = activity(engine, simulator)
    clocks.advance(5)
    clocks.jump_wall(jump_s)
    engine.step()
    # One tickle and one heartbeat, now; the snapshot keeps its time (not due yet).
    assert activity(engine, simulator) == (tickles + 1, heartbeats + 1, snapshots)
    for _ in range(3):  # stepping on finds nothing due: no burst of catching up
        engine.step()
    assert activity(engine, simulator) == (tickles + 1, heartbeats + 1, snapshots)
    assert engine.seconds_until_due() > 50
    # The schedule runs on from the re-check: neither bunched (forward) nor stalled (back).
    clocks.advance(60)
    engine.step()
    assert activity(engine, simulator)[:2] == (tickles + 2, heartbeats + 2)
    clocks.advance(60)
    engine.step()
    assert activity(engine, simulator)[2] == snapshots + 1  # 120 s after the first: on time


def test_a_sleep_gap_rechecks_once(engine, simulator, clocks):
    """Linux/macOS: the monotonic clock stopped while the machine slept 3 hours."""
    tickles, heartbeats, snapshots = activity(engine, simulator)
    clocks.jump_wall(3 * 3600)
    engine.step()
    engine.step()
    assert activity(engine, simulator) == (tickles + 1, heartbeats + 1, snapshots)


def test_no_gap_no_extra_check(engine, simulator, clocks):
    before = activity(engine, simulator)
    clocks.advance(10)
    clocks.jump_wall(GAP_THRESHOLD_S / 2)  # NTP-sized: ignored
    engine.step()
    assert activity(engine, simulator) == before


def test_a_wait_far_longer_than_asked_is_a_gap():
    """Windows: the monotonic clock runs on through sleep, so only the wait's length tells."""
    clocks = Clocks()
    detector = GapDetector(lambda: clocks.monotonic, lambda: clocks.wall)
    clocks.advance(15)
    assert detector.check(expected_s=15) is None
    clocks.advance(3600)
    assert detector.check(expected_s=15) == pytest.approx(3585)
    clocks.advance(20)  # a slow step: within the tolerance
    assert detector.check(expected_s=0) is None
