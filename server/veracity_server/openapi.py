"""The OpenAPI 3.1 document at `GET /api/v1/openapi.json`, built from a registry of operations.

How a blueprint contributes its operations (the downloads blueprint does this too):

    from veracity_server.openapi import Operation, Response, declare_operations

    declare_operations(blueprint, [
        Operation("GET", "/api/v1/downloads/ibkr-connector/windows", "Installer metadata",
                  tag="downloads", responses={200: Response("Metadata", DownloadInfo),
                                              503: ERROR_RESPONSE}),
    ])

`declare_operations` records the operations on the blueprint; they join the app's registry when
the blueprint is registered on an app, so the document always lists what the app really serves.
Paths use OpenAPI's `{name}` syntax for Flask's `<name>` parts. Request and response bodies are
pydantic models (request bodies in validation mode, responses in serialization mode, where
decimals are strings). Operations that are not JSON (a redirect, a file) pass `Response(...,
model=None, content_type=...)`. App-level routes register with `register_operations(app, [...])`.

Scope: every URL rule under `/api/` plus `/healthz` and `/readyz` must be documented, and the
document must hold nothing else; `tests/server/test_openapi.py` checks both directions. HTML pages
(the profile page, login page) and static files are outside the API and not documented.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from flask import Blueprint, Flask, current_app
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

EXTENSION_KEY = "veracity_openapi"
SECURITY_SCHEMES = {
    "connector_key": {"type": "http", "scheme": "bearer",
                      "description": "The connector key (vck_...) returned by the exchange."},
    "session": {"type": "apiKey", "in": "cookie", "name": "session",
                "description": "The session cookie from POST /api/v1/session; unsafe methods "
                               "also need the X-CSRF-Token header."},
}


class ErrorDetail(BaseModel):
    """The error's code and message."""

    code: str
    message: str


class ErrorBody(BaseModel):
    """Every error response: {"error": {"code", "message"}}."""

    error: ErrorDetail


@dataclass(frozen=True)
class Response:
    """One documented response: description, body model (None: no JSON body), extra headers."""

    description: str
    model: type[BaseModel] | None = None
    content_type: str | None = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)


def error_response(description: str, headers: Mapping[str, str] | None = None) -> Response:
    """A documented error response with the standard error body."""
    return Response(description, ErrorBody, headers=headers or {})


@dataclass(frozen=True)
class Operation:
    """One method on one path, as the document describes it."""

    method: str
    path: str
    summary: str
    tag: str
    responses: Mapping[int, Response]
    request_model: type[BaseModel] | None = None
    request_required: bool = True
    security: Literal["connector_key", "session"] | None = None
    csrf: bool = False
    description: str | None = None
    # Optional query parameters: name → JSON schema (with a "description").
    query: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


class Registry:
    """The operations one app serves."""

    def __init__(self) -> None:
        self.operations: dict[tuple[str, str], Operation] = {}

    def add(self, operation: Operation) -> None:
        """Add an operation; the same method+path twice is a programming error."""
        key = (operation.path, operation.method.upper())
        if key in self.operations:
            raise ValueError(f"operation {operation.method} {operation.path} declared twice")
        self.operations[key] = operation


def registry(app: Flask | None = None) -> Registry:
    """The registry of `app` (default: the current app), created on first use."""
    target = app or current_app
    found: Registry = target.extensions.setdefault(EXTENSION_KEY, Registry())
    return found


def register_operations(app: Flask, operations: Iterable[Operation]) -> None:
    """Add app-level operations (routes not in a blueprint)."""
    for operation in operations:
        registry(app).add(operation)


def declare_operations(blueprint: Blueprint, operations: Iterable[Operation]) -> None:
    """Record a blueprint's operations; they are added to each app it is registered on."""
    frozen = list(operations)
    blueprint.record_once(
        lambda state: register_operations(state.app, frozen))  # type: ignore[arg-type]


_FLASK_PART = re.compile(r"<(?:[a-z_]+:)?([a-zA-Z_][a-zA-Z0-9_]*)>")


def openapi_path(rule: str) -> str:
    """`/a/<int:id>/b` → `/a/{id}/b`."""
    return _FLASK_PART.sub(r"{\1}", rule)


def is_documented_scope(rule: str) -> bool:
    """True for URL rules the document must cover (the JSON API and the health checks)."""
    return rule.startswith("/api/") or rule in {"/healthz", "/readyz"}


def build_document(app: Flask, title: str, version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document for everything registered on `app`."""
    operations = sorted(registry(app).operations.values(), key=lambda op: (op.path, op.method))
    models: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = []
    for operation in operations:
        if operation.request_model is not None:
            models.append((operation.request_model, "validation"))
        for response in operation.responses.values():
            if response.model is not None:
                models.append((response.model, "serialization"))
    unique_models = list(dict.fromkeys(models))
    references, definitions = models_json_schema(
        unique_models, ref_template="#/components/schemas/{model}")
    paths: dict[str, dict[str, Any]] = {}
    for operation in operations:
        paths.setdefault(operation.path, {})[operation.method.lower()] = _operation_document(
            operation, references)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {"schemas": definitions.get("$defs", {}),
                       "securitySchemes": SECURITY_SCHEMES},
    }


def _operation_document(operation: Operation,
                        references: Mapping[Any, Any]) -> dict[str, Any]:
    document: dict[str, Any] = {
        "summary": operation.summary,
        "tags": [operation.tag],
        "operationId": f"{operation.method.lower()}_{_identifier(operation.path)}",
        "responses": {},
    }
    if operation.description:
        document["description"] = operation.description
    parameters = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                  for name in re.findall(r"{([^}]+)}", operation.path)]
    for name, schema in operation.query.items():
        described = dict(schema)
        parameters.append({"name": name, "in": "query", "required": False,
                           "description": described.pop("description", ""),
                           "schema": described})
    if operation.csrf:
        parameters.append({"name": "X-CSRF-Token", "in": "header", "required": True,
                           "schema": {"type": "string"},
                           "description": "The csrf_token from POST /api/v1/session."})
    if parameters:
        document["parameters"] = parameters
    if operation.security:
        document["security"] = [{operation.security: []}]
    if operation.request_model is not None:
        document["requestBody"] = {
            "required": operation.request_required,
            "content": {"application/json": {
                "schema": references[(operation.request_model, "validation")]}},
        }
    for status, response in sorted(operation.responses.items()):
        entry: dict[str, Any] = {"description": response.description}
        if response.model is not None and response.content_type:
            entry["content"] = {response.content_type: {
                "schema": references[(response.model, "serialization")]}}
        elif response.content_type and response.content_type != "application/json":
            entry["content"] = {response.content_type: {
                "schema": {"type": "string", "format": "binary"}}}
        if response.headers:
            entry["headers"] = {name: {"description": text, "schema": {"type": "string"}}
                                for name, text in response.headers.items()}
        document["responses"][str(status)] = entry
    return document


def _identifier(path: str) -> str:
    return re.sub(r"[^a-zA-Z0-9]+", "_", path).strip("_")
