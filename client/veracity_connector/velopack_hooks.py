"""Velopack's install/update hooks, shared by the frozen entry point (import-light on purpose).

Velopack's installer and updater start the app with hook arguments (--veloapp-install,
--veloapp-updated, ...) and expect it to handle them and exit at once; `App().run()` does that
and returns immediately on a normal start. It must run before anything else, so this module
imports nothing of the connector.
"""

from __future__ import annotations

import logging
import sys

logger = logging.getLogger(__name__)


def run_velopack_hooks() -> None:
    """Run the hooks in the installed (frozen) Windows app; elsewhere do nothing."""
    # Outside a frozen build velopack only complains on stderr that it is not installed, and
    # only Windows builds are packed with Velopack (veracity_release/package.py, channel "win").
    if not getattr(sys, "frozen", False) or sys.platform != "win32":
        return
    try:
        import velopack

        velopack.App().run()
    except Exception:  # not installed by Velopack after all: a plain start goes on
        logger.debug("velopack hooks not run", exc_info=True)
