"""The gateway launcher in the Windows build under wine: IBKR's layout (`bin\\run.bat`,
`root\\conf.yaml`) in a folder whose path has spaces; run.bat starts a long-running child in
the foreground (Windows Python sleeping, standing in for java.exe).

Start must hide the console: the creation flags the launcher passes are recorded, and what
they do is checked — the child has no console window, wine's conhost for it runs `--headless`,
and no window appears on a private X display (a control run with CREATE_NEW_CONSOLE shows that
the same checks do see a console window). Stop must end the whole tree, whatever taskkill does:
wine's taskkill refuses /T (exit 1), a missing taskkill, and one that says "success" after
ending only run.bat's cmd.exe; and a child that cannot be ended is reported, never "stopped".
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.processes import free_port
from tests.support.system import require_executable
from tests.windows.conftest import WindowsConnector, windows_path

pytestmark = pytest.mark.windows

CREATE_NEW_CONSOLE = 0x00000010
CREATE_NEW_PROCESS_GROUP = 0x00000200
CREATE_NO_WINDOW = 0x08000000

RUN_BAT = (
    "@echo off\r\n"
    "rem Stands in for IBKR's run.bat: the gateway's java runs in the foreground.\r\n"
    '"C:\\Python311\\python.exe" "%~dp0java_stand_in.py" %*\r\n')

JAVA_STAND_IN = textwrap.dedent('''\
    """Reports how it was started (console window, folder, arguments), then runs for 5 minutes."""
    import ctypes, json, os, sys, time
    report = {"pid": os.getpid(), "console_window": ctypes.windll.kernel32.GetConsoleWindow(),
              "cwd": os.getcwd(), "argv": sys.argv[1:]}
    with open(os.path.join(os.path.dirname(__file__), "..", "child.json.tmp"), "w") as out:
        json.dump(report, out)
    os.replace(os.path.join(os.path.dirname(__file__), "..", "child.json.tmp"),
               os.path.join(os.path.dirname(__file__), "..", "child.json"))
    time.sleep(300)
    ''')

# Runs in the Windows Python: starts the gateway through the connector's launcher, reports what
# happened as JSON on its last line. argv: gateway folder, log file, how taskkill behaves.
DRIVER = textwrap.dedent('''\
    import json, logging, os, subprocess, sys, time
    from pathlib import Path
    import psutil
    from veracity_connector.launcher import GatewayLauncher, GatewayStopError
    from veracity_connector.platform import current_platform
    from veracity_connector.platform.windows import WindowsPlatform

    folder, log_path, taskkill = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="log: %(levelname)s %(name)s: %(message)s")
    creation_flags = []
    real_popen = subprocess.Popen

    class RecordingPopen(real_popen):
        def __init__(self, args, *more, **options):
            creation_flags.append([args, options.get("creationflags", 0)])
            super().__init__(args, *more, **options)
    subprocess.Popen = RecordingPopen

    def missing(command, **options):
        raise FileNotFoundError(2, "The system cannot find the file specified", command[0])

    def without_tree(command, **options):  # ends cmd.exe only, says SUCCESS
        return subprocess.run([part for part in command if part != "/T"], **options)

    platform = current_platform()
    if taskkill != "wine":
        import winreg
        platform = WindowsPlatform(winreg, os.startfile,
                                   {"missing": missing, "without-tree": without_tree,
                                    "child-survives": subprocess.run}[taskkill])
    if taskkill == "child-survives":  # psutil cannot end the child: the stop must say so
        # (conhost is spared too: when it ends, wine ends the console's processes with it)
        real_kill = psutil.Process.kill
        def kill_only_cmd(process):
            if process.cmdline()[0].lower().endswith("cmd.exe"):
                real_kill(process)
        psutil.Process.kill = kill_only_cmd

    launcher = GatewayLauncher(folder, log_path, platform)
    if os.environ.get("LAUNCHER_CREATION_FLAGS"):  # the control: a console on purpose
        platform.background_process_options = lambda: {
            "creationflags": int(os.environ["LAUNCHER_CREATION_FLAGS"])}
    result = launcher.start()
    report_file = folder / "child.json"
    deadline = time.monotonic() + 60
    while not report_file.exists():
        assert launcher.is_running() and time.monotonic() < deadline, launcher.log_tail()
        time.sleep(0.1)
    child = json.loads(report_file.read_text())
    descendants = psutil.Process(launcher.pid).children(recursive=True)
    tree = [process.cmdline() for process in descendants]
    print("ready", flush=True)
    sys.stdin.readline()  # the test looks at the screen now

    stop_error = None
    started = time.monotonic()
    try:
        launcher.stop(timeout_s=3 if taskkill == "child-survives" else 10)
    except GatewayStopError as error:
        stop_error = str(error)
    stop_seconds = time.monotonic() - started
    child_alive = psutil.pid_exists(child["pid"])
    for process in descendants:  # leave nothing behind, whatever the stop did
        if process.is_running():
            process.terminate()
    print(json.dumps({"started": result.started, "creation_flags": creation_flags[0],
                      "child": child, "tree": tree, "stop_error": stop_error,
                      "stop_seconds": stop_seconds, "child_alive_after_stop": child_alive,
                      "running_after_stop": launcher.is_running()}))
    ''')


@pytest.fixture(scope="module")
def x_display() -> Iterator[str]:
    """A private Xvfb, so a console window would be a real X window we can count."""
    require_executable("Xvfb", "xvfb")
    require_executable("xwininfo", "x11-utils")
    server = subprocess.Popen(["Xvfb", "-displayfd", "1", "-screen", "0", "1024x768x24",
                               "-nolisten", "tcp"], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL)
    try:
        assert server.stdout is not None
        display = ":" + server.stdout.readline().decode().strip()
        yield display
    finally:
        server.terminate()
        server.wait(timeout=10)


def top_level_windows(display: str) -> int:
    """How many windows the X server's root has (wine maps a console window there)."""
    tree = subprocess.run(["xwininfo", "-display", display, "-root", "-children"],
                          capture_output=True, text=True, check=True, timeout=30).stdout
    return sum(1 for line in tree.splitlines() if line.strip().startswith("0x"))


@pytest.fixture
def gateway_folder(tmp_path: Path) -> Path:
    """IBKR's layout in a folder with spaces in its path."""
    folder = tmp_path / "Client Portal Gateway" / "IBKR gateway 10.x"
    (folder / "bin").mkdir(parents=True)
    (folder / "root").mkdir()
    (folder / "bin" / "run.bat").write_bytes(RUN_BAT.encode("ascii"))
    (folder / "bin" / "java_stand_in.py").write_text(JAVA_STAND_IN, encoding="utf-8")
    (folder / "root" / "conf.yaml").write_text(
        f"listenPort: {free_port()}\nlistenSsl: true\n", encoding="utf-8")
    return folder


def run_launcher(windows_connector: WindowsConnector, folder: Path, taskkill: str,
                 display: str, creation_flags: int | None = None) -> dict[str, Any]:
    """The driver under wine; while the gateway runs, count the X display's windows."""
    driver = folder.parent / "driver.py"
    driver.write_text(DRIVER, encoding="utf-8")
    env = {**windows_connector.env("utf-8"), "DISPLAY": display}
    if creation_flags is not None:
        env["LAUNCHER_CREATION_FLAGS"] = str(creation_flags)
    driver_process = subprocess.Popen(
        ["wine", "python", "-X", "utf8", windows_path(driver), windows_path(folder),
         windows_path(folder.parent / "logs" / "gateway.log"), taskkill],
        env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert driver_process.stdin is not None and driver_process.stdout is not None
    lines: list[str] = []
    try:
        for raw in driver_process.stdout:
            lines.append(raw.decode("utf-8", "replace").rstrip())
            if lines[-1] == "ready":
                break
        windows = top_level_windows(display)
        driver_process.stdin.write(b"\n")
        driver_process.stdin.close()
        lines += driver_process.stdout.read().decode("utf-8", "replace").splitlines()
        driver_process.wait(timeout=120)
    finally:
        if driver_process.poll() is None:
            driver_process.kill()
    output = "\n".join(lines)
    assert driver_process.returncode == 0 and lines and lines[-1].startswith("{"), output
    return {**json.loads(lines[-1]), "x_windows": windows, "output": output}


def child_is_alive(windows_connector: WindowsConnector, pid: int) -> bool:
    """Asked in a fresh Windows process, not in the one that did the stop."""
    result = windows_connector.python(f"import psutil; print(psutil.pid_exists({pid}))")
    assert result.returncode == 0, result
    return result.text.split()[-1] == "True"


@pytest.fixture
def launcher_connector(wine_prefix: Any, tmp_path: Path) -> WindowsConnector:
    """The Windows Python of the prefix, with no connector settings around."""
    connector = WindowsConnector(wine_prefix, tmp_path, "", "")
    connector.settings = {}
    return connector


@pytest.mark.parametrize("taskkill", ["wine", "missing", "without-tree"])
def test_start_hides_the_console_and_stop_ends_the_whole_tree(
        launcher_connector: WindowsConnector, gateway_folder: Path, x_display: str,
        taskkill: str) -> None:
    report = run_launcher(launcher_connector, gateway_folder, taskkill, x_display)
    child, output = report["child"], report["output"]

    assert report["started"] is True, output
    command, flags = report["creation_flags"]
    assert command[0].endswith(r"IBKR gateway 10.x\bin\run.bat"), output
    assert flags & CREATE_NO_WINDOW and flags & CREATE_NEW_PROCESS_GROUP, output
    assert child["console_window"] == 0, output  # no console window for the "java"
    conhost_flags = [part for line in report["tree"] for part in line if part == "--headless"]
    assert conhost_flags == ["--headless"], output  # wine's conhost for it: no window
    assert report["x_windows"] == 0, output
    assert child["cwd"] == windows_path(gateway_folder), output  # run from the gateway folder
    assert child["argv"] == [r"root\conf.yaml"], output

    assert report["stop_error"] is None, output
    assert report["child_alive_after_stop"] is False, output
    assert report["running_after_stop"] is False, output
    assert not child_is_alive(launcher_connector, child["pid"])
    assert report["stop_seconds"] < 8, output  # no waiting out a timeout for taskkill
    assert "gateway stopped" in output
    if taskkill == "wine":  # wine's taskkill has no /T: noticed, logged, fallen back from
        assert "taskkill /T failed (exit 1: Error: Unknown or invalid command line" in output
    if taskkill == "missing":
        assert "taskkill could not run" in output


def test_the_console_checks_do_see_a_console_window(
        launcher_connector: WindowsConnector, gateway_folder: Path, x_display: str) -> None:
    """The control: the same gateway started with a console on purpose is caught."""
    report = run_launcher(launcher_connector, gateway_folder, "wine", x_display,
                          creation_flags=CREATE_NEW_CONSOLE)
    assert report["child"]["console_window"] != 0, report["output"]
    assert report["x_windows"] > 0, report["output"]
    assert report["child_alive_after_stop"] is False, report["output"]


def test_a_child_that_survives_the_stop_is_reported_not_stopped(
        launcher_connector: WindowsConnector, gateway_folder: Path, x_display: str) -> None:
    report = run_launcher(launcher_connector, gateway_folder, "child-survives", x_display)
    output = report["output"]
    assert report["child_alive_after_stop"] is True, output
    assert report["stop_error"] is not None, output
    assert "The gateway did not stop" in report["stop_error"], output
    assert f"python.exe (pid {report['child']['pid']})" in report["stop_error"], output
    assert "gateway stopped" not in output
    assert not child_is_alive(launcher_connector, report["child"]["pid"])  # the driver's cleanup
