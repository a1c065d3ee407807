"""What the history duties did and when they may try again, kept in `history.json`.

Persisted (written whole: a temporary file, then a rename) so that a restart neither asks
`/pa/performance` again within IBKR's 15-minute pacing window nor forgets that the year was
already fetched, and so that `flex status` in another process can say how Flex is doing. Times
are wall-clock seconds (they must survive a restart). The state belongs to one pairing (its
connector id from `pairing.json`): pairing anew starts the history over. No token, key or IBKR
value is ever written here — only dates, states and messages.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

HISTORY_STATE_FILE = "history.json"
PAIRING_FILE = "pairing.json"


@dataclass
class DutyState:
    """One source's progress: its state word, the message for a person, the next try."""

    state: str = "pending"
    message: str = ""
    next_try_at: float = 0.0  # wall clock; 0: at once
    last_request_at: float | None = None  # when the source was last asked (pacing)
    last_success_at: float | None = None
    last_day: str | None = None  # newest report date queued for Veracity (ISO)
    requests: int = 0  # requests made to the source, all time (for status and benchmarks)
    done: bool = False  # the gateway's year was queued / Flex's backfill was queued
    acknowledged_day: str | None = None  # newest report date Veracity acknowledged (ISO)
    failures: int = 0  # consecutive failures (the wait before the next try grows with them)
    setup_at: float | None = None  # Flex: the set-up this progress belongs to


@dataclass
class HistoryState:
    """Both sources' progress for the current pairing."""

    connector_id: str | None = None
    gateway: DutyState = field(default_factory=DutyState)
    flex: DutyState = field(default_factory=DutyState)


def load_history_state(data_dir: Path) -> HistoryState:
    """The saved state; a fresh one when missing, unreadable, or of another pairing."""
    current = _current_connector(data_dir)
    try:
        raw = json.loads((data_dir / HISTORY_STATE_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return HistoryState(connector_id=current)
    except (OSError, ValueError) as error:
        logger.warning("ignoring unreadable %s: %s", HISTORY_STATE_FILE, error)
        return HistoryState(connector_id=current)
    if not isinstance(raw, dict):
        return HistoryState(connector_id=current)
    if raw.get("connector_id") != current:
        # A new pairing: its history starts over, but IBKR's pacing window is the machine's
        # (the gateway's): the last /pa/performance request still counts.
        fresh = HistoryState(connector_id=current)
        fresh.gateway.last_request_at = _duty(raw.get("gateway")).last_request_at
        return fresh
    return HistoryState(connector_id=current, gateway=_duty(raw.get("gateway")),
                        flex=_duty(raw.get("flex")))


def save_history_state(data_dir: Path, state: HistoryState) -> None:
    """Write the state whole."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / HISTORY_STATE_FILE
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(asdict(state), indent=1), encoding="utf-8")
    os.replace(temporary, path)


def forget_history_state(data_dir: Path) -> None:
    """Start the history over (unpair)."""
    (data_dir / HISTORY_STATE_FILE).unlink(missing_ok=True)


def _duty(raw: Any) -> DutyState:
    if not isinstance(raw, dict):
        return DutyState()
    known = {name: raw[name] for name in DutyState.__dataclass_fields__ if name in raw}
    try:
        return DutyState(**known)
    except TypeError:
        return DutyState()


def _current_connector(data_dir: Path) -> str | None:
    try:
        raw = json.loads((data_dir / PAIRING_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    value = raw.get("connector_id") if isinstance(raw, dict) else None
    return value if isinstance(value, str) and value else None
