"""The pacer keeps IBKR's limits with a margin and backs off after a 429.

Driven with a fake clock: `reserve()` returns the slot a request would be sent at.
"""

from __future__ import annotations

import threading

import pytest

from veracity_connector.gateway.pacing import IBKR_ENDPOINT_LIMITS, Pacer, PacerStopped


class FakeClock:
    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def make_pacer(clock, **kwargs):
    return Pacer(clock=clock, **kwargs)


def test_global_spacing_keeps_under_ten_per_second():
    clock = FakeClock()
    pacer = make_pacer(clock)
    slots = [pacer.reserve(f"/portfolio/U1/positions/{page}") for page in range(30)]
    for start in range(len(slots)):
        in_one_second = [slot for slot in slots if slots[start] <= slot < slots[start] + 1.0]
        assert len(in_one_second) <= 9


@pytest.mark.parametrize("limit", IBKR_ENDPOINT_LIMITS, ids=lambda limit: limit.name)
def test_each_endpoint_keeps_its_interval_with_margin(limit):
    clock = FakeClock()
    pacer = make_pacer(clock)
    first = pacer.reserve(limit.name)
    pacer.reserve("/portfolio/U1/summary")  # others do not reset the endpoint's spacing
    second = pacer.reserve(limit.name)
    assert second - first > limit.interval_s
    assert second - first <= limit.interval_s * 1.2 + 0.5  # but not absurdly slow


def test_endpoint_matching_ignores_query_and_ids():
    pacer = make_pacer(FakeClock())
    assert pacer.limit_for("/iserver/account/orders").name == "/iserver/account/orders"
    assert pacer.limit_for("/portfolio/U1/positions/0") is None
    assert pacer.limit_for("/portfolio/accounts").interval_s == 5.0


def test_429_blocks_everything_with_doubling_backoff_that_resets_on_success():
    clock = FakeClock()
    pacer = make_pacer(clock, backoff_initial_s=60, backoff_max_s=200)
    assert pacer.rate_limited() == 60
    assert pacer.reserve("/portfolio/U1/summary") >= clock.now + 60
    assert pacer.rate_limited() == 120
    assert pacer.rate_limited() == 200  # capped
    pacer.succeeded()
    assert pacer.rate_limited() == 60
    assert pacer.rate_limited(retry_after_s=500) == 500  # Retry-After wins when longer


def test_reservations_survive_a_restart_through_the_state_file(tmp_path):
    clock = FakeClock()
    path = tmp_path / "pacing.json"
    first = make_pacer(clock, state_path=path).reserve("/portfolio/accounts")
    # A second process (e.g. another `sync --once`) right after: it must wait the interval.
    second = make_pacer(clock, state_path=path).reserve("/portfolio/accounts")
    assert second - first > 5.0


def test_unreadable_state_file_means_waiting_a_full_interval(tmp_path):
    clock = FakeClock()
    path = tmp_path / "pacing.json"
    path.write_text("{not json")
    slot = make_pacer(clock, state_path=path).reserve("/iserver/account/orders")
    assert slot - clock.now > 5.0


def test_stop_interrupts_a_wait():
    stop = threading.Event()
    pacer = Pacer(stop_event=stop, backoff_initial_s=3600)
    pacer.rate_limited()
    stop.set()
    with pytest.raises(PacerStopped):
        pacer.acquire("/tickle")


def test_a_reservation_by_another_running_process_is_respected(tmp_path):
    clock = FakeClock()
    path = tmp_path / "pacing.json"
    long_running = make_pacer(clock, state_path=path)  # e.g. the tray's engine
    long_running.reserve("/tickle")
    short_lived = make_pacer(clock, state_path=path)  # e.g. `doctor`, started meanwhile
    doctor_slot = short_lived.reserve("/tickle")
    engine_slot = long_running.reserve("/tickle")  # must see the doctor's tickle
    assert engine_slot - doctor_slot > 1.0


def test_spacing_counts_from_the_answer_when_a_request_was_slow():
    clock = FakeClock()
    pacer = make_pacer(clock)
    first = pacer.reserve("/iserver/account/orders")
    clock.now = first + 3.0  # a slow answer: the gateway may have counted it only now
    pacer.completed("/iserver/account/orders")
    second = pacer.reserve("/iserver/account/orders")
    assert second - (first + 3.0) > 5.0
