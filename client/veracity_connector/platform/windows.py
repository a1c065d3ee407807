"""Windows: autostart via the per-user Run key, no console windows, tree stops with taskkill
checked by psutil.

The registry module, `os.startfile` and the command runner are constructor arguments, so tests
replace them with fakes (a fake `winreg`) and run these paths on any OS.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path, PureWindowsPath
from types import ModuleType
from typing import TYPE_CHECKING, Any

from veracity_connector.platform.base import (
    AUTOSTART_ENTRY,
    PlatformServices,
    ProcessTreeStopError,
)

if TYPE_CHECKING:
    import psutil

logger = logging.getLogger(__name__)

RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
# Popen creation flags (winbase.h). Spelled out because `subprocess` only defines them on Windows.
CREATE_NEW_PROCESS_GROUP = 0x00000200
CREATE_NO_WINDOW = 0x08000000

CommandRunner = Callable[..., subprocess.CompletedProcess[bytes]]


class WindowsPlatform(PlatformServices):
    """`PlatformServices` for Windows, with the OS calls injected."""

    name = "windows"
    autostart_label = "Start with Windows"

    def __init__(self, registry: ModuleType | Any, start_file: Callable[[str], None],
                 run_command: CommandRunner = subprocess.run) -> None:
        self._registry = registry
        self._start_file = start_file
        self._run_command = run_command

    def autostart_enabled(self) -> bool:
        """True when the Run key holds our entry."""
        try:
            with self._registry.OpenKey(self._registry.HKEY_CURRENT_USER, RUN_KEY, 0,
                                        self._registry.KEY_READ) as key:
                value, _kind = self._registry.QueryValueEx(key, AUTOSTART_ENTRY)
        except FileNotFoundError:
            return False
        return bool(value)

    def set_autostart(self, enabled: bool, command: Sequence[str]) -> None:
        """Write or delete our value under HKCU\\...\\Run (per user: no admin rights needed)."""
        with self._registry.CreateKeyEx(self._registry.HKEY_CURRENT_USER, RUN_KEY, 0,
                                        self._registry.KEY_SET_VALUE) as key:
            if enabled:
                # Quoted like a command line, because the install path has spaces.
                self._registry.SetValueEx(key, AUTOSTART_ENTRY, 0, self._registry.REG_SZ,
                                          subprocess.list2cmdline(list(command)))
            else:
                with contextlib.suppress(FileNotFoundError):  # already off
                    self._registry.DeleteValue(key, AUTOSTART_ENTRY)

    def background_process_options(self) -> dict[str, Any]:
        """No console window (the gateway is a console program); own group for Ctrl-Break."""
        return {"creationflags": CREATE_NO_WINDOW | CREATE_NEW_PROCESS_GROUP}

    def stop_process_tree(self, process: subprocess.Popen[bytes], timeout_s: float) -> None:
        """End run.bat's cmd.exe *and* the java.exe it started; raise ProcessTreeStopError when
        any of them is still alive afterwards.

        taskkill /T does it on Windows, but it can be missing, blocked by policy, or (under
        wine) refuse /T, and it can say "success" for a tree it only partly ended: so the tree
        is taken before anything is killed and checked after, and whatever survives taskkill
        is ended with psutil, one process at a time.
        """
        tree = process_tree(process.pid)
        if process.poll() is not None and not tree:
            return
        taskkill_worked = self._taskkill(process.pid, timeout_s)
        survivors = end_processes(tree, timeout_s, grace_s=2.0 if taskkill_worked else 0.0)
        if process.poll() is None:  # psutil could not see it: Popen can still end it
            with contextlib.suppress(OSError):
                process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=timeout_s)  # reap our own child (its handle, its exit code)
        if survivors or process.poll() is None:
            names = ", ".join(describe(member) for member in survivors) or f"pid {process.pid}"
            raise ProcessTreeStopError(f"the gateway's processes are still running after "
                                       f"{timeout_s:g} s: {names}")

    def _taskkill(self, pid: int, timeout_s: float) -> bool:
        """`taskkill /PID pid /T /F`; False (logged) when it failed or could not run."""
        command = ["taskkill", "/PID", str(pid), "/T", "/F"]
        try:
            result = self._run_command(command, capture_output=True, check=False,
                                       timeout=timeout_s, creationflags=CREATE_NO_WINDOW)
        except (OSError, subprocess.SubprocessError) as error:
            logger.warning("taskkill could not run (%s); ending the gateway's processes one "
                           "by one", error)
            return False
        if result.returncode != 0:
            said = (result.stderr or result.stdout or b"").decode("utf-8", "replace").strip()
            logger.warning("taskkill /T failed (exit %s: %s); ending the gateway's processes "
                           "one by one", result.returncode, said or "no message")
            return False
        return True

    def open_folder(self, folder: Path) -> None:
        """Explorer shows the folder."""
        self._start_file(str(folder))

    def open_url(self, url: str) -> None:
        """The default browser opens the URL (startfile hands URLs to the shell)."""
        self._start_file(url)

    def gateway_run_script(self, gateway_folder: Path) -> list[str]:
        """run.bat must be called from the gateway folder with the relative conf path."""
        return [str(gateway_folder / "bin" / "run.bat"), r"root\conf.yaml"]


def process_tree(pid: int) -> list[psutil.Process]:
    """The process `pid` and every process it started, as they are now ([] if it is gone).

    A process whose parent exited keeps naming it as its parent, so descendants are followed
    through the parent ids of every process (children of a living process and orphans alike);
    a child must have started after its parent, so a recycled process id is never followed.
    """
    import psutil  # Windows-only dependency (client/pyproject.toml)

    children: dict[int, list[psutil.Process]] = {}
    started: dict[int, float] = {}
    for candidate in psutil.process_iter(["ppid", "create_time"]):
        ppid, create_time = candidate.info["ppid"], candidate.info["create_time"]
        if ppid is None or create_time is None or candidate.pid == ppid:
            continue
        children.setdefault(ppid, []).append(candidate)
        started[candidate.pid] = create_time
    tree: list[psutil.Process] = []
    with contextlib.suppress(psutil.Error):
        root = psutil.Process(pid)
        started[pid] = root.create_time()
        tree.append(root)
    queue = [pid]
    while queue:
        parent = queue.pop()
        for child in children.get(parent, []):
            if parent in started and started[child.pid] < started[parent]:
                continue  # the parent's id was recycled after this process started
            if child not in tree:
                tree.append(child)
                queue.append(child.pid)
    return tree


def end_processes(tree: list[psutil.Process], timeout_s: float,
                  grace_s: float = 0.0) -> list[psutil.Process]:
    """Give `tree` `grace_s` to end, kill what remains, wait up to `timeout_s`: the processes
    still alive then."""
    import psutil

    alive = tree
    if grace_s > 0:
        _gone, alive = psutil.wait_procs(tree, timeout=min(timeout_s, grace_s))
    for member in alive:
        with contextlib.suppress(psutil.Error):
            member.kill()
    _gone, alive = psutil.wait_procs(alive, timeout=timeout_s)
    return alive


def describe(process: psutil.Process) -> str:
    """`java.exe (pid 4242)`, or just the pid when the name cannot be read.

    Never `str(process)`: psutil builds it from `name()`, which raises a plain OSError (not a
    psutil.Error) where NtQuerySystemInformation lacks the image-name class, as under wine.
    """
    import psutil

    try:
        name = process.name()
    except (psutil.Error, OSError):
        try:
            name = PureWindowsPath(process.cmdline()[0]).name
        except (psutil.Error, OSError, IndexError):
            return f"pid {process.pid}"
    return f"{name} (pid {process.pid})"
