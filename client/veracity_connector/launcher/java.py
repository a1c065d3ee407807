"""Finding the Java runtime IBKR's gateway needs (it is a Java program; we never ship Java)."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

JAVA_HINT = ("IBKR's gateway needs Java 8u192 or newer (Java 11 recommended). Install it, e.g. "
             "Eclipse Temurin from https://adoptium.net, or set JAVA_HOME to an installed JDK.")


def find_java(environ: Mapping[str, str] | None = None) -> Path | None:
    """The java executable from JAVA_HOME, else from PATH; None when there is none."""
    environ = os.environ if environ is None else environ
    executable = "java.exe" if sys.platform == "win32" else "java"
    java_home = environ.get("JAVA_HOME", "").strip().strip('"')
    if java_home:
        candidate = Path(java_home) / "bin" / executable
        if candidate.is_file():
            return candidate
    found = shutil.which(executable, path=environ.get("PATH"))
    return Path(found) if found else None
