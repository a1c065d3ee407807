"""Wiring the downloads into an app: settings, resolver and feed, validated at start-up."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from flask import Flask

from veracity_server.downloads.feed import UpdateFeed
from veracity_server.downloads.metadata import ENV_PREFIX, NotConfigured
from veracity_server.downloads.resolver import ReleaseResolver
from veracity_server.downloads.settings import DownloadSettings, load_download_settings
from veracity_server.downloads.storage import S3Storage

EXTENSION_KEY = "veracity_downloads"
log = logging.getLogger("veracity_server.downloads")


@dataclass(frozen=True)
class DownloadsState:
    """The per-app objects behind the download routes."""

    settings: DownloadSettings
    resolver: ReleaseResolver
    feed: UpdateFeed


def init_downloads(app: Flask) -> DownloadsState:
    """Read the download settings (app config first, then environment) and check the release."""
    def lookup(name: str) -> str | None:
        value = app.config.get(name, os.environ.get(name))
        return None if value is None else str(value)

    settings = load_download_settings(lookup)
    environment = {name: value for name in (*os.environ, *app.config)
                   if name.startswith(ENV_PREFIX) and (value := lookup(name)) is not None}
    storage = S3Storage()
    state = DownloadsState(settings, ReleaseResolver(settings, environment, storage),
                           UpdateFeed(storage, settings.refresh_s))
    app.extensions[EXTENSION_KEY] = state
    try:
        served = state.resolver.current()  # logs exactly what is wrong, if anything
    except NotConfigured:
        pass
    else:
        log.info("IBKR connector downloads: version %s from %s", served.metadata.version,
                 served.metadata.source)
    return state
