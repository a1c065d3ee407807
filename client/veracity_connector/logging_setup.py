"""Logging: a rotating file in the user log folder, plus stderr when there is one.

Windowed builds (the tray app made with PyInstaller) have no console: `sys.stderr` is None there,
so the stderr handler is only added when a stream exists. A filter masks anything shaped like a
connector key or pairing token, as a last line of defence: no code logs them on purpose.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
import sys
from pathlib import Path

LOG_FILE_NAME = "connector.log"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
SECRET_PATTERN = re.compile(r"\b(vck|vct)_[A-Za-z0-9_\-]{8,}")
# A Flex token travels in the query string (`t=`) of every Flex URL: a URL in a log line (a
# library's debug output) must not carry it.
FLEX_TOKEN_PATTERN = re.compile(r"([?&]t=)[^&\s\"']+")


class RedactSecrets(logging.Filter):
    """Replace key- or token-shaped strings in log records with a mask."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask secrets in the rendered message; always keep the record."""
        message = record.getMessage()
        if SECRET_PATTERN.search(message) or FLEX_TOKEN_PATTERN.search(message):
            message = SECRET_PATTERN.sub(lambda match: f"{match.group(1)}_***", message)
            record.msg = FLEX_TOKEN_PATTERN.sub(lambda match: f"{match.group(1)}***", message)
            record.args = None
        return True


def configure_logging(log_dir: Path | None, level: str = "INFO", *,
                      to_stderr: bool = True) -> Path | None:
    """Set up the root logger once; returns the log file's path (None if it cannot be opened)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_veracity_connector", False):
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)
    formatter = logging.Formatter(FORMAT)
    redact = RedactSecrets()
    handlers: list[logging.Handler] = []
    log_file: Path | None = None
    if log_dir is not None:
        try:
            log_dir.mkdir(parents=True, exist_ok=True)
            log_file = log_dir / LOG_FILE_NAME
            handlers.append(logging.handlers.RotatingFileHandler(
                log_file, maxBytes=1_000_000, backupCount=5, encoding="utf-8"))
        except OSError:
            log_file = None
    if to_stderr and sys.stderr is not None:
        handlers.append(logging.StreamHandler(sys.stderr))
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(redact)
        handler._veracity_connector = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    # requests/urllib3 debug lines would carry URLs and headers: keep them quiet.
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    return log_file
