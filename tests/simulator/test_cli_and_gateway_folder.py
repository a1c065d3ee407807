"""The command line and the fake gateway folder, as real subprocesses on free ports."""

from __future__ import annotations

import signal
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from ibkr_gateway_sim.gateway_folder import make_fake_gateway, write_conf
from tests.support.processes import (
    free_port,
    port_held_by_another_program,
    running_process,
    stop_process,
)

# The readiness poll cannot know the certificate yet (it is made at start); later calls verify it.
pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")


def _certificate_file(port: int, folder: Path) -> str:
    """Fetch the simulator's self-signed certificate so that calls can verify it."""
    path = folder / f"gateway-{port}.pem"
    path.write_text(ssl.get_server_certificate(("127.0.0.1", port)))
    return str(path)


def _auth_status(base_url: str, verify: str | bool = True) -> requests.Response:
    return requests.post(f"{base_url}/v1/api/iserver/auth/status", verify=verify, timeout=5)


def test_fake_gateway_starts_from_run_sh_on_the_port_in_conf_yaml(fake_gateway_folder, tmp_path):
    gateway = fake_gateway_folder
    assert f"listenPort: {gateway.port}" in gateway.conf.read_text()
    for part in ("bin/run.bat", "build/lib/runtime", "dist", "root/conf.yaml"):
        assert (gateway.root / part).exists(), part
    with running_process(gateway.start_command(), cwd=gateway.root,
                         log_path=tmp_path / "gateway.log",
                         ready_url=f"{gateway.base_url}/v1/api/iserver/auth/status",
                         verify=False) as process:
        assert gateway.base_url.startswith("https://")
        certificate = _certificate_file(gateway.port, tmp_path)
        assert _auth_status(gateway.base_url, certificate).json()["authenticated"] is False
        # exec'd: the process we started IS the simulator, so signalling it stops the gateway.
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    assert f"Server listening on port {gateway.port}" in (tmp_path / "gateway.log").read_text()


def test_changed_listen_port_and_plain_http_are_honoured(tmp_path):
    gateway = make_fake_gateway(tmp_path / "gw", port=free_port())
    new_port = free_port()
    write_conf(gateway.conf, new_port, ssl=False)
    url = f"http://127.0.0.1:{new_port}"
    with running_process(gateway.start_command(), cwd=gateway.root,
                         log_path=tmp_path / "gateway.log",
                         ready_url=f"{url}/v1/api/iserver/auth/status"):
        assert _auth_status(url).status_code == 200


def test_callers_outside_ips_allow_get_access_denied(tmp_path):
    gateway = make_fake_gateway(tmp_path / "gw", port=free_port())
    write_conf(gateway.conf, gateway.port, allow=("192.*",))
    with running_process(gateway.start_command(), cwd=gateway.root,
                         log_path=tmp_path / "gateway.log",
                         ready_url=f"{gateway.base_url}/v1/api/tickle", verify=False):
        certificate = _certificate_file(gateway.port, tmp_path)
        denied = _auth_status(gateway.base_url, certificate)
        assert (denied.status_code, denied.text) == (403, "Access Denied.")
        # The control API is not the gateway's: it still answers.
        control = requests.get(f"{gateway.base_url}/sim/session", verify=certificate, timeout=5)
        assert control.status_code == 200


def test_run_sh_without_config_prints_usage(fake_gateway_folder):
    finished = subprocess.run(["bin/run.sh"], cwd=fake_gateway_folder.root,
                              capture_output=True, text=True, timeout=30)
    assert finished.returncode == 1 and "usage: run.sh <config file>" in finished.stdout


def test_taken_port_is_one_clear_line_and_a_failing_exit_code():
    with port_held_by_another_program() as port:
        finished = subprocess.run([sys.executable, "-m", "ibkr_gateway_sim", "--port", str(port)],
                                  capture_output=True, text=True, timeout=30)
    assert finished.returncode != 0
    assert finished.stderr.strip() == (
        f"ibkr-gateway-sim: error: port {port} on 127.0.0.1 is already in use (or not "
        "allowed): stop the program using it or choose another port")
    assert "Traceback" not in finished.stderr + finished.stdout


@pytest.mark.parametrize(("conf_text", "message"), [
    ("listenPort: [1]\n", "listenPort must be a port number"),
    ("listenSsl: maybe\n", "listenSsl must be true or false"),
    ("listenPort: 5000\n  bad: : indentation\n", "is not valid YAML"),
    (None, "cannot read"),
])
def test_bad_conf_yaml_is_a_clear_error(tmp_path, conf_text, message):
    conf = tmp_path / "conf.yaml"
    if conf_text is not None:
        conf.write_text(conf_text)
    finished = subprocess.run([sys.executable, "-m", "ibkr_gateway_sim", "--conf", str(conf)],
                              capture_output=True, text=True, timeout=30)
    assert finished.returncode == 2
    assert message in finished.stderr and "Traceback" not in finished.stderr


def test_bad_arguments_are_refused():
    finished = subprocess.run([sys.executable, "-m", "ibkr_gateway_sim", "--port", "http"],
                              capture_output=True, text=True, timeout=30)
    assert finished.returncode == 2 and "not a port number" in finished.stderr


def test_cli_options_reach_the_simulator(tmp_path):
    port = free_port()
    command = [sys.executable, "-m", "ibkr_gateway_sim", "--port", str(port), "--http",
               "--logged-in",
               "--no-pacing", "--no-preflight", "--idle-timeout", "42", "--seed", "3"]
    url = f"http://127.0.0.1:{port}"
    with running_process(command, log_path=tmp_path / "sim.log",
                         ready_url=f"{url}/sim/config") as process:
        config = requests.get(f"{url}/sim/config", timeout=5).json()
        assert (config["pacing_enabled"], config["preflight_empty_orders"]) == (False, False)
        assert (config["idle_timeout_s"], config["seed"]) == (42, 3)
        assert requests.get(f"{url}/v1/api/portfolio/accounts", timeout=5).status_code == 200
        stop_process(process)
        assert process.returncode == 0
