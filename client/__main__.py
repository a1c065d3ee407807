"""`python -m client` = `ibkr-connector`."""

import sys

from client.cli import main

sys.exit(main())
