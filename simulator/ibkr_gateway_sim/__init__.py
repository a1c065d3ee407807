"""A faithful IBKR Client Portal Gateway simulator for tests, demos and docker-compose.

Start one in-process with `ibkr_gateway_sim.server.SimulatorServer`, drive it with
`ibkr_gateway_sim.control.SimulatorControl`, or run `ibkr-gateway-sim` (see docs/simulator.md).
"""
