"""Drive the real session guardian against a simulator on a manual clock (tests, benchmark).

`SharedClock` is the one simulated time both sides see: the simulator's manual clock (moved with
`POST /sim/clock/advance`, which also applies the timeline's events due meanwhile) and the
guardian's monotonic and wall clocks. Nothing sleeps: a simulated week takes seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

from ibkr_gateway_sim.control import SimulatorControl
from veracity_connector.engine.guardian import SessionGuardian
from veracity_connector.gateway import GatewayClient, Pacer

# Monday 2026-11-02 00:00 in New York (05:00 UTC): a calm weekday start.
MONDAY_MIDNIGHT_NEW_YORK = 1_793_595_600.0


class SharedClock:
    """Simulated seconds since the start, for the simulator and the guardian alike."""

    def __init__(self, control: SimulatorControl, wall_start: float = MONDAY_MIDNIGHT_NEW_YORK
                 ) -> None:
        self.control = control
        self.elapsed = 0.0
        self.wall_start = wall_start
        self.monotonic_start = 50_000.0

    def monotonic(self) -> float:
        """The guardian's monotonic clock."""
        return self.monotonic_start + self.elapsed

    def wall(self) -> float:
        """The guardian's wall clock (epoch seconds)."""
        return self.wall_start + self.elapsed

    def advance(self, seconds: float) -> None:
        """Time passes on both sides (events due meanwhile happen in the simulator)."""
        if seconds > 0:
            self.control.advance_clock(seconds)
            self.elapsed += seconds

    def advance_to(self, monotonic: float) -> None:
        """Move on to a moment of the guardian's clock."""
        self.advance(monotonic - self.monotonic())


@dataclass
class GuardianRig:
    """A guardian with its own gateway client, paced on the shared clock."""

    guardian: SessionGuardian
    gateway: GatewayClient
    clock: SharedClock

    def step(self) -> None:
        """Wait (in simulated time) for the guardian's next check, then let it check."""
        self.clock.advance_to(self.guardian.next_check_at)
        self.guardian.check()

    def run_for(self, seconds: float) -> list[str]:
        """Let the guardian run `seconds` of simulated time; the phases it went through."""
        end = self.clock.monotonic() + seconds
        phases: list[str] = []
        while self.guardian.next_check_at <= end:
            self.step()
            phases.append(str(self.guardian.phase))
        self.clock.advance_to(end)
        return phases

    def close(self) -> None:
        """Release the HTTP connections."""
        self.gateway.close()


def guardian_rig(base_url: str, control: SimulatorControl, *, tickle_interval_s: float = 60.0,
                 wall_start: float = MONDAY_MIDNIGHT_NEW_YORK) -> GuardianRig:
    """A guardian on a fresh shared clock, talking to the simulator at `base_url`."""
    clock = SharedClock(control, wall_start)
    # IBKR's per-endpoint limits still hold (on the simulated clock); the global 10/s is kept
    # out, since simulated time does not pass between two requests of one check.
    pacer = Pacer(clock=clock.monotonic, global_per_s=float("inf"))
    gateway = GatewayClient.for_url(base_url, pacer=pacer)
    guardian = SessionGuardian(gateway, tickle_interval_s=tickle_interval_s,
                               clock=clock.monotonic, wall_clock=clock.wall)
    return GuardianRig(guardian, gateway, clock)
