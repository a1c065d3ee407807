"""Browser logins and stale minutes over a simulated week: the session guardian vs. a naive client.

Run: .venv/bin/python benchmarks/session_guardian.py [--days 7]

The real guardian (veracity_connector.engine.guardian) and a naive client (asks for a browser
login on every unauthenticated answer, as the connector did before issue 18) each run against
their own real simulator process (`--manual-clock`), through the same scripted week of session
events on the simulator's timeline (session_events.py). Time is simulated: a week takes a minute
or two. A simulated person answers each login request: 15 minutes later when awake (07:00-23:00
New York), else at 07:30. "Stale" is time without a usable session as the client last saw it
(it cannot take snapshots then), sleeps and stopped spells included for both.

The week (New York time, starting Monday 08:00 just after a login):
- IBKR's nightly reset every night at 01:00 with a 2-minute /iserver outage; on Thursday night
  it ends the SSO session too (the "sometimes a login" case);
- the session's maximum life, 24 h after each login (IBKR: a daily 2FA);
- the brokerage session lost twice (Monday 14:20; Wednesday 10:05 with 2 failing ssodh/init);
- competing logins: IBKR Mobile Tuesday 12:30-12:45, TWS Thursday 15:00-16:30;
- a 40-minute laptop sleep Wednesday 12:00 (the SSO session survives), a 14-hour one Friday
  18:00 to Saturday 08:00 (it does not), the connector stopped 20 minutes Friday 11:00;
- a gateway restart Saturday 14:00; Saturday-evening maintenance 20:00 (30 minutes).
Last line: `guardian: logins=N naive_logins=M stale_min=S naive_stale_min=T`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from ibkr_gateway_sim.control import SimulatorControl  # noqa: E402
from tests.support.guardian_drive import MONDAY_MIDNIGHT_NEW_YORK, SharedClock  # noqa: E402
from tests.support.processes import free_port, running_process  # noqa: E402
from veracity_connector.engine.guardian import GuardianPhase, SessionGuardian  # noqa: E402
from veracity_connector.gateway import GatewayClient, Pacer  # noqa: E402
from veracity_connector.gateway.session import ProbeKind  # noqa: E402

HOUR, MINUTE = 3600.0, 60.0
DAY = 24 * HOUR
NEW_YORK = ZoneInfo("America/New_York")
START = 8 * HOUR  # Monday 08:00, seconds after Monday 00:00 New York
RESPONSE_S = 15 * MINUTE


def at(day: int, hour: float) -> float:
    """Seconds after the start for `day` (0 = Monday) at `hour` New York time."""
    return day * DAY + hour * HOUR - START


@dataclass(frozen=True)
class Pause:
    """The client does not run: a laptop sleep, or the connector stopped."""

    start: float
    seconds: float
    sleep: bool  # the whole machine (gateway included) sleeps


def week(days: int) -> tuple[list[dict[str, Any]], list[Pause]]:
    """The simulator's timeline (at_s from the start) and the client's pauses."""
    events: list[dict[str, Any]] = []
    for day in range(1, days + 1):
        events.append({"at_s": at(day, 1.0), "event": "nightly_reset", "outage_s": 120,
                       "sso_lost": day == 4})
    events += [
        {"at_s": at(0, 14 + 20 / 60), "event": "brokerage_lost"},
        {"at_s": at(1, 12.5), "event": "competing_start", "platform": "IBKR Mobile"},
        {"at_s": at(1, 12.75), "event": "competing_end"},
        {"at_s": at(2, 10 + 5 / 60), "event": "brokerage_lost"},
        {"at_s": at(2, 10 + 5 / 60), "event": "ssodh_init_fail", "count": 2},
        {"at_s": at(3, 15.0), "event": "competing_start", "platform": "TWS"},
        {"at_s": at(3, 16.5), "event": "competing_end"},
        {"at_s": at(5, 14.0), "event": "gateway_restart", "down_s": 20},
        {"at_s": at(5, 20.0), "event": "nightly_reset", "outage_s": 1800},
    ]
    pauses = [Pause(at(2, 12.0), 40 * MINUTE, sleep=True),
              Pause(at(4, 11.0), 20 * MINUTE, sleep=False),
              Pause(at(4, 18.0), 14 * HOUR, sleep=True)]
    for pause in pauses:
        if pause.sleep:
            events.append({"at_s": pause.start, "event": "sleep", "seconds": pause.seconds})
    end = days * DAY
    return ([event for event in events if event["at_s"] < end],
            [pause for pause in pauses if pause.start < end])


class Client(Protocol):
    """What the week needs of a client."""

    next_check_at: float

    def check(self) -> tuple[bool, bool]:
        """Look at the session now: (usable, asks the person for a browser login)."""

    def resumed(self) -> None:
        """The machine woke up or the connector started again."""


class GuardianClient:
    """The real guardian, as the engine drives it."""

    def __init__(self, guardian: SessionGuardian) -> None:
        self.guardian = guardian

    @property
    def next_check_at(self) -> float:
        return self.guardian.next_check_at

    def check(self) -> tuple[bool, bool]:
        check = self.guardian.check()
        return check.ok, self.guardian.phase is GuardianPhase.LOGIN_NEEDED

    def resumed(self) -> None:
        self.guardian.revalidate()  # what the engine's gap detection does


class NaiveClient:
    """Tickles every minute and asks for a browser login whenever the answer is not usable."""

    def __init__(self, gateway: GatewayClient, clock: Callable[[], float]) -> None:
        self.gateway = gateway
        self.clock = clock
        self.next_check_at = clock()

    def check(self) -> tuple[bool, bool]:
        probe = self.gateway.probe_session()
        self.next_check_at = self.clock() + 60.0
        unauthenticated = probe.kind in (ProbeKind.ANSWERED, ProbeKind.NO_SESSION)
        return probe.usable, unauthenticated and not probe.usable

    def resumed(self) -> None:
        self.next_check_at = self.clock()


@dataclass
class Tally:
    """What one client's week cost."""

    logins: int = 0
    stale_s: float = 0.0
    kicked_other_sessions: int = 0
    requests: dict[str, int] = field(default_factory=dict)


def person_logs_in_at(elapsed: float) -> float:
    """When the simulated person answers a login request made at `elapsed`."""
    moment = MONDAY_MIDNIGHT_NEW_YORK + START + elapsed
    local = datetime.fromtimestamp(moment, NEW_YORK)
    hour = local.hour + local.minute / 60
    if 7 <= hour < 23:
        return elapsed + RESPONSE_S
    hours_until_morning = (7.5 - hour) % 24
    return elapsed + hours_until_morning * HOUR


def run_week(kind: str, days: int, workdir: Path) -> Tally:
    """Start a simulator, replay the week against one client, return its tally."""
    port = free_port()
    command = [sys.executable, "-m", "ibkr_gateway_sim", "--port", str(port), "--manual-clock",
               "--http", "--no-preflight"]
    base_url = f"http://127.0.0.1:{port}"
    with running_process(command, log_path=workdir / f"simulator-{kind}.log",
                         ready_url=f"{base_url}/sim/session"):
        control = SimulatorControl(base_url)
        try:
            control.configure(idle_timeout_s=360, sso_sleep_timeout_s=HOUR,
                              session_max_life_s=DAY)
            control.login()
            events, pauses = week(days)
            control.schedule(events)
            clock = SharedClock(control, MONDAY_MIDNIGHT_NEW_YORK + START)
            # IBKR's per-endpoint limits hold on the simulated clock; the global 10/s is kept
            # out, since simulated time does not pass between two requests of one check.
            gateway = GatewayClient.for_url(
                base_url, pacer=Pacer(clock=clock.monotonic, global_per_s=float("inf")))
            try:
                client: Client
                if kind == "guardian":
                    client = GuardianClient(SessionGuardian(
                        gateway, tickle_interval_s=60.0, clock=clock.monotonic,
                        wall_clock=clock.wall))
                else:
                    client = NaiveClient(gateway, clock.monotonic)
                return replay(client, control, clock, pauses, days * DAY - START)
            finally:
                gateway.close()
        finally:
            control.close()


def replay(client: Client, control: SimulatorControl, clock: SharedClock, pauses: list[Pause],
           end: float) -> Tally:
    """The week's loop: the client's checks, the person's logins and the pauses, in order."""
    tally = Tally()
    usable, asked = True, False
    login_at: float | None = None
    pending = sorted(pauses, key=lambda pause: pause.start)
    origin = clock.monotonic_start

    def move_to(moment: float, stale: bool) -> None:
        if stale:
            tally.stale_s += max(0.0, moment - clock.elapsed)
        clock.advance(moment - clock.elapsed)

    while clock.elapsed < end:
        next_check = client.next_check_at - origin
        next_pause = pending[0].start if pending else float("inf")
        moment = min(next_check, next_pause, login_at if login_at is not None else end, end)
        move_to(moment, stale=not usable)
        if login_at is not None and clock.elapsed >= login_at:
            if control.session()["competing"]:
                tally.kicked_other_sessions += 1  # the gateway login takes it from the phone
            control.login()
            tally.logins += 1
            login_at = None
            asked = False
            continue
        if pending and clock.elapsed >= pending[0].start:
            pause = pending.pop(0)
            move_to(pause.start + pause.seconds, stale=True)
            client.resumed()
            continue
        if clock.elapsed >= end:
            break
        usable, asks = client.check()
        if asks and not asked and login_at is None:
            login_at = person_logs_in_at(clock.elapsed)
        asked = asks
        if not asks:
            login_at = None  # recovered by itself before the person came
    tally.requests = {name: counters["count"]
                      for name, counters in control.requests()["endpoints"].items()}
    return tally


def main() -> None:
    """Replay the week for both clients and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=7)
    arguments = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="session-guardian-") as folder, \
            ThreadPoolExecutor(max_workers=2) as pool:
        # Each client has its own simulator process: the two weeks run side by side.
        futures = {kind: pool.submit(run_week, kind, arguments.days, Path(folder))
                   for kind in ("guardian", "naive")}
        results = {kind: future.result() for kind, future in futures.items()}
    for kind, tally in results.items():
        print(f"{kind}: {tally.logins} browser logins, {tally.stale_s / 60:.0f} stale "
              f"minutes, {tally.kicked_other_sessions} other-device sessions taken over; "
              f"ssodh/init {tally.requests.get('/iserver/auth/ssodh/init', 0)}, "
              f"/logout {tally.requests.get('/logout', 0)}, /iserver/reauthenticate "
              f"{tally.requests.get('/iserver/reauthenticate', 0)}, tickles "
              f"{tally.requests.get('/tickle', 0)}")
    print(f"({time.monotonic() - started:.0f} s for {arguments.days} simulated days each)")
    guardian, naive = results["guardian"], results["naive"]
    print(f"guardian: logins={guardian.logins} naive_logins={naive.logins} "
          f"stale_min={guardian.stale_s / 60:.0f} naive_stale_min={naive.stale_s / 60:.0f}")


if __name__ == "__main__":
    main()
