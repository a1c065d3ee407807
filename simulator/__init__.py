"""A faithful IBKR Client Portal Gateway simulator for tests, demos and docker-compose.

Start one in-process with `simulator.server.SimulatorServer`, drive it with
`simulator.control.SimulatorControl`, or run `ibkr-gateway-sim` (see docs/simulator.md).
"""
