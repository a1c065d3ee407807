"""The one error type of the release pipeline: a message a maintainer can act on."""


class ReleaseError(Exception):
    """A release step failed for a reason the maintainer can fix (missing file, bad bucket...)."""
