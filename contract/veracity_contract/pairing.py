"""Request and response bodies of the pairing endpoints."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, StringConstraints

from veracity_contract.fields import NonEmptyText, StrictModel

PairingTokenText = Annotated[str, StringConstraints(min_length=1, max_length=200)]
# Chosen by the connector once per pairing attempt (a UUID, or any 16-128 URL-safe characters).
IdempotencyKey = Annotated[str, StringConstraints(min_length=16, max_length=128,
                                                  pattern=r"^[A-Za-z0-9_\-]+$")]
GatewayState = Literal["ok", "unauthenticated", "competing", "unreachable", "error"]


class Device(StrictModel):
    """The machine the connector runs on."""

    hostname: NonEmptyText
    platform: NonEmptyText
    connector_version: Annotated[str, StringConstraints(min_length=1, max_length=64)]


class ExchangeRequest(StrictModel):
    """A one-time token, the device that redeems it, and the attempt's idempotency key.

    Sending the same token with the same `idempotency_key` again while the token is valid (the
    first answer was lost) answers the same connector with another key, never a second
    connector. Every key so answered works until the connector first authenticates with one of
    them; from then on only that one works, and a repeat gets token_used.
    """

    token: PairingTokenText
    device: Device
    idempotency_key: IdempotencyKey | None = None


class ExchangeAnswer(BaseModel):
    """The new connector's id and key (shown once) and the intervals to use."""

    connector_id: str
    connector_key: str
    heartbeat_interval_s: int
    snapshot_interval_s: int
    # Opaque and stable per Veracity user (not the e-mail): tells a connector whether a new
    # pairing is the same account as before, so snapshots kept for it may be delivered.
    account_id: str


class PairingTokenAnswer(BaseModel):
    """A fresh one-time token and when it expires."""

    token: str
    expires_at: str


class GatewayReport(BaseModel):
    """What the connector last reported about the gateway."""

    state: GatewayState
    message: str | None
    port: int | None


class SnapshotRefusal(BaseModel):
    """The last snapshot Veracity refused from a connector, and why."""

    at: str
    status: int
    code: str
    message: str


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
    last_refusal: SnapshotRefusal | None


class ConnectorList(BaseModel):
    """The user's connectors, newest first."""

    connectors: list[ConnectorInfo]


class RevokeAnswer(BaseModel):
    """The connector after revocation."""

    connector: ConnectorInfo
