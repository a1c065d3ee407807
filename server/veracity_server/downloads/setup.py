"""Wiring the downloads into an app: settings, resolver and feed, validated at start-up."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import Flask

from veracity_server.downloads.feed import UpdateFeed
from veracity_server.downloads.metadata import NotConfigured
from veracity_server.downloads.resolver import ReleaseResolver
from veracity_server.downloads.storage import S3Storage
from veracity_server.settings import SETTINGS_KEY, Settings

EXTENSION_KEY = "veracity_downloads"
log = logging.getLogger("veracity_server.downloads")


@dataclass(frozen=True)
class DownloadsState:
    """The per-app objects behind the download routes."""

    settings: Settings
    resolver: ReleaseResolver
    feed: UpdateFeed


def init_downloads(app: Flask) -> DownloadsState:
    """Build the download parts from the app's (already validated) settings; check the release."""
    settings: Settings = app.extensions[SETTINGS_KEY]
    # A custom endpoint (MinIO, moto) is a bare host:port: only path-style URLs reach it there.
    storage = S3Storage(path_style=bool(settings.s3_endpoint_url or settings.aws_endpoint_url))
    state = DownloadsState(settings, ReleaseResolver(settings, storage),
                           UpdateFeed(storage, settings.downloads_refresh_s))
    app.extensions[EXTENSION_KEY] = state
    try:
        served = state.resolver.current()  # logs exactly what is wrong, if anything
    except NotConfigured:
        pass
    else:
        log.info("IBKR connector downloads: version %s from %s", served.metadata.version,
                 served.metadata.source)
    return state
