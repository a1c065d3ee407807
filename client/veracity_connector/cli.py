"""`ibkr-connector`: the tray app by default, and headless commands for servers and scripts.

Commands (docs/connector.md has the full table and the exit codes):
``run`` (headless loop), ``sync --once`` (one full cycle; the exit code says what happened),
``pair TOKEN`` (``-`` reads the token from stdin), ``unpair``, ``status`` (``--json``),
``doctor`` (checks, each with a fix-it line; never spends a token or changes the key),
``--version``. No command ever prints a key.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from collections.abc import Sequence
from enum import IntEnum
from types import FrameType

from veracity_connector.credentials import CredentialError, open_credential_store
from veracity_connector.engine import Engine, SyncOutcome
from veracity_connector.instance_lock import (
    ConnectorAlreadyRunning,
    InstanceLock,
    running_instance,
)
from veracity_connector.logging_setup import configure_logging
from veracity_connector.outbox import Outbox
from veracity_connector.pairing import pair_with_token
from veracity_connector.pairing_files import forget_pairing
from veracity_connector.settings import (
    Folders,
    Settings,
    SettingsError,
    load_settings,
    save_settings,
    settings_with,
)
from veracity_connector.status_file import read_status
from veracity_connector.veracity_api import VeracityClient
from veracity_connector.version import connector_version

logger = logging.getLogger(__name__)


READ_STDIN = "-"


class ExitCode(IntEnum):
    """Exit codes of every command (documented in docs/connector.md)."""

    OK = 0
    FAILED = 1  # unexpected error, or `doctor` found a problem
    USAGE = 2  # bad command line (argparse)
    CONFIGURATION = 3  # settings invalid, Veracity URL missing, no credential store
    NOT_PAIRED = 4
    GATEWAY_UNREACHABLE = 5
    GATEWAY_UNAUTHENTICATED = 6  # not logged in, or a competing session
    GATEWAY_ERROR = 7  # 5xx, 429 (pacing), unreadable answers
    VERACITY_UNREACHABLE = 8  # snapshot kept in the outbox for later
    KEY_REVOKED = 9  # Veracity refused the key; it was deleted
    PAIRING_REFUSED = 10  # token malformed, invalid, expired or used
    OTHER_ACCOUNT = 11  # unsent snapshots belong to another Veracity account: --discard-outbox
    SNAPSHOT_REFUSED = 12  # Veracity refused a snapshot (its message is printed)
    ALREADY_RUNNING = 13  # `run`: another connector runs on this data folder


SYNC_EXIT_CODES = {
    SyncOutcome.DELIVERED: ExitCode.OK,
    SyncOutcome.UNCHANGED: ExitCode.OK,
    SyncOutcome.NOT_PAIRED: ExitCode.NOT_PAIRED,
    SyncOutcome.GATEWAY_UNREACHABLE: ExitCode.GATEWAY_UNREACHABLE,
    SyncOutcome.GATEWAY_UNAUTHENTICATED: ExitCode.GATEWAY_UNAUTHENTICATED,
    SyncOutcome.GATEWAY_ERROR: ExitCode.GATEWAY_ERROR,
    SyncOutcome.VERACITY_UNREACHABLE: ExitCode.VERACITY_UNREACHABLE,
    SyncOutcome.SNAPSHOT_REFUSED: ExitCode.SNAPSHOT_REFUSED,
    SyncOutcome.KEY_REVOKED: ExitCode.KEY_REVOKED,
    SyncOutcome.CONFIGURATION: ExitCode.CONFIGURATION,
}


class CommandError(Exception):
    """A command cannot go on; carries the message and the exit code."""

    def __init__(self, message: str, code: ExitCode) -> None:
        super().__init__(message)
        self.code = code


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used by the docs test)."""
    parser = argparse.ArgumentParser(
        prog="ibkr-connector",
        description="Keeps Veracity in sync with your IBKR portfolio through the local IBKR "
                    "Client Portal Gateway. Without a command: the tray app.")
    parser.add_argument("--version", action="version",
                        version=f"ibkr-connector {connector_version()}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("run", help="run the connector headless until Ctrl-C / SIGTERM")
    sync = commands.add_parser("sync", help="one full cycle: snapshot, delivery, heartbeat")
    sync.add_argument("--once", action="store_true", required=True,
                      help="run one cycle and exit (the exit code says what happened)")
    pair = commands.add_parser("pair", help="pair with Veracity using a one-time token")
    pair.add_argument("token", metavar="TOKEN",
                      help="the vct_… token from Profile → IBKR Integration ('-' reads stdin)")
    pair.add_argument("--veracity-url", help="Veracity's address (saved in the settings)")
    pair.add_argument("--discard-outbox", action="store_true",
                      help="drop unsent snapshots of another Veracity account when pairing")
    pair.add_argument("--key-store", choices=("keyring", "file"),
                      help="where to keep the key (saved in the settings); 'file' is a 0600 file")
    commands.add_parser("unpair", help="delete the stored key and unsent snapshots")
    status = commands.add_parser("status", help="state, last sync, gateway state, next step")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    commands.add_parser("doctor", help="check gateway folder, Java, port, gateway, Veracity, key")
    flex = commands.add_parser("flex", help="opt-in daily positions history from IBKR's Flex "
                                            "Web Service (docs/history.md)")
    flex_commands = flex.add_subparsers(dest="flex_command", metavar="FLEX_COMMAND",
                                        required=True)
    flex_set = flex_commands.add_parser(
        "set", help="store a Flex token (asked for, hidden; or one line of stdin) and query id")
    flex_set.add_argument("--query-id", required=True,
                          help="the Flex query's id (Client Portal → Performance & Reports → "
                               "Flex Queries)")
    flex_status = flex_commands.add_parser("status", help="Flex set-up, last fetch, next try")
    flex_status.add_argument("--json", action="store_true", help="machine-readable output")
    flex_commands.add_parser("remove", help="delete the Flex token and query id")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, set up logging, run the command; returns the exit code."""
    _tolerate_unencodable_output()
    args = build_parser().parse_args(argv)
    if args.command is None:
        return _run_tray()
    folders = Folders.from_environment()
    try:
        settings = load_settings(folders)
    except SettingsError as error:
        _say(str(error))
        return ExitCode.CONFIGURATION
    level = "DEBUG" if args.verbose else settings.log_level
    # Only `run` logs to stderr by default; the others print their own short answers.
    configure_logging(folders.log_dir, level, to_stderr=args.command == "run" or args.verbose)
    handler = COMMANDS[args.command]
    try:
        return int(handler(args, settings, folders))
    except CommandError as error:
        _say(str(error))
        return error.code
    except KeyboardInterrupt:
        return ExitCode.FAILED
    except Exception as error:  # the last line of defence: a message, the details in the log
        logger.exception("ibkr-connector %s failed", args.command)
        _say(f"unexpected error: {error.__class__.__name__}: {error} (details in "
             f"{folders.log_dir})")
        return ExitCode.FAILED


def _tolerate_unencodable_output() -> None:
    """Print '?' for a character the output's encoding lacks instead of crashing.

    On Windows, output to a pipe or a file is encoded in the ANSI code page (cp1252 for most
    Western users), which has no '→' and the like; only a console takes every character.
    PYTHONUTF8/PYTHONIOENCODING would help a source install but not the frozen build."""
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(errors="replace")


def _run_tray() -> int:
    try:
        from veracity_connector import tray
    except ImportError as error:
        _say(f"The tray app is not available in this build ({error}). Use a headless command: "
             "ibkr-connector run | sync --once | pair TOKEN | status | doctor")
        return ExitCode.FAILED
    tray_main = getattr(tray, "main", None)
    if tray_main is None:
        _say("The tray app is not available in this build yet. Use a headless command: "
             "ibkr-connector run | sync --once | pair TOKEN | status | doctor")
        return ExitCode.FAILED
    return int(tray_main() or 0)


def _say(text: str) -> None:
    # Windowed builds have no stdout; print is the CLI's answer, not logging.
    if sys.stdout is not None:
        print(text, flush=True)


def _build_engine(settings: Settings, folders: Folders, *, write_status_file: bool) -> Engine:
    try:
        return Engine(settings, folders, write_status_file=write_status_file)
    except (ValueError, OSError) as error:
        raise CommandError(f"cannot start the connector: {error}", ExitCode.CONFIGURATION
                           ) from None


# --- commands --------------------------------------------------------------------------------

def command_run(args: argparse.Namespace, settings: Settings, folders: Folders) -> ExitCode:
    """Run headless until Ctrl-C or SIGTERM, then stop cleanly."""
    if not settings.veracity_url:
        # The tray can ask for it; headless, nothing could ever be sent.
        raise CommandError("Veracity's address is not set: set VERACITY_URL (or veracity_url "
                           "in settings.json).", ExitCode.CONFIGURATION)
    instance = InstanceLock(folders.data_dir, "run")
    try:
        instance.acquire()
    except ConnectorAlreadyRunning as error:
        raise CommandError(str(error), ExitCode.ALREADY_RUNNING) from None
    try:
        _run_engine(_build_engine(settings, folders, write_status_file=True))
    finally:
        instance.release()
    return ExitCode.OK


def _run_engine(engine: Engine) -> None:
    """The engine's loop in this thread until a signal asks it to stop."""
    def request_stop(signum: int, _frame: FrameType | None) -> None:
        logger.info("signal %s received: stopping", signum)
        engine.stop(timeout_s=0)

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    if hasattr(signal, "SIGBREAK"):  # Windows console Ctrl-Break
        signal.signal(signal.SIGBREAK, request_stop)
    engine.run()


def command_sync(args: argparse.Namespace, settings: Settings, folders: Folders) -> ExitCode:
    """One full cycle; prints what happened."""
    engine = _build_engine(settings, folders, write_status_file=False)
    try:
        result = engine.run_once()
    finally:
        engine.gateway.close()
    _say(f"{result.outcome.value}: {result.message}")
    return SYNC_EXIT_CODES[result.outcome]


def command_pair(args: argparse.Namespace, settings: Settings, folders: Folders) -> ExitCode:
    """Exchange the token for a key and store it (saving --veracity-url/--key-store first)."""
    # "-" reads the token from stdin, which keeps it out of the process list.
    token = sys.stdin.readline().strip() if args.token == READ_STDIN else args.token
    changes = {name: value for name, value in (("veracity_url", args.veracity_url),
                                               ("key_store", args.key_store)) if value}
    candidate = settings
    if changes:
        try:
            candidate = load_settings_with(settings, changes)
        except SettingsError as error:
            raise CommandError(str(error), ExitCode.CONFIGURATION) from None
    if not candidate.veracity_url:
        raise CommandError("Veracity's address is not set: pass --veracity-url URL or set "
                           "VERACITY_URL.", ExitCode.CONFIGURATION)
    try:
        credentials = open_credential_store(candidate.key_store, folders.data_dir)
    except CredentialError as error:
        raise CommandError(str(error), ExitCode.CONFIGURATION) from None
    veracity = VeracityClient(candidate.veracity_url, timeout_s=candidate.veracity_timeout_s,
                              proxy=candidate.proxy)
    try:
        outcome, _schedule = pair_with_token(token, veracity, credentials,
                                             Outbox(folders.data_dir / "outbox.sqlite3"),
                                             folders.data_dir,
                                             discard_outbox=args.discard_outbox)
    finally:
        veracity.close()
    _say(outcome.message)
    if not outcome.ok:
        return PAIRING_EXIT_CODES.get(outcome.code, ExitCode.PAIRING_REFUSED)
    if changes:
        save_settings(folders, changes)
    _say(f"The key is kept in the {credentials.description}. A running connector starts "
         "syncing within seconds; otherwise start it (the tray app, or ibkr-connector run).")
    return ExitCode.OK


PAIRING_EXIT_CODES = {
    "network": ExitCode.VERACITY_UNREACHABLE,
    "credential_store": ExitCode.CONFIGURATION,
    "other_account": ExitCode.OTHER_ACCOUNT,
}


def load_settings_with(settings: Settings, changes: dict[str, str]) -> Settings:
    """`settings` with some values changed, validated like the settings file."""
    return settings_with(settings, changes)


def command_unpair(args: argparse.Namespace, settings: Settings, folders: Folders) -> ExitCode:
    """Delete the key and the unsent snapshots."""

    try:
        credentials = open_credential_store(settings.key_store, folders.data_dir)
        had_key = credentials.get() is not None
        credentials.delete()
    except CredentialError as error:
        raise CommandError(str(error), ExitCode.CONFIGURATION) from None
    dropped = Outbox(folders.data_dir / "outbox.sqlite3").clear()
    forget_pairing(folders.data_dir)
    if had_key:
        _say(f"Unpaired: the key was deleted from the {credentials.description}"
             f"{f' and {dropped} unsent snapshot(s) dropped' if dropped else ''}. The connector "
             "stays listed in Veracity until you revoke it on Profile → IBKR Integration.")
    else:
        _say("Not paired: there was no key to delete.")
    return ExitCode.OK


def command_status(args: argparse.Namespace, settings: Settings, folders: Folders) -> ExitCode:
    """Print the running engine's status (or what can be known without one)."""
    from veracity_connector.status import describe_status

    report = describe_status(settings, folders, read_status(folders.data_dir),
                             running_instance(folders.data_dir))
    if args.json:
        _say(json.dumps(report, indent=2))
    else:
        for label, value in report["lines"]:
            _say(f"{label + ':':<18} {value}")
    return ExitCode.OK


def command_doctor(args: argparse.Namespace, settings: Settings, folders: Folders) -> ExitCode:
    """Run every check and print each result with a fix-it line."""
    from veracity_connector.doctor import run_doctor

    checks = run_doctor(settings, folders)
    for check in checks:
        _say(f"[{check.level.upper():4}] {check.name}: {check.detail}")
        if check.fix:
            _say(f"       fix: {check.fix}")
    failed = [check for check in checks if check.level == "fail"]
    _say("All checks passed." if not failed else f"{len(failed)} problem(s) found.")
    return ExitCode.FAILED if failed else ExitCode.OK


def command_flex(args: argparse.Namespace, settings: Settings, folders: Folders) -> ExitCode:
    """`flex set | status | remove` (history/flex_commands.py)."""
    from veracity_connector.history import flex_commands

    if args.flex_command == "set":
        ok = flex_commands.flex_set(settings, folders, args.query_id, _say)
        return ExitCode.OK if ok else ExitCode.CONFIGURATION
    if args.flex_command == "status":
        lines = flex_commands.flex_status_lines(settings, folders)
        if args.json:
            _say(json.dumps(dict(lines), indent=2))
        else:
            for label, value in lines:
                _say(f"{label + ':':<18} {value}")
        return ExitCode.OK
    ok = flex_commands.flex_remove(settings, folders, _say)
    return ExitCode.OK if ok else ExitCode.CONFIGURATION


COMMANDS = {
    "run": command_run,
    "sync": command_sync,
    "pair": command_pair,
    "unpair": command_unpair,
    "status": command_status,
    "doctor": command_doctor,
    "flex": command_flex,
}
