"""The tests' one kit of helpers.

- `waiting`: `wait_until(condition, timeout_s, message, interval_s=, retry_on=)`, the only way a
  test polls; on timeout `WaitTimedOut` names what was awaited and the last value or exception.
- `processes`: `free_port()`, `port_held_by_another_program()`, `ManagedProcess` and
  `running_process` (start in its own process group, wait until a URL or check says ready,
  always stop), `wait_for_http`, `stop_process`.
- `server_fixtures`, `postgres`: the Veracity server (in process or under gunicorn), PostgreSQL.
- `system`: Debian tools a test needs (skip locally, fail in CI when missing).
"""
