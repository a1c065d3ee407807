"""Reading and rewriting root/conf.yaml: only listenPort changes, everything else survives."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from veracity_connector.launcher.conf_file import (
    GatewayConfError,
    ListenSettings,
    read_listen_settings,
    set_listen_port,
)

# The shape of IBKR's own file: comments, quoted strings, 2- and 4-space blocks, lists.
IBKR_CONF = """\
# Client Portal Gateway configuration
ip2loc: "US"
proxyRemoteSsl: true
proxyRemoteHost: "https://api.ibkr.com"
listenPort: 5000   # the port the browser and the connector use
listenSsl: true
ccp: false
svcEnvironment: "v1"
sslCert: "vertx.jks"
sslPwd: "mywebapi"
authDelay: 3000
portalBaseURL: ""
serverOptions:
    blockedThreadCheckInterval: 1000000
    eventLoopPoolSize: 20
    workerPoolSize: 20
cors:
    origin.allowed: "*"
    allowCredentials: false
webApps:
    - name: "demo"
      index: "index.html"
ips:
  allow:
    # who may call the gateway
    - 192.*
    - 131.216.*
    - 127.0.0.1
  deny:
    - 212.90.324.10
"""


def write_conf(tmp_path: Path, text: str = IBKR_CONF, newline: str = "\n") -> Path:
    path = tmp_path / "conf.yaml"
    path.write_bytes(text.replace("\n", newline).encode())
    return path


def test_reads_port_and_tls(tmp_path: Path) -> None:
    listen = read_listen_settings(write_conf(tmp_path))
    assert listen == ListenSettings(port=5000, ssl=True)
    assert listen.url == "https://localhost:5000"


def test_missing_keys_mean_ibkr_defaults(tmp_path: Path) -> None:
    assert read_listen_settings(write_conf(tmp_path, "ccp: false\n")) == ListenSettings(5000, True)
    plain = write_conf(tmp_path, "listenPort: 5002\nlistenSsl: false\n")
    assert read_listen_settings(plain).url == "http://localhost:5002"


def test_rewriting_the_port_changes_that_value_and_nothing_else(tmp_path: Path) -> None:
    path = write_conf(tmp_path)

    set_listen_port(path, 5123)

    expected = IBKR_CONF.replace("listenPort: 5000   #", "listenPort: 5123   #")
    assert path.read_text() == expected  # byte for byte: comments, quotes, indentation
    assert read_listen_settings(path).port == 5123
    data = YAML(typ="safe").load(path.read_text())
    assert data["ips"] == {"allow": ["192.*", "131.216.*", "127.0.0.1"],
                           "deny": ["212.90.324.10"]}
    assert data["serverOptions"]["eventLoopPoolSize"] == 20


def test_a_quoted_port_stays_quoted_and_windows_line_endings_stay(tmp_path: Path) -> None:
    path = write_conf(tmp_path, 'listenPort: "5000"\nlistenSsl: true\n', newline="\r\n")

    set_listen_port(path, 6001)

    assert path.read_bytes() == b'listenPort: "6001"\r\nlistenSsl: true\r\n'
    assert read_listen_settings(path).port == 6001


def test_a_missing_listen_port_is_added_without_touching_the_rest(tmp_path: Path) -> None:
    path = write_conf(tmp_path, "# settings\nlistenSsl: true\n")
    set_listen_port(path, 5999)
    assert path.read_text() == "listenPort: 5999\n# settings\nlistenSsl: true\n"


def test_the_file_mode_is_kept_and_no_temporary_file_is_left(tmp_path: Path) -> None:
    path = write_conf(tmp_path)
    path.chmod(0o640)
    set_listen_port(path, 5001)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert sorted(item.name for item in tmp_path.iterdir()) == ["conf.yaml"]


@pytest.mark.parametrize(("text", "complaint"), [
    ("listenPort: [5000\n", "not valid YAML"),
    ("- just\n- a list\n", "does not hold the gateway's settings"),
    ("listenPort: abc\n", "whole number from 1 to 65535, found 'abc'"),
    ("listenPort: 70000\n", "whole number from 1 to 65535, found 70000"),
    ("listenPort: true\n", "must be a port number"),
    ("listenSsl: maybe\n", "listenSsl must be true or false"),
])
def test_bad_files_get_a_message_that_names_the_problem(tmp_path: Path, text: str,
                                                        complaint: str) -> None:
    path = write_conf(tmp_path, text)
    with pytest.raises(GatewayConfError, match=complaint) as caught:
        read_listen_settings(path)
    assert str(path) in str(caught.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(GatewayConfError, match="does not exist: is this the gateway folder"):
        read_listen_settings(tmp_path / "root" / "conf.yaml")


def test_a_bad_file_is_not_rewritten(tmp_path: Path) -> None:
    path = write_conf(tmp_path, "listenPort: [5000\n")
    with pytest.raises(GatewayConfError):
        set_listen_port(path, 5001)
    assert path.read_text() == "listenPort: [5000\n"


def test_an_impossible_port_is_refused(tmp_path: Path) -> None:
    path = write_conf(tmp_path)
    with pytest.raises(ValueError, match="not a port number"):
        set_listen_port(path, 0)
    assert path.read_text() == IBKR_CONF
