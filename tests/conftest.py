"""Fixtures shared across the suite come from these plugin modules (one per part)."""

pytest_plugins = [
    "tests.support.server_fixtures",  # a live Veracity server process, users, tokens, databases
    "simulator.pytest_plugin",  # the IBKR gateway simulator on a free port
]
