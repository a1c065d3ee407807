"""Public download routes for the Windows connector (docs/contract.md, "Downloads").

    GET /api/v1/downloads/ibkr-connector/windows                 metadata JSON
    GET /api/v1/downloads/ibkr-connector/windows/installer       302 to storage, or the file
    GET /api/v1/downloads/ibkr-connector/windows/updates/releases.<channel>.json  feed index
    GET /api/v1/downloads/ibkr-connector/windows/updates/<file>  a package the index lists
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Response, current_app, jsonify, request, url_for
from flask.blueprints import BlueprintSetupState
from werkzeug.wsgi import wrap_file

from veracity_server.downloads.feed import UnknownFeedFile
from veracity_server.downloads.metadata import NotConfigured, S3Object
from veracity_server.downloads.resolver import ServedRelease
from veracity_server.downloads.schemas import INSTALLER_TYPE, OPERATIONS
from veracity_server.downloads.setup import EXTENSION_KEY, DownloadsState, init_downloads
from veracity_server.downloads.storage import StorageError
from veracity_server.errors import ApiError, NotFound
from veracity_server.openapi import declare_operations

T = TypeVar("T")
blueprint = Blueprint("downloads", __name__, url_prefix="/api/v1/downloads/ibkr-connector/windows")


def _on_register(state: BlueprintSetupState) -> None:
    init_downloads(state.app)  # type: ignore[arg-type]  # registered on a Flask app, not a bare App


blueprint.record_once(_on_register)
declare_operations(blueprint, OPERATIONS)

SHA256_HEADER = "X-Checksum-SHA256"


class DownloadNotConfigured(ApiError):
    """No valid release is configured (the reason is in the server log, not in the answer)."""

    status, code = 503, "not_configured"
    message = "The Windows connector download is not available right now; try again later."


def _state() -> DownloadsState:
    state: DownloadsState = current_app.extensions[EXTENSION_KEY]
    return state


def _served() -> ServedRelease:
    try:
        return _state().resolver.current()
    except NotConfigured:
        raise DownloadNotConfigured() from None


@blueprint.get("")
def release_metadata() -> Any:
    """What users need to decide to download: version, date, checksum, size, link."""
    served = _served()
    meta = served.metadata
    response = jsonify({
        "version": meta.version,
        "published_at": meta.published_at.isoformat().replace("+00:00", "Z")
        if meta.published_at else None,
        "sha256": served.sha256,
        "size": served.size,
        "filename": meta.filename,
        "notes": meta.notes,
        "release_notes_url": meta.release_notes_url,
        "download_url": _absolute_url("downloads.installer"),
    })
    response.headers["Cache-Control"] = "no-cache"
    return response


@blueprint.get("/installer")
def installer() -> Any:
    """The installer: a fresh presigned URL, the external URL, or the local file itself."""
    state = _state()
    served = _served()
    meta = served.metadata
    if meta.s3 is not None:
        return _redirect(_presigned(state, meta.s3, meta.filename))
    if meta.url is not None:
        return _redirect(meta.url)
    try:
        local = state.resolver.open_local_installer(meta)
    except NotConfigured as error:
        state.resolver.report_problem(str(error))
        raise DownloadNotConfigured() from None
    response = Response(wrap_file(request.environ, local.handle), mimetype=INSTALLER_TYPE,
                        direct_passthrough=True)
    response.content_length = local.size
    response.last_modified = local.modified_at
    response.set_etag(local.sha256)
    response.headers["Content-Disposition"] = f'attachment; filename="{meta.filename}"'
    response.headers[SHA256_HEADER] = local.sha256
    response.headers["Repr-Digest"] = \
        f"sha-256=:{base64.b64encode(bytes.fromhex(local.sha256)).decode()}:"
    response.cache_control.no_cache = True
    return response.make_conditional(request, accept_ranges=True, complete_length=local.size)


def _absolute_url(endpoint: str) -> str:
    """The endpoint's address under VERACITY_PUBLIC_URL, never under the request's Host header
    (which any client can forge, and a shared cache would then serve to everyone). Only a
    development server without a public URL falls back to the request's own address."""
    public_url = _state().settings.public_url
    if public_url:
        return public_url + url_for(endpoint)
    return url_for(endpoint, _external=True)


def _feed_of(state: DownloadsState) -> str:
    meta = _served().metadata
    if not meta.feed:
        state.resolver.report_problem(
            f"no update feed configured for version {meta.version} "
            f"({meta.source}: add a 'feed' key or IBKR_CONNECTOR_WINDOWS_FEED)")
        raise DownloadNotConfigured()
    return meta.feed


def _from_feed(state: DownloadsState, lookup: Callable[[Any, str], T], name: str) -> T:
    """`lookup(feed, name)` on the configured feed; 404 for a file it lacks, 503 without one."""
    try:
        return lookup(_feed_of(state), name)
    except UnknownFeedFile:
        raise _not_in_feed(name) from None
    except NotConfigured as error:
        state.resolver.report_problem(str(error))
        raise DownloadNotConfigured() from None


def _not_in_feed(name: str) -> NotFound:
    return NotFound(f"The update feed has no file named {name!r}.")


@blueprint.get("/updates/releases.<channel>.json")
def update_feed_index(channel: str) -> Any:
    """Velopack's feed index, served by us (Velopack adds a query string we must not break)."""
    state = _state()
    body = _from_feed(state, state.feed.index, f"releases.{channel}.json")
    response = Response(body, mimetype="application/json")
    response.headers["Cache-Control"] = "no-cache"
    return response


@blueprint.get("/updates/<name>")
def update_feed_package(name: str) -> Any:
    """A package the feed index lists: a fresh presigned URL, or the file of a local feed."""
    state = _state()
    location = _from_feed(state, state.feed.package, name)
    if isinstance(location, S3Object):
        return _redirect(_presigned(state, location, None))
    try:
        handle = location.open("rb")
    except OSError:
        raise _not_in_feed(name) from None
    size = os.fstat(handle.fileno()).st_size
    response = Response(wrap_file(request.environ, handle), mimetype="application/octet-stream",
                        direct_passthrough=True)
    response.content_length = size
    return response.make_conditional(request, accept_ranges=True, complete_length=size)


def _presigned(state: DownloadsState, obj: S3Object, download_name: str | None) -> str:
    try:
        return state.resolver.storage.presigned_get(obj, state.settings.downloads_presign_ttl_s,
                                                    download_name)
    except StorageError as error:
        state.resolver.report_problem(f"cannot presign s3://{obj.bucket}/{obj.key}: {error}")
        raise DownloadNotConfigured() from None


def _redirect(location: str) -> Response:
    # No body (Flask's redirect() adds an HTML one), and never cached by a proxy: a presigned
    # URL is made per request, so the next request must reach us for a fresh one.
    return Response(status=302, headers={"Location": location, "Cache-Control": "no-store"})
