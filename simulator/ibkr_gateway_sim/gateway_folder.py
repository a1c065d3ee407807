"""Lay out a fake Client Portal Gateway folder whose `bin/run.sh` starts this simulator.

The layout copies IBKR's `clientportal.gw.zip` (bin/, build/lib/runtime/, dist/, root/conf.yaml),
so a launcher that finds, configures and starts the user's gateway can be tested for real:
`cd <folder> && bin/run.sh root/conf.yaml` serves on conf.yaml's `listenPort`.
"""

from __future__ import annotations

import shlex
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

import ibkr_gateway_sim

GATEWAY_JAR = "ibgroup.web.core.iblink.router.clientportal.gw.jar"

# The real conf.yaml's keys and shape (values as IBKR ships them, apart from the port).
_CONF_TEMPLATE = """\
# Client Portal Gateway configuration (fake gateway laid out by the Veracity simulator).
# Keys and layout follow IBKR's root/conf.yaml; the simulator reads listenPort, listenSsl, ips.
ip2loc: "US"
proxyRemoteSsl: true
proxyRemoteHost: "https://api.ibkr.com"
# The port the gateway listens on: change it when another program uses it, and point every
# client (the Veracity connector included) at the same port.
listenPort: {port}
listenSsl: {ssl}
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
    maxWorkerExecuteTime: 100
    internalBlockingPoolSize: 20
cors:
    origin.allowed: "*"
    allowCredentials: false
webApps:
    - name: "demo"
      index: "index.html"
# Callers allowed to use the gateway (glob patterns); anyone else gets "Access Denied."
ips:
  allow:
{allow}
  deny:
    - 212.90.324.10
"""

_RUN_SH = """\
#!/bin/sh
# Fake Client Portal Gateway start script (Veracity simulator). Run it from the gateway root,
# like IBKR's: bin/run.sh root/conf.yaml
if [ -z "$1" ]; then
    echo "usage: run.sh <config file>"
    exit 1
fi
config_file=$1
PYTHONPATH={package_parent}${{PYTHONPATH:+:$PYTHONPATH}}
export PYTHONPATH
# exec: the simulator replaces this shell, so a signal to this process stops the gateway.
exec {python} -m ibkr_gateway_sim --conf "$config_file"
"""

_RUN_BAT = """\
@echo off
rem Fake Client Portal Gateway start script (Veracity simulator).
rem Run it from the gateway root, like IBKR's: bin\\run.bat root\\conf.yaml
if "%1"=="" (
    echo usage: run.bat ^<config file^>
    exit /b 1
)
set PYTHONPATH={package_parent};%PYTHONPATH%
"{python}" -m ibkr_gateway_sim --conf %1
"""


@dataclass(frozen=True)
class FakeGateway:
    """Where the parts of a fake gateway folder are."""

    root: Path
    run_sh: Path
    run_bat: Path
    conf: Path
    port: int
    ssl: bool

    @property
    def base_url(self) -> str:
        """The URL the simulator will serve once started with the conf's port."""
        return f"{'https' if self.ssl else 'http'}://127.0.0.1:{self.port}"

    def start_command(self) -> list[str]:
        """The command to run from `root` (the gateway's own way to start)."""
        return ["bin/run.sh", "root/conf.yaml"]


def write_conf(conf_path: Path, port: int, ssl: bool = True,
               allow: tuple[str, ...] = ("192.*", "131.216.*", "127.0.0.1")) -> None:
    """Write a conf.yaml in the real file's shape with this port, TLS setting and allow list."""
    allow_lines = "\n".join(f"    - {pattern}" for pattern in allow) if allow else "    []"
    conf_path.write_text(_CONF_TEMPLATE.format(port=port, ssl="true" if ssl else "false",
                                               allow=allow_lines), encoding="utf-8")


def make_fake_gateway(path: Path, port: int, ssl: bool = True,
                      python: str | None = None) -> FakeGateway:
    """Create the folder layout at `path` (created if missing) for a gateway on `port`."""
    python = python or sys.executable
    package_parent = str(Path(ibkr_gateway_sim.__file__).resolve().parent.parent)
    root = Path(path)
    for folder in ("bin", "build/lib/runtime", "dist", "doc", "root", "root/webapps/demo"):
        (root / folder).mkdir(parents=True, exist_ok=True)

    run_sh = root / "bin" / "run.sh"
    run_sh.write_text(_RUN_SH.format(python=shlex.quote(python),
                                     package_parent=shlex.quote(package_parent)),
                      encoding="utf-8")
    run_sh.chmod(run_sh.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    run_bat = root / "bin" / "run.bat"
    run_bat.write_text(_RUN_BAT.format(python=python, package_parent=package_parent)
                       .replace("\n", "\r\n"), encoding="utf-8", newline="")

    conf = root / "root" / "conf.yaml"
    write_conf(conf, port, ssl)
    placeholders = {
        f"dist/{GATEWAY_JAR}": "placeholder: the simulator stands in for IBKR's gateway jar\n",
        "build/lib/runtime/README.txt": "placeholder for the gateway's runtime jars\n",
        "root/logback.xml": "<configuration><!-- placeholder --></configuration>\n",
        "root/vertx.jks": "placeholder: the simulator makes its own certificate at start\n",
        "root/webapps/demo/index.html": "<!doctype html><title>demo</title>\n",
        "doc/README.txt": "Fake Client Portal Gateway laid out by the Veracity simulator.\n",
    }
    for relative, text in placeholders.items():
        (root / relative).write_text(text, encoding="utf-8")
    return FakeGateway(root=root, run_sh=run_sh, run_bat=run_bat, conf=conf, port=port, ssl=ssl)
