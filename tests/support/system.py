"""Finding system parts (Xvfb, chromium, PostgreSQL) for tests.

Locally a missing part skips the test with the command that installs it; in CI (`CI=true`) a
missing part is a failure, because CI must run everything (`make test` installs them).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest


def running_in_ci() -> bool:
    """True when the CI environment variable is set to a true value."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def missing_system_part(what: str, install_hint: str) -> None:
    """Skip (locally) or fail (in CI) because a system part is missing."""
    message = f"{what} is not available; install it with: {install_hint}"
    if running_in_ci():
        pytest.fail(f"CI must not skip: {message}")
    pytest.skip(message)


def require_executable(name: str, debian_package: str, search_paths: tuple[str, ...] = ()) -> Path:
    """Return the path of an executable, or skip/fail naming the Debian package that has it."""
    found = shutil.which(name)
    if found:
        return Path(found)
    for folder in search_paths:
        candidate = Path(folder) / name
        if candidate.exists():
            return candidate
    missing_system_part(name, f"apt-get install {debian_package}")
    raise AssertionError("unreachable")
