"""Entry script PyInstaller freezes: the connector's CLI (`ibkr-connector`, client.cli:main)."""

import sys

if __name__ == "__main__":
    # First thing, for every command and the tray alike (both executables start here).
    from veracity_connector.velopack_hooks import run_velopack_hooks

    run_velopack_hooks()
    from veracity_connector.cli import main

    sys.exit(main())
