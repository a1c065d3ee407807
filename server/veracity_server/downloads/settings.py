"""The download endpoint's variables, as the server's settings model names them.

The knobs (META_PATH, PRESIGN_TTL_S, REFRESH_S) are parsed once at start-up with every other
server setting (veracity_server/settings.py: a bad number stops the start). The release itself
(version, location, hashes) is only carried there as text: it is validated per request by
`resolver.py`, answering 503 when it is wrong.
"""

from __future__ import annotations

from veracity_server.downloads.metadata import ENV_PREFIX
from veracity_server.settings import Settings

META_PATH_VARIABLE = ENV_PREFIX + "META_PATH"
PRESIGN_TTL_VARIABLE = ENV_PREFIX + "PRESIGN_TTL_S"
REFRESH_VARIABLE = ENV_PREFIX + "REFRESH_S"
# Every variable the endpoint reads (docs/release.md lists each; a test keeps them in step).
ALL_VARIABLES = tuple(str(info.validation_alias) for info in Settings.model_fields.values()
                      if str(info.validation_alias).startswith(ENV_PREFIX))
