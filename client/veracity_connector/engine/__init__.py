"""The sync engine: the connector state machine (docs/architecture.md), with no UI.

One worker loop does everything that is due, one `step()` at a time, then waits until the
next thing is due (or a command wakes it, or `stop()`): tests drive `step()` / `run_once()`
directly instead of sleeping. What is due:

* tickle (`tickle_interval_s`, default 60 s): keeps the gateway session alive and tells us its
  state (ok, unauthenticated, competing, unreachable, error);
* snapshot (server's `snapshot_interval_s`, default 120 s): read every account; if nothing
  changed since the last queued snapshot, nothing is queued (the heartbeat says we are alive),
  except that a full snapshot is queued at least every `full_snapshot_interval_s`;
* delivery: the outbox is sent oldest first; on failure it waits (backoff) and keeps growing,
  bounded, while snapshots continue on schedule;
* heartbeat (server's `heartbeat_interval_s`, default 60 s) with the gateway's state.

A refused key (401) is deleted, the outbox cleared, the state goes `revoked` then
`needs_token`, and nothing is sent until a new key appears (a pairing in this process, or
`ibkr-connector pair` in another one: the store is re-read while waiting).
The commands (`ConnectorCommands` in veracity_connector/state.py) are thread-safe.

One module per job: `loop` (the `Engine`: commands, the worker loop, one step), `commands`
(the queue that runs other threads' commands on the loop's thread), `timetable` (when each job
is due next), `collection` (read the gateway, queue changed snapshots), `delivery` (outbox and
heartbeats to Veracity, its failure classes), `keys` (the stored connector key),
`pairing_changes` (what pairing, unpairing and a refused key change), `outcome` (the state
shown to the person, and what a cycle achieved).
"""

from veracity_connector.engine.loop import Engine
from veracity_connector.engine.outcome import CycleResult, EngineCounters, SyncOutcome

__all__ = ["CycleResult", "Engine", "EngineCounters", "SyncOutcome"]
