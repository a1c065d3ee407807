"""The launcher runs the simulator's fake gateway folder through its own run script."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from ibkr_gateway_sim.gateway_folder import FakeGateway
from tests.support.processes import free_port, port_held_by_another_program, running_process
from tests.support.waiting import wait_until
from veracity_connector.launcher import (
    JAVA_HINT,
    ConfFollower,
    GatewayLauncher,
    LaunchError,
    ListenSettings,
    PortOccupant,
    PortTakenError,
    find_java,
    identify_port_occupant,
    read_listen_settings,
    set_listen_port,
)
from veracity_connector.platform import current_platform

pytestmark = pytest.mark.timeout(120)


def wait_for_gateway(port: int, launcher: GatewayLauncher, timeout_s: float = 30.0) -> None:
    """Until the started gateway answers on `port` (fails early if it exited)."""
    def answering() -> bool:
        if identify_port_occupant(port, timeout_s=2) is PortOccupant.GATEWAY:
            return True
        if not launcher.is_running():
            pytest.fail(f"the gateway exited ({launcher.exit_code()}):\n{launcher.log_tail()}")
        return False

    wait_until(answering, timeout_s, lambda: f"a gateway on port {port}:\n{launcher.log_tail()}")


@pytest.fixture
def launcher(fake_gateway_folder: FakeGateway, tmp_path: Path) -> Iterator[GatewayLauncher]:
    moves: list[ListenSettings] = []
    launcher = GatewayLauncher(fake_gateway_folder.root, tmp_path / "logs" / "gateway.log",
                               current_platform(), on_port_moved=moves.append)
    launcher.moves = moves  # type: ignore[attr-defined]
    try:
        yield launcher
    finally:
        launcher.stop()


def test_starts_the_folder_run_script_and_stops_the_whole_tree(
        launcher: GatewayLauncher, fake_gateway_folder: FakeGateway) -> None:
    assert launcher.listen_settings() == ListenSettings(fake_gateway_folder.port, True)
    assert not launcher.is_running()

    result = launcher.start()
    wait_for_gateway(fake_gateway_folder.port, launcher)

    assert result.started and launcher.is_running()
    assert launcher.pid is not None
    process = psutil.Process(launcher.pid)
    assert Path(process.cwd()) == fake_gateway_folder.root  # run from the gateway folder
    assert process.cmdline()[-2:] == ["--conf", "root/conf.yaml"]  # run.sh exec'd the gateway
    assert launcher.start().started is False  # already running: not started twice
    tree = [process, *process.children(recursive=True)]

    launcher.stop()

    assert not launcher.is_running()
    _gone, alive = psutil.wait_procs(tree, timeout=10)
    assert [member for member in alive if member.status() != psutil.STATUS_ZOMBIE] == []
    assert identify_port_occupant(fake_gateway_folder.port) is PortOccupant.FREE
    log = launcher.log_path.read_text()
    assert "starting" in log and "bin/run.sh root/conf.yaml" in log


def test_follows_a_port_change_in_conf_yaml(launcher: GatewayLauncher,
                                            fake_gateway_folder: FakeGateway) -> None:
    seen: list[ListenSettings] = []
    follower = ConfFollower(lambda: launcher.conf_path, seen.append)
    follower.check_once()
    launcher.start()
    wait_for_gateway(fake_gateway_folder.port, launcher)

    # A port the system just handed out as free (port + 1 was sometimes held by a parallel test).
    new_port = free_port()
    set_listen_port(fake_gateway_folder.conf, new_port)  # as if the person edited the file
    follower.check_once()
    follower.check_once()  # no change since: no second report

    assert seen == [ListenSettings(fake_gateway_folder.port, True),
                    ListenSettings(new_port, True)]
    assert seen[-1].url == f"https://localhost:{new_port}"
    launcher.restart()
    wait_for_gateway(new_port, launcher)
    assert identify_port_occupant(fake_gateway_folder.port) is PortOccupant.FREE


def test_a_port_taken_by_another_program_is_resolved_by_moving_the_gateway(
        launcher: GatewayLauncher, fake_gateway_folder: FakeGateway) -> None:
    original = fake_gateway_folder.conf.read_text()
    with port_held_by_another_program(fake_gateway_folder.port):
        with pytest.raises(PortTakenError, match=f"Port {fake_gateway_folder.port} is used "
                                                 "by another program") as caught:
            launcher.start()
        assert caught.value.port == fake_gateway_folder.port
        assert not launcher.is_running()

        moved = launcher.move_to_free_port()
        launcher.start()
        wait_for_gateway(moved.port, launcher)

    assert moved.port != fake_gateway_folder.port
    assert launcher.moves == [moved]  # type: ignore[attr-defined]
    rewritten = fake_gateway_folder.conf.read_text()
    assert rewritten == original.replace(f"listenPort: {fake_gateway_folder.port}\n",
                                         f"listenPort: {moved.port}\n")
    assert "# Callers allowed to use the gateway" in rewritten  # comments survive
    assert read_listen_settings(fake_gateway_folder.conf) == moved


def test_a_gateway_already_listening_is_used_not_started_again(
        launcher: GatewayLauncher, fake_gateway_folder: FakeGateway, tmp_path: Path) -> None:
    with running_process(["bin/run.sh", "root/conf.yaml"], cwd=fake_gateway_folder.root,
                         log_path=tmp_path / "other-gateway.log",
                         ready_check=lambda: identify_port_occupant(
                             fake_gateway_folder.port) is PortOccupant.GATEWAY):
        result = launcher.start()
        assert result.started is False
        assert not launcher.is_running()


def test_a_missing_run_script_is_explained(fake_gateway_folder: FakeGateway,
                                           tmp_path: Path) -> None:
    fake_gateway_folder.run_sh.unlink()
    launcher = GatewayLauncher(fake_gateway_folder.root, tmp_path / "gateway.log",
                               current_platform())
    with pytest.raises(LaunchError, match=r"run\.sh is missing: choose the folder"):
        launcher.start()


def test_java_missing_is_a_warning_that_does_not_block_the_fake_gateway(
        launcher: GatewayLauncher, fake_gateway_folder: FakeGateway,
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    (tmp_path / "no-java").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "no-java"))  # run.sh needs nothing from PATH
    result = launcher.start()
    wait_for_gateway(fake_gateway_folder.port, launcher)
    assert result.warnings == (JAVA_HINT,)


def test_java_is_found_through_java_home_before_path(tmp_path: Path) -> None:
    java = tmp_path / "jdk" / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text("#!/bin/sh\n")
    java.chmod(0o755)
    assert find_java({"JAVA_HOME": str(tmp_path / "jdk"), "PATH": ""}) == java
    assert find_java({"JAVA_HOME": str(tmp_path / "missing"), "PATH": str(java.parent)}) == java
    assert find_java({"PATH": str(tmp_path)}) is None
