"""`ibkr-gateway-sim` (or `python -m ibkr_gateway_sim`): run the gateway simulator until stopped."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from ibkr_gateway_sim.gateway_conf import GatewayConf, GatewayConfError, read_gateway_conf
from ibkr_gateway_sim.options import DEFAULT_IDLE_TIMEOUT_S, DEFAULT_PENALTY_BOX_S, SimulatorOptions
from ibkr_gateway_sim.scenario import SCENARIOS

_log = logging.getLogger("ibkr_gateway_sim")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if value < 0:
        raise argparse.ArgumentTypeError("seconds cannot be negative")
    return value


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    """The command line of ibkr-gateway-sim."""
    parser = argparse.ArgumentParser(
        prog="ibkr-gateway-sim",
        description="IBKR Client Portal Gateway simulator: the gateway's endpoints, sessions, "
                    "pacing and quirks on https://127.0.0.1:<port>/v1/api, plus a control API "
                    "under /sim/. Log in with POST /sim/login or the page at /.")
    parser.add_argument("--conf", type=Path, metavar="PATH",
                        help="a gateway conf.yaml: its listenPort, listenSsl and ips are used")
    parser.add_argument("--port", type=_port, help="port to listen on (default: conf.yaml's "
                        "listenPort, else 5000; 0 picks a free one)")
    parser.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    parser.add_argument("--http", action="store_true", help="plain HTTP instead of HTTPS")
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="demo")
    parser.add_argument("--seed", type=int, default=7, help="seed of the demo book and prices")
    parser.add_argument("--logged-in", action="store_true",
                        help="start with a logged-in session (no browser login needed)")
    parser.add_argument("--idle-timeout", type=_seconds, default=DEFAULT_IDLE_TIMEOUT_S,
                        metavar="SECONDS", help="session lapses after this long without requests")
    parser.add_argument("--penalty-box", type=_seconds, default=DEFAULT_PENALTY_BOX_S,
                        metavar="SECONDS", help="how long a pacing violator is refused")
    parser.add_argument("--no-pacing", action="store_true",
                        help="turn IBKR's rate limits off (for clients that cannot pace)")
    parser.add_argument("--no-preflight", action="store_true",
                        help="the first live-orders call answers the orders at once")
    parser.add_argument("--price-tick", type=_seconds, metavar="SECONDS",
                        help="move prices automatically every SECONDS")
    parser.add_argument("--manual-clock", action="store_true",
                        help="time moves only through POST /sim/clock/advance (scenarios, "
                             "benchmarks)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    return parser


def options_from(arguments: argparse.Namespace) -> SimulatorOptions:
    """Simulator options from parsed arguments."""
    return SimulatorOptions(
        idle_timeout_s=arguments.idle_timeout, penalty_box_s=arguments.penalty_box,
        pacing_enabled=not arguments.no_pacing, preflight_empty_orders=not arguments.no_preflight,
        price_tick_interval_s=arguments.price_tick or None, seed=arguments.seed,
        scenario=arguments.scenario, logged_in_at_start=arguments.logged_in)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, start the simulator, serve until SIGINT/SIGTERM."""
    parser = build_parser()
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if arguments.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s", stream=sys.stdout)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    conf = GatewayConf()
    if arguments.conf is not None:
        try:
            conf = read_gateway_conf(arguments.conf)
        except GatewayConfError as error:
            parser.exit(2, f"ibkr-gateway-sim: error: {error}\n")
    port = arguments.port if arguments.port is not None else conf.listen_port
    use_tls = conf.listen_ssl and not arguments.http

    from ibkr_gateway_sim.server import (  # after argument errors: fast
        PortInUseError,
        SimulatorServer,
    )
    from ibkr_gateway_sim.session import ManualClock

    server = SimulatorServer(options_from(arguments), host=arguments.host, port=port,
                             use_tls=use_tls, ips=conf,
                             clock=ManualClock() if arguments.manual_clock else None)
    try:
        server.start()
    except PortInUseError as error:
        parser.exit(1, f"ibkr-gateway-sim: error: {error.strerror}\n")
    except OSError as error:
        parser.exit(1, f"ibkr-gateway-sim: error: cannot listen on {arguments.host}:{port}: "
                       f"{error.strerror or error}\n")

    stop = threading.Event()

    def request_stop(signum: int, _frame: Any) -> None:
        _log.info("stopping (signal %s)", signum)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    _log.info("Open %s/ in a browser to log in; control API: %s/sim/", server.base_url,
              server.base_url)
    server.serve_until_stopped(stop)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
