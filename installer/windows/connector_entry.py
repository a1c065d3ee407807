"""Entry script PyInstaller freezes: the connector's CLI (`ibkr-connector`, client.cli:main)."""

import sys

from client.cli import main

if __name__ == "__main__":
    sys.exit(main())
