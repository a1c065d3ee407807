"""SQLite writes: the write queue checkpoints the WAL itself, outside the lock writers queue on."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from veracity_server.db import Database, SqliteWriteQueue

ROW_TEXT = "x" * 3000  # about one page per row, so the WAL grows visibly per commit


def _write_rows(database: Database, commits: int) -> None:
    with database.raw_connection() as connection:
        # SQLite's own automatic checkpoint off: only the queue's checkpoints can keep the WAL
        # from growing.
        cursor = connection.cursor()
        cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()
        for _ in range(commits):
            with database.write_transaction(connection) as cursor:
                cursor.executemany("INSERT INTO filler (text) VALUES (?)",
                                   [(ROW_TEXT,)] * 4)


def _wal_size(path: Path) -> int:
    return os.path.getsize(f"{path}-wal")


@pytest.fixture
def sqlite_database(tmp_path: Path) -> Database:
    path = tmp_path / "writes.sqlite3"
    database = Database(f"sqlite:///{path}")
    with database.raw_connection() as connection, (
            database.write_transaction(connection)) as cursor:
        cursor.execute("CREATE TABLE filler (id INTEGER PRIMARY KEY, text TEXT)")
    return database


def test_the_write_queue_checkpoints_so_the_wal_stops_growing(
        sqlite_database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SqliteWriteQueue, "CHECKPOINT_EVERY_COMMITS", 10)
    path = tmp_path / "writes.sqlite3"
    _write_rows(sqlite_database, 25)
    after_first_rounds = _wal_size(path)
    _write_rows(sqlite_database, 100)
    # Each checkpoint copied the WAL back, so later commits reuse the file from its start.
    assert _wal_size(path) == after_first_rounds
    sqlite_database.dispose()


def test_without_the_queue_checkpoints_the_same_writes_grow_the_wal(
        sqlite_database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The control for the test above: the growth it rules out really happens otherwise.
    monkeypatch.setattr(SqliteWriteQueue, "CHECKPOINT_EVERY_COMMITS", 10**9)
    path = tmp_path / "writes.sqlite3"
    _write_rows(sqlite_database, 25)
    after_first_rounds = _wal_size(path)
    _write_rows(sqlite_database, 100)
    assert _wal_size(path) > 3 * after_first_rounds
    sqlite_database.dispose()


def test_a_failed_checkpoint_does_not_fail_the_write(
        sqlite_database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SqliteWriteQueue, "CHECKPOINT_EVERY_COMMITS", 1)
    queue = sqlite_database._write_queue
    assert queue is not None
    with sqlite_database.raw_connection() as connection:
        cursor = connection.cursor()
        # SQLite refuses a checkpoint inside an open transaction ("database table is locked").
        cursor.execute("BEGIN")
        cursor.execute("INSERT INTO filler (text) VALUES ('open')")
        with pytest.raises(sqlite3.OperationalError):
            cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
        queue.checkpoint_when_due(connection)  # the same refusal, swallowed
        cursor.close()
        connection.rollback()
    sqlite_database.dispose()
