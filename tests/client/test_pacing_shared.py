"""The pacing file shared by processes: locked, so no two processes take one slot; kept on the
monotonic clock, so a wall clock set back by two hours does not stall the gateway."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from veracity_connector.gateway.pacing import IBKR_ENDPOINT_LIMITS, Pacer

ORDERS = "/iserver/account/orders"
RESERVATIONS_PER_PROCESS = 6
PROCESSES = 4

RESERVE = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from veracity_connector.gateway.pacing import Pacer
    path, start_at = Path(sys.argv[1]), float(sys.argv[2])
    while time.time() < start_at:  # all processes start reserving together
        time.sleep(0.001)
    slots = []
    for _ in range({count}):
        pacer = Pacer(state_path=path)  # a fresh process's view each time, like `sync --once`
        slots.append(pacer.reserve("{path}") - time.monotonic() + time.time())
    print(json.dumps(slots))
""").format(count=RESERVATIONS_PER_PROCESS, path=ORDERS)


def test_processes_reserving_together_never_share_a_slot(tmp_path: Path):
    import time

    state = tmp_path / "pacing.json"
    start_at = time.time() + 1.5
    runs = [subprocess.Popen([sys.executable, "-c", RESERVE, str(state), str(start_at)],
                             stdout=subprocess.PIPE, text=True) for _ in range(PROCESSES)]
    slots: list[float] = []
    for run in runs:
        output, _ = run.communicate(timeout=60)
        assert run.returncode == 0
        slots += json.loads(output)
    slots.sort()
    spacing = Pacer().spacing_for(next(limit for limit in IBKR_ENDPOINT_LIMITS
                                       if limit.name == ORDERS))
    gaps = [later - earlier for earlier, later in itertools.pairwise(slots)]
    # Without the file lock, read-reserve-write races hand two processes the same slot.
    assert min(gaps) >= spacing - 0.05, gaps


class Clocks:
    def __init__(self) -> None:
        self.monotonic, self.wall = 100.0, 1_700_000_000.0


def test_a_wall_clock_set_back_two_hours_costs_no_more_than_the_interval(tmp_path: Path):
    clocks = Clocks()
    state = tmp_path / "pacing.json"
    first = Pacer(state_path=state, clock=lambda: clocks.monotonic,
                  wall_clock=lambda: clocks.wall)
    first.reserve(ORDERS)
    clocks.wall -= 2 * 3600  # set back after the file was written
    second = Pacer(state_path=state, clock=lambda: clocks.monotonic,
                   wall_clock=lambda: clocks.wall)
    wait = second.reserve(ORDERS) - clocks.monotonic
    assert wait == pytest.approx(first.spacing_for(first.limit_for(ORDERS)))  # type: ignore[arg-type]
    # The process that wrote it keeps its own (monotonic) view: one interval, as before.
    assert first.reserve(ORDERS) - clocks.monotonic < 2 * 6.0 + 0.5


def test_a_wall_clock_jump_does_not_move_a_processs_own_slots():
    clocks = Clocks()
    pacer = Pacer(clock=lambda: clocks.monotonic, wall_clock=lambda: clocks.wall)
    first = pacer.reserve(ORDERS)
    clocks.wall += 2 * 3600
    second = pacer.reserve(ORDERS)
    assert second - first == pytest.approx(pacer.spacing_for(pacer.limit_for(ORDERS)))  # type: ignore[arg-type]
