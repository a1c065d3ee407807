"""The download routes in the OpenAPI document (server/veracity_server/openapi.py's registry)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from veracity_server.openapi import Operation, Response, error_response

PREFIX = "/api/v1/downloads/ibkr-connector/windows"
NOT_CONFIGURED = error_response("not_configured: no valid release is configured (the server "
                                "log says what is wrong)")


class DownloadInfo(BaseModel):
    """The current Windows release of the connector."""

    version: str = Field(examples=["1.4.0"])
    published_at: str | None = Field(description="ISO 8601 timestamp")
    sha256: str | None = Field(description="hex SHA-256 of the installer")
    size: int | None = Field(description="installer size in bytes")
    filename: str = Field(description="the name the browser saves")
    notes: str | None
    release_notes_url: str | None
    download_url: str = Field(description="this server's installer URL (always fresh)")


INSTALLER_TYPE = "application/vnd.microsoft.portable-executable"


class VelopackFeed(BaseModel):
    """Velopack's feed index (releases.<channel>.json); assets keep Velopack's own fields."""

    model_config = ConfigDict(extra="allow")

    Assets: list[dict[str, Any]]


OPERATIONS = [
    Operation("GET", PREFIX, "The current Windows release of the connector", tag="downloads",
              responses={200: Response("The release", DownloadInfo), 503: NOT_CONFIGURED}),
    Operation("GET", f"{PREFIX}/installer", "Download the Windows installer", tag="downloads",
              description="302 to a freshly presigned storage URL or an external URL, or the "
                          "file itself with ETag, Last-Modified, Range and conditional GET.",
              responses={
                  200: Response("The installer", content_type=INSTALLER_TYPE,
                                headers={"X-Checksum-SHA256": "hex SHA-256 of the body",
                                         "ETag": "the SHA-256"}),
                  206: Response("A byte range of the installer", content_type=INSTALLER_TYPE),
                  302: Response("Redirect to the installer in storage", content_type=None,
                                headers={"Location": "the download URL"}),
                  304: Response("Not modified", content_type=None),
                  416: error_response("range_not_satisfiable"),
                  503: NOT_CONFIGURED}),
    Operation("GET", f"{PREFIX}/updates/releases.{{channel}}.json", "Velopack feed index",
              tag="downloads",
              description="The installed connector's Velopack update URL is "
                          f"{PREFIX}/updates; Velopack reads this index from it.",
              responses={200: Response("The feed index", VelopackFeed),
                         404: error_response("not_found: no index for this channel"),
                         503: NOT_CONFIGURED}),
    Operation("GET", f"{PREFIX}/updates/{{name}}", "A package of the Velopack feed",
              tag="downloads",
              description="Packages the index lists redirect to a fresh presigned storage URL "
                          "(or are served from a local feed folder); anything else is 404.",
              responses={
                  200: Response("The package", content_type="application/octet-stream"),
                  206: Response("A byte range of the package",
                                content_type="application/octet-stream"),
                  302: Response("Redirect to the package in storage", content_type=None,
                                headers={"Location": "the download URL"}),
                  304: Response("Not modified", content_type=None),
                  404: error_response("not_found: the feed has no such file"),
                  416: error_response("range_not_satisfiable"),
                  503: NOT_CONFIGURED}),
]
