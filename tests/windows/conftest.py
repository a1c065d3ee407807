"""The Windows build of the connector under wine, against the Linux server and simulator.

Collected only when named on the command line (`make test-windows` runs `pytest tests/windows`):
the suite shares one wine prefix (its credential vault and registry) and so runs serially.

- `wine_prefix` (session) — `scripts/windows_prefix.py` prepares (or reuses) the cached prefix
  with Windows CPython and the current connector installed; a warm wineserver for the session.
- `windows_server` / `windows_gateway` (session) — the Veracity server under gunicorn and the
  gateway simulator (its own process, HTTPS), on loopback, with a small book so `sync --once`
  is quick.
- `windows_connector` — a `WindowsConnector` with its own home folder (a `Z:\\...` path); the
  Windows credential vault is emptied at the start and after each test that stored a key.
  Call it like the CLI: `windows_connector("doctor", output="file", code_page="cp1252")`.

Output modes: `pipe` (stdout and stderr a pipe), `file` (redirected by `cmd /c ... > file`: wine 8
kills a Windows Python whose stdout is a host file, so the redirection is done on the Windows
side), `console` (a pseudo-terminal via `script`: wine gives Python its console). Code pages:
wine takes the ANSI code page from the Unix locale, so `LC_ALL=en_US.UTF-8` gives cp1252 and the
Unicode-only `hi_IN.UTF-8` gives 65001 (Windows' "use Unicode UTF-8" setting); PYTHONIOENCODING
and PYTHONUTF8 are removed so Python picks its streams' encoding as on a user's machine.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.e2e.conftest import GatewayProcess
from tests.support.server_fixtures import REPO_ROOT, LiveServer, start_live_server
from tests.support.system import require_executable

WINDOWS_EMAIL = "windows@example.com"
SERVICE_NAME = "veracity-ibkr-connector"  # client/veracity_connector/credentials.py
KEY_USERNAME = "connector-key"
CODE_PAGES = {"cp1252": "en_US.UTF-8", "utf-8": "hi_IN.UTF-8"}  # encoding -> LC_ALL for wine
OUTPUTS = ("pipe", "file", "console")
# One account with one position and one working stop: a sync needs only a few paced requests.
SMALL_BOOK = [{
    "account_id": "U7", "base_currency": "EUR", "cash": {"EUR": 1000},
    "positions": [{"conid": 9001, "ticker": "ACME", "market_price": 10, "quantity": 3}],
    "orders": [{"conid": 9001, "order_type": "Stop", "aux_price": "9", "quantity": 3}],
}]
ESCAPE_SEQUENCE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Skip this folder unless a command-line argument points into it (the main suite runs in
    parallel and must not share the wine prefix with it)."""
    here = Path(__file__).parent
    for argument in config.invocation_params.args:
        target = (config.invocation_params.dir / argument.split("::")[0]).resolve()
        if target == here or here in target.parents:
            return None
    return True


def load_prefix_script() -> ModuleType:
    """scripts/windows_prefix.py as a module (scripts/ is not a package)."""
    if "windows_prefix" in sys.modules:
        return sys.modules["windows_prefix"]
    path = REPO_ROOT / "scripts" / "windows_prefix.py"
    spec = importlib.util.spec_from_file_location("windows_prefix", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["windows_prefix"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def wine_prefix() -> Iterator[Any]:
    """The prepared prefix (a `windows_prefix.WinePrefix`), its wineserver warm."""
    require_executable("wine", "wine wine64")
    require_executable("x86_64-w64-mingw32-gcc", "gcc-mingw-w64-x86-64-win32")
    prefix = load_prefix_script().ensure_prefix(REPO_ROOT)
    with prefix.warm_server():
        # The vault lives in the cached prefix: start from an empty one.
        WindowsConnector(prefix, Path(tempfile.gettempdir()), "", "").clear_vault()
        yield prefix


@pytest.fixture(scope="session")
def windows_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with start_live_server(tmp_path_factory.mktemp("windows-server")) as server:
        server.create_user(WINDOWS_EMAIL)
        yield server


@pytest.fixture(scope="session")
def windows_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    gateway = GatewayProcess(tmp_path_factory.mktemp("windows-gateway"), ["--penalty-box", "5"])
    gateway.start()
    try:
        gateway.control.set_accounts(SMALL_BOOK)
        yield gateway
    finally:
        gateway.control.close()
        gateway.stop()


@dataclass
class WineResult:
    """What a Windows command printed (decoded in the code page it ran under) and its exit."""

    returncode: int
    text: str

    @property
    def flat(self) -> str:
        """The text without line breaks (a console wraps long lines at 80 columns)."""
        return re.sub(r"[\r\n]", "", self.text)

    def __str__(self) -> str:
        return f"exit {self.returncode}\n{self.text}"


class WindowsConnector:
    """Runs the Windows `ibkr-connector` (and Windows Python) in the prefix, isolated home."""

    def __init__(self, prefix: Any, home: Path, veracity_url: str, gateway_url: str) -> None:
        self.prefix = prefix
        self.home = home
        self.home_windows = windows_path(home)
        self.vault_used = False  # cleared after the test when a key may have been stored
        self.settings = {"IBKR_CONNECTOR_HOME": self.home_windows, "VERACITY_URL": veracity_url,
                         "IBKR_GATEWAY_URL": gateway_url, "IBKR_CONNECTOR_KEY_STORE": "keyring",
                         "IBKR_CONNECTOR_TICKLE_INTERVAL_S": "2",
                         "IBKR_CONNECTOR_RATE_LIMIT_BACKOFF_S": "3"}

    def env(self, code_page: str) -> dict[str, str]:
        """The environment of one Windows process: no encoding overrides, the code page's
        locale, the connector's settings."""
        base = {name: value for name, value in os.environ.items()
                if name not in {"PYTHONIOENCODING", "PYTHONUTF8", "LANG", "LANGUAGE"}
                and not name.startswith(("LC_", "VERACITY_", "IBKR_"))}
        return {**self.prefix.env(base), "LC_ALL": CODE_PAGES[code_page], **self.settings}

    def run(self, program: list[str], *, output: str = "pipe", code_page: str = "cp1252",
            timeout_s: float = 300) -> WineResult:
        """Run a Windows program with its output to a pipe, a file or a console."""
        env = self.env(code_page)
        if output == "pipe":
            completed = subprocess.run(["wine", *program], env=env, stdin=subprocess.DEVNULL,
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                       timeout=timeout_s, check=False)
            return WineResult(completed.returncode, completed.stdout.decode(code_page))
        if output == "file":
            out_file = self.home / "command-output.txt"
            out_file.unlink(missing_ok=True)
            command_line = subprocess.list2cmdline(program)
            redirected = f"{command_line} > {windows_path(out_file)} 2>&1"
            completed = subprocess.run(["wine", "cmd", "/c", redirected], env=env,
                                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, timeout=timeout_s, check=False)
            written = out_file.read_bytes() if out_file.exists() else b""
            return WineResult(completed.returncode,
                              written.decode(code_page) + completed.stdout.decode(code_page))
        assert output == "console", output
        # A console writes UTF-16 through WriteConsoleW; wine's console renders it as UTF-8.
        completed = subprocess.run(["script", "-qec", shlex.join(["wine", *program]),
                                    "/dev/null"], env=env, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   timeout=timeout_s, check=False)
        return WineResult(completed.returncode,
                          ESCAPE_SEQUENCE.sub("", completed.stdout.decode("utf-8")))

    def __call__(self, *args: str, output: str = "pipe", code_page: str = "cp1252",
                 timeout_s: float = 300) -> WineResult:
        """`ibkr-connector ARGS` (the console script pip made in C:\\Python311\\Scripts)."""
        self.vault_used = self.vault_used or "pair" in args
        return self.run(["ibkr-connector", *args], output=output, code_page=code_page,
                        timeout_s=timeout_s)

    def python(self, code: str) -> WineResult:
        """`python -c CODE` in the prefix (UTF-8 mode: helper output, not a test subject)."""
        return self.run(["python", "-X", "utf8", "-c", code], code_page="utf-8")

    def stored_key(self) -> str | None:
        """The key in the Windows credential vault, read back through keyring."""
        result = self.python(
            "import keyring\n"
            "print(type(keyring.get_keyring()).__name__)\n"
            f"print(keyring.get_password({SERVICE_NAME!r}, {KEY_USERNAME!r}))")
        assert result.returncode == 0, result
        backend, key = result.text.split()[-2:]
        assert backend == "WinVaultKeyring", result
        return None if key == "None" else key

    def store_key(self, key: str) -> None:
        """Put a key into the vault directly (for unpair tests)."""
        self.vault_used = True
        result = self.python("import keyring\n"
                             f"keyring.set_password({SERVICE_NAME!r}, {KEY_USERNAME!r}, {key!r})")
        assert result.returncode == 0, result

    def clear_vault(self) -> None:
        """Remove the connector's key from the vault (the prefix is shared between tests)."""
        result = self.python(
            "import keyring, keyring.errors\n"
            "try:\n"
            f"    keyring.delete_password({SERVICE_NAME!r}, {KEY_USERNAME!r})\n"
            "except keyring.errors.PasswordDeleteError:\n"
            "    pass")
        assert result.returncode == 0, result


def windows_path(path: Path) -> str:
    """`Z:\\...` for a host path (wine maps `/` to drive Z:)."""
    return "Z:" + str(path.resolve()).replace("/", "\\")


@pytest.fixture
def windows_connector(wine_prefix: Any, windows_server: LiveServer,
                      windows_gateway: GatewayProcess, tmp_path: Path
                      ) -> Iterator[WindowsConnector]:
    connector = WindowsConnector(wine_prefix, tmp_path / "connector", windows_server.base_url,
                                 windows_gateway.base_url)
    connector.home.mkdir()
    try:
        yield connector
    finally:
        if connector.vault_used:
            connector.clear_vault()
