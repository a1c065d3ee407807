"""docs/connector.md stays honest: every setting, variable, command, exit code and state."""

from __future__ import annotations

from pathlib import Path

from veracity_connector.cli import COMMANDS, ExitCode
from veracity_connector.credentials import ENV_KEY, KEY_USERNAME, SERVICE_NAME
from veracity_connector.settings import FIELDS
from veracity_connector.state import ConnectorState

DOCS = (Path(__file__).resolve().parents[2] / "docs" / "connector.md").read_text()


def test_every_setting_and_variable_is_documented():
    for field in FIELDS:
        assert f"| `{field.name}` | `{field.env}` |" in DOCS, field.name
    for variable in (ENV_KEY, "IBKR_CONNECTOR_HOME", "IBKR_CONNECTOR_CONFIG_DIR",
                     "IBKR_CONNECTOR_DATA_DIR", "IBKR_CONNECTOR_LOG_DIR"):
        assert f"`{variable}`" in DOCS, variable


def test_every_command_exit_code_and_state_is_documented():
    for command in COMMANDS:
        assert f"`ibkr-connector {command}" in DOCS, command
    for code in ExitCode:
        assert f"\n| {code.value} |" in DOCS, code
    for state in ConnectorState:
        assert f"| `{state.value}` |" in DOCS, state


def test_the_credential_store_names_are_documented():
    assert f"**`{SERVICE_NAME}`**" in DOCS and f"**`{KEY_USERNAME}`**" in DOCS
