"""The download routes in the OpenAPI document (server/openapi.py's registry)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from server.openapi import Operation, Response, error_response

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


OPERATIONS = [
    Operation("GET", PREFIX, "The current Windows release of the connector", tag="downloads",
              responses={200: Response("The release", DownloadInfo), 503: NOT_CONFIGURED}),
    Operation("GET", f"{PREFIX}/installer", "Download the Windows installer", tag="downloads",
              description="302 to a freshly presigned storage URL or an external URL, or the "
                          "file itself with ETag, Last-Modified, Range and conditional GET.",
              responses={
                  200: Response("The installer", content_type="application/octet-stream",
                                headers={"X-Checksum-SHA256": "hex SHA-256 of the body",
                                         "ETag": "the SHA-256"}),
                  206: Response("A byte range of the installer",
                                content_type="application/octet-stream"),
                  302: Response("Redirect to the installer in storage", content_type=None,
                                headers={"Location": "the download URL"}),
                  304: Response("Not modified", content_type=None),
                  416: Response("Range not satisfiable", content_type=None),
                  503: NOT_CONFIGURED}),
    Operation("GET", f"{PREFIX}/updates/{{name}}", "Velopack update feed", tag="downloads",
              description="releases.<channel>.json from the server; packages it lists redirect "
                          "to storage (or are served from a local feed folder).",
              responses={
                  200: Response("The feed index or a package",
                                content_type="application/octet-stream"),
                  302: Response("Redirect to the package in storage", content_type=None),
                  404: error_response("not_found: the feed has no such file"),
                  503: NOT_CONFIGURED}),
]
