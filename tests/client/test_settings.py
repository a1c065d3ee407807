"""Settings: file + environment, strict validation with messages that say where."""

from __future__ import annotations

import json

import pytest

from veracity_connector.settings import FIELDS, Folders, SettingsError, load_settings, save_settings


@pytest.fixture
def folders(tmp_path):
    return Folders.from_environment({"IBKR_CONNECTOR_HOME": str(tmp_path)})


def test_home_relocates_every_folder_and_single_dirs_override(tmp_path):
    folders = Folders.from_environment({"IBKR_CONNECTOR_HOME": str(tmp_path),
                                        "IBKR_CONNECTOR_LOG_DIR": str(tmp_path / "elsewhere")})
    assert folders.config_dir == tmp_path / "config"
    assert folders.data_dir == tmp_path / "data"
    assert folders.log_dir == tmp_path / "elsewhere"
    assert folders.settings_file == tmp_path / "config" / "settings.json"


def test_defaults_without_file_or_environment(folders):
    settings = load_settings(folders, {})
    assert settings.gateway_url == "https://localhost:5000"
    assert settings.veracity_url == ""
    assert settings.key_store == "keyring"
    assert settings.tickle_interval_s == 60


def test_environment_overrides_the_file(folders):
    save_settings(folders, {"veracity_url": "https://file.example.com", "tickle_interval_s": 30})
    settings = load_settings(folders, {"VERACITY_URL": "https://env.example.com",
                                       "IBKR_GATEWAY_URL": "https://127.0.0.1:5001",
                                       "IBKR_GATEWAY_DIR": "/opt/gw"})
    assert settings.veracity_url == "https://env.example.com"
    assert settings.gateway_url == "https://127.0.0.1:5001"
    assert settings.gateway_dir == "/opt/gw"
    assert settings.tickle_interval_s == 30


def test_every_problem_is_listed_with_its_source(folders):
    folders.config_dir.mkdir(parents=True)
    folders.settings_file.write_text(json.dumps({"tickle_intervall_s": 5, "outbox_max_count": 0}))
    with pytest.raises(SettingsError) as raised:
        load_settings(folders, {"IBKR_CONNECTOR_TICKLE_INTERVAL_S": "soon",
                                "VERACITY_URL": "http://veracity.example.com"})
    message = str(raised.value)
    assert "unknown setting 'tickle_intervall_s'" in message
    assert "'outbox_max_count': must be greater than 0" in message
    assert "IBKR_CONNECTOR_TICKLE_INTERVAL_S: must be a number" in message
    assert "VERACITY_URL: the Veracity URL 'http://veracity.example.com' must use https" in message


def test_plain_http_is_allowed_for_loopback_veracity(folders):
    settings = load_settings(folders, {"VERACITY_URL": "http://127.0.0.1:8000/"})
    assert settings.veracity_url == "http://127.0.0.1:8000"


def test_remote_gateway_is_refused_unless_explicitly_allowed_with_a_ca(folders, tmp_path):
    with pytest.raises(SettingsError, match="must run on this machine"):
        load_settings(folders, {"IBKR_GATEWAY_URL": "https://192.168.1.20:5000"})
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text("-----BEGIN CERTIFICATE-----\n")
    settings = load_settings(folders, {"IBKR_GATEWAY_URL": "https://192.168.1.20:5000",
                                       "IBKR_GATEWAY_ALLOWED_HOST": "192.168.1.20",
                                       "IBKR_GATEWAY_CA_FILE": str(ca_file)})
    assert settings.gateway_address().verify == str(ca_file)


def test_broken_json_names_the_line(folders):
    folders.config_dir.mkdir(parents=True)
    folders.settings_file.write_text('{\n  "veracity_url": \n}')
    with pytest.raises(SettingsError, match=r"not valid JSON \(line 3"):
        load_settings(folders, {})


def test_save_merges_validates_and_leaves_the_file_intact_on_error(folders):
    save_settings(folders, {"veracity_url": "https://a.example.com"})
    save_settings(folders, {"gateway_url": "https://localhost:5001"})
    with pytest.raises(SettingsError):
        save_settings(folders, {"tickle_interval_s": -1})
    stored = json.loads(folders.settings_file.read_text())
    assert stored == {"veracity_url": "https://a.example.com",
                      "gateway_url": "https://localhost:5001"}


def test_every_setting_has_a_distinct_environment_variable():
    names = [field.env for field in FIELDS]
    assert len(names) == len(set(names))
    assert {"VERACITY_URL", "IBKR_GATEWAY_URL", "IBKR_GATEWAY_DIR"} <= set(names)
    assert all(name.isupper() for name in names)
