"""Deleting a connector and everything it sent: an explicit action, confirmed in the body."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from veracity_contract.fields import StrictModel


class DeleteConnectorRequest(StrictModel):
    """`{"confirm": true}`: without it nothing is deleted."""

    confirm: Literal[True]


class DeleteConnectorAnswer(BaseModel):
    """What was removed."""

    connector_id: str
    deleted_snapshots: int
