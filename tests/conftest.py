"""Fixtures shared across the suite come from these plugin modules (one per part)."""

pytest_plugins = [
    "tests.support.server_fixtures",  # a live Veracity server process, users, tokens, databases
    "ibkr_gateway_sim.pytest_plugin",  # the IBKR gateway simulator on a free port
]


def pytest_collection_modifyitems(items: list) -> None:
    """Slow tests first (the 10-minute pacing soak above all): under xdist they then run beside
    the rest of the suite instead of after it. The sort is stable: files keep their order."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
