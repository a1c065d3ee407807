"""Benchmark the tray app's own cost: memory and CPU-seconds per hour while it idles.

    .venv/bin/python benchmarks/tray.py [--duration 60]

Runs the real tray app (`ibkr-connector`) on a private Xvfb with trayer as the tray host
(PYSTRAY_BACKEND=xorg), pointed at addresses where nothing listens (so the engine idles in
gateway_unreachable and costs little: this measures the tray). Samples the process twice for
--duration seconds: first with no dialog ever opened (Tk not started), then after a second
launch opened the status window (Tk running). Figures are printed, not asserted.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.support.processes import free_port  # noqa: E402
from tests.tray.x_server import running_tray_host, running_xvfb  # noqa: E402


def sample(process: psutil.Process, duration_s: float) -> tuple[float, float]:
    """(RSS in MiB at the end, CPU-seconds per hour over the window)."""
    before = process.cpu_times()
    started = time.monotonic()
    time.sleep(duration_s)
    after = process.cpu_times()
    elapsed = time.monotonic() - started
    cpu = after.user + after.system - before.user - before.system
    return process.memory_info().rss / 2**20, cpu / elapsed * 3600


def main() -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per sample")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tray-benchmark-"))
    with running_xvfb() as server, running_tray_host(server, work / "trayer.log"):
        env = {**server.env(), "PYSTRAY_BACKEND": "xorg", "IBKR_CONNECTOR_HOME": str(work),
               "IBKR_CONNECTOR_KEY_STORE": "file",
               "VERACITY_URL": f"http://127.0.0.1:{free_port()}",
               "IBKR_GATEWAY_URL": f"https://127.0.0.1:{free_port()}"}
        app = subprocess.Popen([sys.executable, "-m", "veracity_connector"], env=env, cwd=REPO_ROOT)
        try:
            process = psutil.Process(app.pid)
            time.sleep(10)  # start-up is not idling
            rss, cpu_per_hour = sample(process, args.duration)
            print(f"tray idle, no dialog opened: RSS {rss:.1f} MiB, "
                  f"{cpu_per_hour:.1f} CPU-s/h")
            subprocess.run([sys.executable, "-m", "veracity_connector"], env=env, cwd=REPO_ROOT,
                           timeout=60, check=True)  # a second launch: the status window opens
            time.sleep(5)
            rss, cpu_per_hour = sample(process, args.duration)
            print(f"tray idle, status window open (Tk running): RSS {rss:.1f} MiB, "
                  f"{cpu_per_hour:.1f} CPU-s/h")
        finally:
            app.terminate()
            print(f"tray exit code after SIGTERM: {app.wait(60)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
