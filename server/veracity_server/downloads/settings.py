"""Knobs of the download endpoint, parsed once at start-up (a bad number fails fast).

The release itself (version, location, hashes) is NOT parsed here: it may change while the
server runs and is validated per request by `resolver.py`, answering 503 when it is wrong.
Each name is read from the app config first (tests, `create_app(test_config)`), then the
process environment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from veracity_server.downloads.metadata import ENV_PREFIX, RELEASE_VARIABLES

META_PATH_VARIABLE = ENV_PREFIX + "META_PATH"
PRESIGN_TTL_VARIABLE = ENV_PREFIX + "PRESIGN_TTL_S"
REFRESH_VARIABLE = ENV_PREFIX + "REFRESH_S"
# Every variable the endpoint reads (docs/release.md lists each; a test keeps them in step).
ALL_VARIABLES = (META_PATH_VARIABLE, *(ENV_PREFIX + name for name in RELEASE_VARIABLES),
                 PRESIGN_TTL_VARIABLE, REFRESH_VARIABLE)
DEFAULT_PRESIGN_TTL_S = 900
DEFAULT_REFRESH_S = 30.0
# SigV4 presigned URLs cannot live longer than seven days.
MAX_PRESIGN_TTL_S = 7 * 24 * 3600


@dataclass(frozen=True)
class DownloadSettings:
    """Where the metadata lives and how storage is used."""

    meta_path: str | None
    presign_ttl_s: int
    refresh_s: float


def load_download_settings(lookup: Callable[[str], str | None]) -> DownloadSettings:
    """Parse the knobs; ValueError naming the variable when one is malformed."""
    ttl_text = lookup(PRESIGN_TTL_VARIABLE)
    refresh_text = lookup(REFRESH_VARIABLE)
    try:
        presign_ttl_s = int(ttl_text) if ttl_text else DEFAULT_PRESIGN_TTL_S
    except ValueError:
        raise ValueError(f"{PRESIGN_TTL_VARIABLE} must be whole seconds, got {ttl_text!r}") \
            from None
    if not 1 <= presign_ttl_s <= MAX_PRESIGN_TTL_S:
        raise ValueError(f"{PRESIGN_TTL_VARIABLE} must be between 1 and {MAX_PRESIGN_TTL_S}")
    try:
        refresh_s = float(refresh_text) if refresh_text else DEFAULT_REFRESH_S
    except ValueError:
        raise ValueError(f"{REFRESH_VARIABLE} must be seconds, got {refresh_text!r}") from None
    if refresh_s < 0:
        raise ValueError(f"{REFRESH_VARIABLE} must not be negative")
    return DownloadSettings(meta_path=lookup(META_PATH_VARIABLE) or None,
                            presign_ttl_s=presign_ttl_s, refresh_s=refresh_s)
