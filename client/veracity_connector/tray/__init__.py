"""The tray app: an icon per connector state, a menu, dialogs; built on the connector engine.

`main()` runs it (the CLI's default command). Nothing here imports pystray at import time:
pystray's X backend connects to the display on import.
"""

from __future__ import annotations

import logging
import os
import sys

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_NO_DISPLAY = 4
EXIT_OTHER_INSTANCE_SILENT = 5
EXIT_HEADLESS_CONNECTOR_RUNS = 6  # `ibkr-connector run` holds the data folder


def main() -> int:
    """Run the tray app until Quit; a second launch shows the running one's status instead."""
    # Velopack's hooks already ran in the frozen entry point (installer/windows/
    # connector_entry.py), the only way a frozen build reaches this; running them twice is wrong.
    from veracity_connector.logging_setup import configure_logging
    from veracity_connector.settings import Folders, SettingsError, load_settings

    folders = Folders.from_environment()
    try:
        level = load_settings(folders).log_level
    except SettingsError:
        level = "INFO"  # the tray shows the settings problem itself
    # A windowed build has no stdout/stderr: everything goes to the log file.
    configure_logging(folders.log_dir, level, to_stderr=False)
    _log_uncaught_thread_errors()
    _dump_threads_on_sigusr1()
    try:
        return _run(folders)
    except Exception:
        logger.exception("the tray app failed")
        return EXIT_FAILED


def _run(folders: object) -> int:
    from veracity_connector.dialogs import DialogHost
    from veracity_connector.engine import Engine
    from veracity_connector.instance_lock import ConnectorAlreadyRunning, InstanceLock
    from veracity_connector.platform import current_platform
    from veracity_connector.settings import Folders, load_settings
    from veracity_connector.tray.controller import TrayController
    from veracity_connector.tray.engine_slot import EngineSlot
    from veracity_connector.tray.presentation import PRODUCT_NAME
    from veracity_connector.tray.single_instance import (
        AlreadyRunning,
        SingleInstance,
        ask_running_instance_to_show_status,
    )

    assert isinstance(folders, Folders)
    controllers: list[TrayController] = []  # filled below; a second launch may ask before

    def show_status_for_second_launch() -> None:
        for controller in controllers:
            controller.show_status()

    instance = SingleInstance(folders.data_dir, on_show_status=show_status_for_second_launch)
    try:
        instance.acquire()
    except AlreadyRunning:
        answered = ask_running_instance_to_show_status(folders.data_dir)
        logger.info("%s already runs; asked it to show its status (answered: %s)",
                    PRODUCT_NAME, answered)
        return EXIT_OK if answered else EXIT_OTHER_INSTANCE_SILENT
    # The tray's own lock above only keeps out a second tray; this one, shared with
    # `ibkr-connector run`, keeps two engines off one data folder.
    connector_lock = InstanceLock(folders.data_dir, "tray")
    try:
        connector_lock.acquire()
    except ConnectorAlreadyRunning as error:
        instance.release()
        logger.error("%s", error)
        return EXIT_HEADLESS_CONNECTOR_RUNS
    try:
        try:
            import pystray
        except Exception as error:  # no display, or no tray backend on this desktop
            logger.error("the tray cannot start: %s", error)
            return EXIT_NO_DISPLAY
        from veracity_connector.tray.app import TrayApp

        apps: list[TrayApp] = []
        controller = TrayController(
            folders=folders, platform=current_platform(), dialogs=DialogHost(),
            slot=EngineSlot(lambda: Engine(load_settings(folders), folders)),
            notify=lambda notification: apps[0].notify(notification),
            on_quit=lambda: apps[0].stop())
        app = TrayApp(controller, pystray)
        apps.append(app)
        controllers.append(controller)
        logger.info("%s tray starting (pid %s)", PRODUCT_NAME, os.getpid())
        app.run()
        return EXIT_OK
    finally:
        connector_lock.release()
        instance.release()


def _log_uncaught_thread_errors() -> None:
    """A windowed build has no stderr for Python's default report: put it in the log."""
    import threading

    def log_it(args: threading.ExceptHookArgs) -> None:
        name = args.thread.name if args.thread else "?"
        logger.error("thread %s failed", name, exc_info=args.exc_value or True)

    threading.excepthook = log_it


def _dump_threads_on_sigusr1() -> None:
    """`kill -USR1 <pid>` prints every thread's stack to stderr (when there is one): for hangs."""
    import contextlib
    import faulthandler
    import signal

    sigusr1 = getattr(signal, "SIGUSR1", None)
    if sigusr1 is not None and sys.stderr is not None:
        # A stderr without a file descriptor (some windowed hosts) cannot take the dump.
        with contextlib.suppress(AttributeError, ValueError, OSError):
            faulthandler.register(sigusr1, all_threads=True)
