"""What the engine shows and reports: the person-facing state, and what one cycle achieved.

Pure functions of what the engine knows (no I/O): the loop gathers the facts, these decide
which `ConnectorState` they mean and what a person reads about it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from veracity_connector.gateway import SessionCheck
from veracity_connector.state import (
    DEFAULT_MESSAGES,
    ConnectorState,
    ConnectorStatus,
    GatewayState,
)

UNEXPECTED_ERROR_TEXT = (
    "The connector hit an unexpected error and keeps trying.",
    "If it persists, open the logs folder or run `ibkr-connector doctor`.")


class SyncOutcome(StrEnum):
    """What one full cycle (`run_once`, `ibkr-connector sync --once`) achieved."""

    DELIVERED = "delivered"
    UNCHANGED = "unchanged"
    NOT_PAIRED = "not_paired"
    GATEWAY_UNREACHABLE = "gateway_unreachable"
    GATEWAY_UNAUTHENTICATED = "gateway_unauthenticated"
    GATEWAY_ERROR = "gateway_error"
    VERACITY_UNREACHABLE = "veracity_unreachable"
    SNAPSHOT_REFUSED = "snapshot_refused"
    KEY_REVOKED = "key_revoked"
    CONFIGURATION = "configuration"


@dataclass
class EngineCounters:
    """What the engine has done since it started (for benchmarks, tests and logs)."""

    snapshots_taken: int = 0
    snapshots_queued: int = 0
    snapshots_delivered: int = 0
    snapshots_refused: int = 0
    heartbeats_sent: int = 0
    last_snapshot_read_s: float = 0.0


@dataclass(frozen=True)
class CycleResult:
    """The outcome of `run_once` and a message for a person."""

    outcome: SyncOutcome
    message: str


@dataclass(frozen=True)
class EngineFacts:
    """What the engine knows at one moment, as far as the person-facing state depends on it."""

    credential_problem: str
    unexpected_error: bool
    veracity_configured: bool
    paired: bool
    revoked_notice: bool
    session: SessionCheck | None
    veracity_down_message: str
    refusal: str = ""  # Veracity refused the latest snapshot it answered about
    limit_message: str = ""  # a Veracity limit (429) holds delivery back
    kept_snapshots: int = 0  # in the outbox (kept across a refused key)


def person_facing_status(current: ConnectorStatus, facts: EngineFacts,
                         common: dict[str, Any]) -> ConnectorStatus:
    """The status to publish: the most pressing problem first, else syncing."""
    if facts.credential_problem:
        return current.with_state(ConnectorState.ERROR, facts.credential_problem,
                                  "Choose a key store, then pair again.", **common)
    if facts.unexpected_error:
        return current.with_state(ConnectorState.ERROR, *UNEXPECTED_ERROR_TEXT, **common)
    if not facts.veracity_configured:
        return current.with_state(
            ConnectorState.NEEDS_TOKEN, "Veracity's address is not set.",
            "Set the Veracity URL (Settings… or VERACITY_URL), then paste a token.", **common)
    if not facts.paired:
        message, next_step = DEFAULT_MESSAGES[
            ConnectorState.REVOKED if facts.revoked_notice else ConnectorState.NEEDS_TOKEN]
        if facts.kept_snapshots:
            message += (f" {facts.kept_snapshots} unsent snapshot(s) are kept and sent once you "
                        "pair again with the same Veracity account.")
        return current.with_state(ConnectorState.NEEDS_TOKEN, message, next_step, **common)
    if facts.session is not None and not facts.session.ok:
        return gateway_problem_status(current, facts.session, common)
    if facts.veracity_down_message:
        return current.with_state(
            ConnectorState.VERACITY_UNREACHABLE,
            f"Veracity cannot be reached ({facts.veracity_down_message}); snapshots are "
            "kept and sent when it is back.", **common)
    if facts.refusal:
        return current.with_state(ConnectorState.ERROR, facts.refusal, REFUSAL_NEXT_STEP,
                                  **common)
    if facts.limit_message:
        # Veracity answers, but will not take more now: the snapshots wait in the outbox.
        return current.with_state(ConnectorState.VERACITY_UNREACHABLE, facts.limit_message,
                                  LIMIT_NEXT_STEP, **common)
    return current.with_state(ConnectorState.SYNCING, **common)


LIMIT_NEXT_STEP = ("Nothing is lost; the connector sends again after the wait. If it keeps "
                   "happening, ask Veracity's operator about the limit.")


REFUSAL_NEXT_STEP = (
    "Other snapshots keep being sent. Check for updates of the connector; if it happens again, "
    "send the log (Open logs folder) to Veracity support.")


def gateway_problem_status(current: ConnectorStatus, session: SessionCheck,
                           common: dict[str, Any]) -> ConnectorStatus:
    """The status for a gateway that is not ok (unreachable, logged out, failing)."""
    if session.waiting:
        # Competing elsewhere, reopening, a nightly reset: no alarm, it comes back by itself.
        return current.with_state(ConnectorState.GATEWAY_WAITING, session.message,
                                  session.next_step or None, **common)
    if session.state is GatewayState.UNREACHABLE:
        return current.with_state(ConnectorState.GATEWAY_UNREACHABLE, session.message,
                                  **common)
    if session.state in (GatewayState.UNAUTHENTICATED, GatewayState.COMPETING):
        return current.with_state(ConnectorState.GATEWAY_UNAUTHENTICATED, session.message,
                                  **common)
    return current.with_state(ConnectorState.GATEWAY_UNREACHABLE,
                              f"The gateway answers with errors: {session.message}",
                              "Wait a few minutes; if it persists, restart the IBKR gateway.",
                              **common)


def cycle_result(status: ConnectorStatus, *, revoked_notice: bool, session: SessionCheck | None,
                 veracity_down_message: str, queued: bool, delivered: bool,
                 refusal: str = "") -> CycleResult:
    """What a full cycle (`run_once`) achieved, from the status it left behind."""
    if status.state is ConnectorState.NEEDS_TOKEN or revoked_notice:
        return CycleResult(SyncOutcome.KEY_REVOKED, status.message)
    if refusal:
        return CycleResult(SyncOutcome.SNAPSHOT_REFUSED, refusal)
    if session is not None and not session.ok:
        outcome = {
            GatewayState.UNREACHABLE: SyncOutcome.GATEWAY_UNREACHABLE,
            GatewayState.UNAUTHENTICATED: SyncOutcome.GATEWAY_UNAUTHENTICATED,
            GatewayState.COMPETING: SyncOutcome.GATEWAY_UNAUTHENTICATED,
        }.get(session.state, SyncOutcome.GATEWAY_ERROR)
        return CycleResult(outcome, session.message)
    if veracity_down_message or not delivered:
        return CycleResult(SyncOutcome.VERACITY_UNREACHABLE,
                           f"{status.pending_snapshots} snapshot(s) kept for later: "
                           f"{veracity_down_message or 'delivery incomplete'}")
    if not queued:
        return CycleResult(SyncOutcome.UNCHANGED, "nothing to send")
    return CycleResult(SyncOutcome.DELIVERED, "snapshot delivered")
