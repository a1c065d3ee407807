"""Entry script PyInstaller freezes: the connector's CLI (`ibkr-connector`, client.cli:main)."""

import sys


def _handle_velopack_hooks() -> None:
    # Velopack's installer and updater start the app with hook arguments (--veloapp-install,
    # --veloapp-updated, ...) and expect it to handle them and exit at once; App().run() does
    # that and returns immediately on a normal start. It must run before anything else.
    if sys.platform == "win32":
        import velopack

        velopack.App().run()


if __name__ == "__main__":
    _handle_velopack_hooks()
    from client.cli import main

    sys.exit(main())
