"""docs/simulator.md stays honest: every CLI option, control call and gateway route is in it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ibkr_gateway_sim.app import create_app
from ibkr_gateway_sim.cli import build_parser
from ibkr_gateway_sim.options import SimulatorOptions
from ibkr_gateway_sim.state import SimulatorState

DOC = (Path(__file__).resolve().parents[2] / "docs" / "simulator.md").read_text()


def _routes() -> list[tuple[str, str]]:
    app = create_app(SimulatorState(SimulatorOptions()))
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        found.append((path, rule.endpoint))
    return found


@pytest.mark.parametrize("option", [
    flag for action in build_parser()._actions for flag in action.option_strings
    if flag.startswith("--") and flag != "--help"])
def test_every_cli_option_is_documented(option):
    assert f"`{option}" in DOC


@pytest.mark.parametrize(("path", "endpoint"), [
    route for route in _routes() if route[0].startswith("/sim/")])
def test_every_control_call_is_documented(path, endpoint):
    documented = re.sub(r"\{\w+\}", "{}", DOC)
    assert re.sub(r"\{\w+\}", "{}", path) in documented, endpoint


@pytest.mark.parametrize(("path", "endpoint"), [
    route for route in _routes() if route[0].startswith("/v1/api/")])
def test_every_gateway_route_is_documented(path, endpoint):
    short = path[len("/v1/api"):]
    # The docs write account and page parameters the way IBKR's own docs do.
    short = short.replace("{accountId}", "{acct}").replace("{pageId}", "{page}").rstrip("/")
    if short in DOC:
        return
    # A table row may list sibling routes after the first one: `GET /portfolio/{acct}/meta`,
    # `/summary`, `/ledger`. Then the row naming the parent must also name `/<last part>`.
    parent, last = short.rsplit("/", 1)
    rows = [line for line in DOC.splitlines() if line.startswith("|") and f"{parent}/" in line]
    assert any(f"/{last}`" in row for row in rows), endpoint


def test_every_option_is_documented():
    for name in SimulatorOptions().as_json():
        assert f"`{name}`" in DOC, name
