"""gunicorn.conf.py: the worker type follows the thread count."""

from __future__ import annotations

import runpy

import pytest

from tests.support.server_fixtures import REPO_ROOT


def _config(monkeypatch: pytest.MonkeyPatch, **environ: str) -> dict[str, object]:
    for name in ("VERACITY_THREADS", "WEB_CONCURRENCY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(REPO_ROOT / "gunicorn.conf.py"))


def test_one_thread_per_worker_means_sync_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    config = _config(monkeypatch)
    assert (config["worker_class"], config["threads"]) == ("sync", 1)


def test_more_threads_mean_gthread_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    config = _config(monkeypatch, VERACITY_THREADS="4", WEB_CONCURRENCY="3")
    assert (config["worker_class"], config["threads"], config["workers"]) == ("gthread", 4, 3)
