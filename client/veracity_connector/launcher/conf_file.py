"""Reading and rewriting the gateway's `root/conf.yaml` (listenPort, listenSsl).

The rewrite changes the `listenPort` value and nothing else: ruamel.yaml's round-trip loader
tells us where that value sits, we replace just those characters, then re-load the result to
check that every other key is unchanged. A full dump would re-indent IBKR's hand-written file
(it mixes 2- and 4-space blocks); this way comments, quoting and layout survive byte for byte.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError

DEFAULT_LISTEN_PORT = 5000  # what IBKR ships
# One YAML scalar token at the start of the text: quoted, or plain up to a space or comment.
_SCALAR_TOKEN = re.compile(r"\"[^\"\n]*\"|'[^'\n]*'|[^\s#,\]}]+")


class GatewayConfError(ValueError):
    """conf.yaml is missing or unreadable; the message names the file and what is wrong."""


@dataclass(frozen=True)
class ListenSettings:
    """Where the gateway listens, as its conf.yaml says."""

    port: int
    ssl: bool

    @property
    def url(self) -> str:
        """The address the person logs in at and the connector polls."""
        return f"{'https' if self.ssl else 'http'}://localhost:{self.port}"


def _load(text: str, path: Path) -> CommentedMap:
    try:
        data = YAML(typ="rt").load(text)
    except YAMLError as error:
        raise GatewayConfError(f"{path} is not valid YAML: {error}") from None
    if not isinstance(data, CommentedMap):
        raise GatewayConfError(f"{path} does not hold the gateway's settings (expected keys "
                               "such as listenPort: 5000)")
    return data


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")  # bytes: keep CRLF line endings as they are
    except FileNotFoundError:
        raise GatewayConfError(f"{path} does not exist: is this the gateway folder?") from None
    except (OSError, UnicodeDecodeError) as error:
        raise GatewayConfError(f"{path} cannot be read: {error}") from None


def _port_value(raw: Any, path: Path) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise GatewayConfError(f"{path}: listenPort must be a port number, found {raw!r}")
    text = str(raw).strip()
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise GatewayConfError(
            f"{path}: listenPort must be a whole number from 1 to 65535, found {raw!r}")
    return int(text)


def read_listen_settings(conf_path: Path) -> ListenSettings:
    """listenPort (default 5000) and listenSsl (default true) from conf.yaml."""
    data = _load(_read_text(conf_path), conf_path)
    port = _port_value(data.get("listenPort", DEFAULT_LISTEN_PORT), conf_path)
    ssl = data.get("listenSsl", True)
    if isinstance(ssl, str) and ssl.strip().lower() in {"true", "false"}:
        ssl = ssl.strip().lower() == "true"
    if not isinstance(ssl, bool):
        raise GatewayConfError(f"{conf_path}: listenSsl must be true or false, found {ssl!r}")
    return ListenSettings(port=port, ssl=ssl)


def _atomic_write(path: Path, text: str) -> None:
    """Replace the file in one step, so a crash never leaves half a conf.yaml behind."""
    mode = path.stat().st_mode & 0o777
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".conf-", suffix=".yaml")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _replace_port_text(text: str, data: CommentedMap, port: int, path: Path) -> str:
    line_number, column = data.lc.value("listenPort")
    lines = text.splitlines(keepends=True)
    line = lines[line_number]
    token = _SCALAR_TOKEN.match(line, column)
    if token is None:
        raise GatewayConfError(f"{path}: cannot find the listenPort value on line "
                               f"{line_number + 1}")
    old = token.group(0)
    new = f"{old[0]}{port}{old[0]}" if old[0] in "\"'" else str(port)  # keep its quoting
    lines[line_number] = line[: token.start()] + new + line[token.end():]
    return "".join(lines)


def set_listen_port(conf_path: Path, port: int) -> None:
    """Make the gateway listen on `port`, leaving every other byte of conf.yaml as it was."""
    if not 1 <= port <= 65535:
        raise ValueError(f"not a port number: {port}")
    text = _read_text(conf_path)
    data = _load(text, conf_path)
    if "listenPort" in data:
        new_text = _replace_port_text(text, data, port, conf_path)
    else:
        # No listenPort yet (the gateway then uses 5000): add it as the first key.
        newline = "\r\n" if "\r\n" in text else "\n"
        new_text = f"listenPort: {port}{newline}{text}"
    check = _load(new_text, conf_path)
    expected = dict(data)
    expected["listenPort"] = port
    if _port_value(check.get("listenPort"), conf_path) != port or {
            key: value for key, value in check.items() if key != "listenPort"} != {
            key: value for key, value in expected.items() if key != "listenPort"}:
        raise GatewayConfError(f"{conf_path}: rewriting listenPort would change other "
                               "settings; edit the file by hand")
    _atomic_write(conf_path, new_text)
