"""GET /api/v1/openapi.json: a valid OpenAPI 3.1 document that matches the real URL rules."""

from __future__ import annotations

from flask import Flask
from openapi_spec_validator import validate

from veracity_server.openapi import is_documented_scope, openapi_path

IGNORED_METHODS = {"HEAD", "OPTIONS"}


def _served_operations(app: Flask) -> set[tuple[str, str]]:
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or not is_documented_scope(rule.rule):
            continue
        for method in (rule.methods or set()) - IGNORED_METHODS:
            served.add((openapi_path(rule.rule), method.lower()))
    return served


def test_every_route_is_documented_and_nothing_else(app, client) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    documented = {(path, method) for path, operations in document["paths"].items()
                  for method in operations}
    served = _served_operations(app)
    assert served - documented == set(), "routes missing from the OpenAPI document"
    assert documented - served == set(), "documented operations the app does not serve"
    assert ("/api/v1/connector/snapshots", "post") in documented


def test_the_document_is_valid_openapi_31(client) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"] == "3.1.0"
    validate(document)


def test_request_schemas_forbid_unknown_fields_at_every_level(client) -> None:
    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    for name in ("SnapshotRequest", "AccountIn", "PositionIn", "StopOrderIn", "HeartbeatRequest",
                 "GatewayStatus", "ExchangeRequest", "Device", "LoginRequest"):
        assert schemas[name]["additionalProperties"] is False, name


def test_every_operation_documents_its_errors_with_the_error_body(client) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")) and "content" in response:
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (path, method)


def test_openapi_path_converts_flask_parts() -> None:
    assert openapi_path("/a/<int:item_id>/b/<name>") == "/a/{item_id}/b/{name}"
