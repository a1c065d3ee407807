"""The release pipeline's error type (a message a maintainer can act on) and its one subclass."""


class ReleaseError(Exception):
    """A release step failed for a reason the maintainer can fix (missing file, bad bucket...)."""


class InvalidJSONError(ReleaseError):
    """An object or file that exists but does not parse as JSON (callers may replace it)."""
