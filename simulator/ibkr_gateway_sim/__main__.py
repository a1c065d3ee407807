"""`python -m ibkr_gateway_sim` runs the gateway simulator (same as `ibkr-gateway-sim`)."""

import sys

from ibkr_gateway_sim.cli import main

sys.exit(main())
