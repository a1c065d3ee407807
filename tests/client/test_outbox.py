"""The outbox keeps snapshots in order across restarts, bounded, oldest dropped first."""

from __future__ import annotations

import logging

from veracity_connector.outbox import Outbox, OutboxLimits


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_fifo_order_survives_reopening(tmp_path):
    path = tmp_path / "outbox.sqlite3"
    outbox = Outbox(path)
    for index in range(5):
        outbox.put(f"id-{index}", f"2026-01-01T00:00:0{index}+00:00", f'{{"n": {index}}}')
    reopened = Outbox(path)
    assert [item.snapshot_id for item in reopened.oldest(10)] == [f"id-{i}" for i in range(5)]
    reopened.remove("id-0")
    assert reopened.oldest(1)[0].snapshot_id == "id-1"
    assert reopened.count() == 4


def test_same_snapshot_twice_is_stored_once(tmp_path):
    outbox = Outbox(tmp_path / "o.sqlite3")
    outbox.put("same", "t", "{}")
    outbox.put("same", "t", "{}")
    assert outbox.count() == 1


def test_count_limit_drops_oldest_with_a_log_line(tmp_path, caplog):
    outbox = Outbox(tmp_path / "o.sqlite3", OutboxLimits(max_count=3))
    with caplog.at_level(logging.WARNING, logger="veracity_connector.outbox"):
        dropped = [outbox.put(f"id-{i}", f"t{i}", "{}") for i in range(5)]
    assert dropped[3] == ["id-0"] and dropped[4] == ["id-1"]
    assert [item.snapshot_id for item in outbox.oldest(10)] == ["id-2", "id-3", "id-4"]
    assert "dropped the oldest snapshot id-0" in caplog.text


def test_byte_limit_drops_oldest_but_keeps_the_newest(tmp_path):
    outbox = Outbox(tmp_path / "o.sqlite3", OutboxLimits(max_bytes=250))
    for index in range(3):
        outbox.put(f"id-{index}", "t", "x" * 100)
    assert [item.snapshot_id for item in outbox.oldest(10)] == ["id-1", "id-2"]
    outbox.put("huge", "t", "y" * 1000)  # alone over the limit: still kept, the rest dropped
    assert [item.snapshot_id for item in outbox.oldest(10)] == ["huge"]


def test_age_limit_drops_stale_snapshots(tmp_path):
    clock = FakeClock()
    outbox = Outbox(tmp_path / "o.sqlite3", OutboxLimits(max_age_s=60), clock=clock)
    outbox.put("old", "t", "{}")
    clock.now += 61
    assert outbox.put("new", "t", "{}") == ["old"]
    assert [item.snapshot_id for item in outbox.oldest(10)] == ["new"]


def test_clear_empties_it(tmp_path):
    outbox = Outbox(tmp_path / "o.sqlite3")
    outbox.put("a", "t", "{}")
    assert outbox.clear() == 1
    assert outbox.count() == 0
