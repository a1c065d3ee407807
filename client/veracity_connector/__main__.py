"""`python -m veracity_connector` = `ibkr-connector`."""

import sys

from veracity_connector.cli import main

sys.exit(main())
