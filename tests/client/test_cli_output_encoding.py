"""Output in a code page without '→' (cp1252: Windows, output to a pipe or a file) never crashes
a command: the character becomes '?'. tests/windows checks the same under wine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.processes import free_port


def run_in_cp1252(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("VERACITY_", "IBKR_", "PYTHONUTF8"))}
    env.update({"PYTHONIOENCODING": "cp1252", "IBKR_CONNECTOR_HOME": str(tmp_path / "home"),
                "IBKR_CONNECTOR_KEY_STORE": "file",
                "VERACITY_URL": f"http://127.0.0.1:{free_port()}",
                "IBKR_GATEWAY_URL": f"https://127.0.0.1:{free_port()}"})
    return subprocess.run([sys.executable, "-m", "veracity_connector", *args], env=env,
                          capture_output=True, timeout=120, check=False)


@pytest.mark.parametrize("args", [("doctor",), ("pair", "--help")], ids=["doctor", "pair-help"])
def test_a_character_cp1252_lacks_is_replaced_not_fatal(tmp_path: Path, args: tuple[str, ...]
                                                        ) -> None:
    result = run_in_cp1252(tmp_path, *args)
    output = result.stdout.decode("cp1252")
    assert "UnicodeEncodeError" not in output + result.stderr.decode("cp1252"), output
    assert "Profile ? IBKR Integration" in output  # the arrow, replaced
    if args == ("doctor",):
        assert result.returncode == 1 and "problem(s) found." in output  # it got to the end
    else:
        assert result.returncode == 0


def test_unpair_with_a_stored_key_in_cp1252(tmp_path: Path) -> None:
    key_file = tmp_path / "home" / "data" / "connector-key"
    key_file.parent.mkdir(parents=True)
    key_file.write_text("vck_" + "s" * 43)
    result = run_in_cp1252(tmp_path, "unpair")
    output = result.stdout.decode("cp1252")
    assert result.returncode == 0, output + result.stderr.decode("cp1252")
    assert "Unpaired: the key was deleted" in output and "Profile ? IBKR Integration" in output
    assert not key_file.exists()
