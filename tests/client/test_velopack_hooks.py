"""Velopack's hooks: run once, first, only in a frozen Windows build, and never fatal."""

from __future__ import annotations

import runpy
import sys
import types
from pathlib import Path

import pytest

from veracity_connector.velopack_hooks import run_velopack_hooks

ENTRY = Path(__file__).resolve().parents[2] / "installer" / "windows" / "connector_entry.py"


@pytest.fixture
def fake_velopack(monkeypatch) -> list[str]:
    calls: list[str] = []

    class App:
        def run(self) -> None:
            calls.append("run")
            raise RuntimeError("not installed by Velopack")

    monkeypatch.setitem(sys.modules, "velopack", types.SimpleNamespace(App=App))
    return calls


def test_hooks_run_in_a_frozen_windows_build_and_a_failure_is_not_fatal(fake_velopack,
                                                                        monkeypatch):
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "platform", "win32")
    run_velopack_hooks()
    assert fake_velopack == ["run"]


@pytest.mark.parametrize(("frozen", "platform"), [(False, "win32"), (True, "linux")])
def test_hooks_do_nothing_outside_a_frozen_windows_build(fake_velopack, monkeypatch, frozen,
                                                         platform):
    monkeypatch.setattr(sys, "frozen", frozen, raising=False)
    monkeypatch.setattr(sys, "platform", platform)
    run_velopack_hooks()
    assert fake_velopack == []


def test_the_entry_point_runs_the_hooks_once_before_the_cli(fake_velopack, monkeypatch):
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "platform", "win32")

    def cli_main() -> int:
        fake_velopack.append("cli")
        return 0

    monkeypatch.setattr("veracity_connector.cli.main", cli_main)
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(ENTRY), run_name="__main__")
    assert exit_info.value.code == 0
    assert fake_velopack == ["run", "cli"]
