"""`python -m release` is the same as the `veracity-release` console script."""

import sys

from release.cli import main

sys.exit(main())
