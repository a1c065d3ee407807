"""Request and response bodies of the pairing endpoints."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, StringConstraints

from veracity_contract.fields import NonEmptyText, StrictModel

PairingTokenText = Annotated[str, StringConstraints(min_length=1, max_length=200)]
GatewayState = Literal["ok", "unauthenticated", "competing", "unreachable", "error"]


class Device(StrictModel):
    """The machine the connector runs on."""

    hostname: NonEmptyText
    platform: NonEmptyText
    connector_version: Annotated[str, StringConstraints(min_length=1, max_length=64)]


class ExchangeRequest(StrictModel):
    """A one-time token and the device that redeems it."""

    token: PairingTokenText
    device: Device


class ExchangeAnswer(BaseModel):
    """The new connector's id and key (shown once) and the intervals to use."""

    connector_id: str
    connector_key: str
    heartbeat_interval_s: int
    snapshot_interval_s: int


class PairingTokenAnswer(BaseModel):
    """A fresh one-time token and when it expires."""

    token: str
    expires_at: str


class GatewayReport(BaseModel):
    """What the connector last reported about the gateway."""

    state: GatewayState
    message: str | None
    port: int | None


class ConnectorInfo(BaseModel):
    """A paired connector as the profile shows it."""

    id: str
    hostname: str
    platform: str
    connector_version: str
    created_at: str
    last_seen_at: str | None
    last_snapshot_at: str | None
    reported_last_snapshot_at: str | None
    revoked_at: str | None
    uptime_s: int | None
    status: Literal["online", "stale", "revoked"]
    gateway: GatewayReport | None


class ConnectorList(BaseModel):
    """The user's connectors, newest first."""

    connectors: list[ConnectorInfo]


class RevokeAnswer(BaseModel):
    """The connector after revocation."""

    connector: ConnectorInfo
