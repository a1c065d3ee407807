"""`veracity-server`: database migrations, users, pairing tokens, and a development server.

    veracity-server db upgrade
    veracity-server create-user EMAIL [--password-stdin]   (or VERACITY_USER_PASSWORD, or prompt)
    veracity-server set-password EMAIL [--password-stdin]  (ends all of the user's sessions)
    veracity-server issue-token EMAIL [--ttl SECONDS]      (prints the token alone on stdout)
    veracity-server retention [--all]                      (thin old snapshots now)
    veracity-server alerts-worker [--once]                 (detect incidents, send alerts)
    veracity-server serve [--host 127.0.0.1] [--port 8000] (development only; use gunicorn)
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Sequence

from veracity_server.settings import SETTINGS_KEY, Settings, SettingsError

PASSWORD_ENV = "VERACITY_USER_PASSWORD"  # noqa: S105 — a variable name


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="veracity-server", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    database = commands.add_parser("db", help="database migrations")
    database_commands = database.add_subparsers(dest="db_command", required=True)
    database_commands.add_parser("upgrade", help="migrate the database to the newest schema")
    database_commands.add_parser("current", help="print the database's schema revision")
    create_user = commands.add_parser("create-user", help="create a user account")
    create_user.add_argument("email")
    create_user.add_argument("--password-stdin", action="store_true",
                             help="read the password from the first line of stdin")
    set_password = commands.add_parser(
        "set-password", help="change a user's password (ends all their sessions)")
    set_password.add_argument("email")
    set_password.add_argument("--password-stdin", action="store_true",
                              help="read the password from the first line of stdin")
    issue_token = commands.add_parser("issue-token", help="print a one-time pairing token")
    issue_token.add_argument("email")
    issue_token.add_argument("--ttl", type=int, default=None,
                             help="seconds until it expires (default: the server setting)")
    retention = commands.add_parser(
        "retention", help="thin old snapshots now (it also runs by itself, amortized into ingest)")
    retention.add_argument("--all", action="store_true",
                           help="every connector, not only those whose turn is due")
    alerts_worker = commands.add_parser(
        "alerts-worker", help="run the alerts worker: detect incidents, send e-mails and "
        "webhooks (docs/alerts.md)")
    alerts_worker.add_argument("--once", action="store_true",
                               help="one detection and delivery pass, then exit")
    serve = commands.add_parser("serve", help="run the development server (not for production)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    return parser


def _read_password(from_stdin: bool, settings: Settings) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if settings.user_password:  # VERACITY_USER_PASSWORD or its _FILE, read with the settings
        return settings.user_password
    if not sys.stdin.isatty():
        raise SystemExit(f"error: no password: use --password-stdin, set {PASSWORD_ENV}, "
                         "or run in a terminal to be asked")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Repeat password: "):
        raise SystemExit("error: the passwords differ")
    return first


def run(arguments: argparse.Namespace) -> int:
    """Carry out one parsed command; returns the exit status."""
    from veracity_server.app import create_app
    from veracity_server.db import database
    from veracity_server.migrate import current_revision, upgrade_database
    from veracity_server.pairing.service import issue_pairing_token
    from veracity_server.users import UserError, create_user, find_user, set_password

    app = create_app()
    url = database(app).url
    if arguments.command == "db":
        if arguments.db_command == "upgrade":
            upgrade_database(url)
            print(f"database at revision {current_revision(url)}", file=sys.stderr)
        else:
            print(current_revision(url) or "empty")
        return 0
    if arguments.command == "retention":
        from veracity_server.columns import utc_now
        from veracity_server.history import retention

        ran = retention.run_due(database(app), utc_now(),
                                retention.policy(app.extensions[SETTINGS_KEY]),
                                every=arguments.all)
        print(f"retention ran for {ran} connector(s)", file=sys.stderr)
        return 0
    if arguments.command == "alerts-worker":
        import logging

        from veracity_server.alerts import worker

        logging.basicConfig(level=logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        # APScheduler logs every run of every job at INFO: twice a second in tests.
        logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)
        context = worker.configure(database(app), app.extensions[SETTINGS_KEY])
        if arguments.once:
            worker.run_once(context)
        else:
            worker.run_forever(context)
        return 0
    if arguments.command == "serve":
        app.run(host=arguments.host, port=arguments.port)
        return 0
    with database(app).sessions() as session:
        if arguments.command == "create-user":
            password = _read_password(arguments.password_stdin, app.extensions[SETTINGS_KEY])
            try:
                user = create_user(session, arguments.email, password)
            except UserError as error:
                print(f"error: {error}", file=sys.stderr)
                return 1
            print(f"created user {user.email}", file=sys.stderr)
            return 0
        owner = find_user(session, arguments.email)
        if owner is None:
            print(f"error: no user with the email {arguments.email}", file=sys.stderr)
            return 1
        if arguments.command == "set-password":
            password = _read_password(arguments.password_stdin, app.extensions[SETTINGS_KEY])
            try:
                ended = set_password(session, owner, password)
            except UserError as error:
                print(f"error: {error}", file=sys.stderr)
                return 1
            print(f"password of {owner.email} changed; {ended} session(s) ended",
                  file=sys.stderr)
            return 0
        settings_ttl = app.extensions[SETTINGS_KEY].pairing_token_ttl_s
        ttl = arguments.ttl if arguments.ttl is not None else settings_ttl
        if ttl < 1:
            print("error: --ttl must be at least 1 second", file=sys.stderr)
            return 2
        token, expires_at = issue_pairing_token(
            session, owner.id, ttl,
            max_valid=app.extensions[SETTINGS_KEY].pairing_tokens_per_user)
        print(f"expires at {expires_at.isoformat()}", file=sys.stderr)
        print(token)
        return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `veracity-server` console script."""
    arguments = _parser().parse_args(argv)
    try:
        return run(arguments)
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
