"""`python -m simulator` runs the gateway simulator (same as `ibkr-gateway-sim`)."""

import sys

from simulator.cli import main

sys.exit(main())
