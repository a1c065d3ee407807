"""`python -m veracity_release` is the same as the `veracity-release` console script."""

import sys

from veracity_release.cli import main

sys.exit(main())
