"""How fast the gateway simulator answers over HTTPS keep-alive connections (not a test).

Run: .venv/bin/python benchmarks/simulator_throughput.py [--requests 400] [--clients 4]
Pacing is off so the figures show the simulator, not IBKR's limits. The load generator shares
the 2 cores with the server: compare the figures with each other, not with other machines.
"""

from __future__ import annotations

import argparse
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from tempfile import TemporaryDirectory

import requests

from ibkr_gateway_sim.control import SimulatorControl
from ibkr_gateway_sim.options import SimulatorOptions
from ibkr_gateway_sim.server import SimulatorServer

ENDPOINTS = {
    "auth status": ("POST", "/iserver/auth/status"),
    "summary": ("GET", "/portfolio/U1234567/summary"),
    "positions page (100 rows)": ("GET", "/portfolio/U1234567/positions/0"),
    "unpaged positions (250 rows)": ("GET", "/portfolio2/U1234567/positions"),
    "live orders": ("GET", "/iserver/account/orders?accountId=U1234567"),
}


def timed_requests(url: str, method: str, count: int, verify: str) -> list[float]:
    """Latencies in seconds of `count` sequential requests on one keep-alive connection."""
    latencies = []
    with requests.Session() as http:
        for _ in range(count):
            started = time.perf_counter()
            response = http.request(method, url, verify=verify, timeout=10)
            response.raise_for_status()
            latencies.append(time.perf_counter() - started)
    return latencies


def main() -> None:
    """Start a simulator, measure each endpoint, then concurrent clients; print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--clients", type=int, default=4)
    arguments = parser.parse_args()

    options = SimulatorOptions(pacing_enabled=False, logged_in_at_start=True,
                               preflight_empty_orders=False, positions_cache_s=0)
    with SimulatorServer(options) as server, TemporaryDirectory() as folder:
        certificate = Path(folder) / "simulator.pem"
        certificate.write_text(server.certificate_pem or "")
        control = SimulatorControl(server.base_url, verify=str(certificate))
        requests.get(f"{server.api_url}/portfolio/accounts", verify=str(certificate), timeout=10)
        requests.get(f"{server.api_url}/iserver/accounts", verify=str(certificate), timeout=10)

        print(f"{'endpoint':32} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8}")
        for name, (method, path) in ENDPOINTS.items():
            latencies = timed_requests(f"{server.api_url}{path}", method, arguments.requests,
                                       str(certificate))
            p95 = statistics.quantiles(latencies, n=20)[-1]
            print(f"{name:32} {len(latencies) / sum(latencies):8.0f} "
                  f"{statistics.median(latencies) * 1000:8.2f} {p95 * 1000:8.2f}")

        url = f"{server.api_url}/portfolio/U1234567/summary"
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=arguments.clients) as pool:
            batches = list(pool.map(
                lambda _: timed_requests(url, "GET", arguments.requests, str(certificate)),
                range(arguments.clients)))
        elapsed = time.perf_counter() - started
        total = sum(len(batch) for batch in batches)
        print(f"{arguments.clients} concurrent clients on summary: {total / elapsed:.0f} req/s "
              f"({total} requests in {elapsed:.2f} s)")
        print(f"requests counted by the simulator: {control.requests()['total']}")


if __name__ == "__main__":
    main()
