"""pytest fixtures that run the IBKR gateway simulator (filled in by the simulator)."""
