"""Update checks against the real server's download endpoint, and the Velopack branch."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from tests.support.processes import free_port
from veracity_connector.updates import AvailableUpdate, UpdateChecker, UpdateCheckError, is_newer


@pytest.mark.parametrize(("candidate", "current", "newer"), [
    ("0.2.0", "0.1.0", True), ("0.10.0", "0.9.9", True), ("1.0.0", "1.0.0-rc1", True),
    ("v1.2", "1.2.0", False), ("1.0.0-rc1", "1.0.0", False), ("0.1.0", "0.1.0+local", False),
])
def test_versions_compare_as_numbers(candidate: str, current: str, newer: bool) -> None:
    assert is_newer(candidate, current) is newer


def test_a_newer_release_is_found_through_the_download_metadata(release_server: Any) -> None:
    checker = UpdateChecker(release_server.base_url, "0.1.0")
    update = checker.check()
    assert update is not None
    assert (update.version, update.source, update.notes) == ("9.9.9", "download",
                                                             "Faster syncing.")
    assert update.download_url.startswith(release_server.base_url)
    # This is not a Velopack install: the real binding said so and the check fell back.
    assert "not properly installed" in checker.velopack_unavailable_reason

    opened: list[str] = []
    message = checker.apply(update, opened.append)
    assert opened == [update.download_url]
    assert "version 9.9.9" in message


def test_the_same_version_is_up_to_date(release_server: Any) -> None:
    assert UpdateChecker(release_server.base_url, "9.9.9").check() is None


def test_no_release_published_is_said_plainly(live_server: Any) -> None:
    with pytest.raises(UpdateCheckError, match="no connector release published yet"):
        UpdateChecker(live_server.base_url, "0.1.0").check()


def test_an_unreachable_server_is_said_plainly() -> None:
    with pytest.raises(UpdateCheckError, match="could not be reached"):
        UpdateChecker(f"http://127.0.0.1:{free_port()}", "0.1.0").check()


def test_no_veracity_address_asks_for_one() -> None:
    with pytest.raises(UpdateCheckError, match="Settings"):
        UpdateChecker("", "0.1.0").check()


class InstalledVelopack:
    """What velopack.UpdateManager does inside a Velopack install (records the calls)."""

    def __init__(self, feed_url: str, available: str | None) -> None:
        self.feed_url = feed_url
        self.available = available
        self.calls: list[str] = []

    def check_for_updates(self) -> Any:
        self.calls.append("check")
        if self.available is None:
            return None
        return SimpleNamespace(TargetFullRelease=SimpleNamespace(Version=self.available))

    def download_updates(self, info: Any) -> None:
        self.calls.append(f"download {info.TargetFullRelease.Version}")

    def apply_updates_and_restart(self, info: Any) -> None:
        self.calls.append(f"apply {info.TargetFullRelease.Version}")


def test_inside_a_velopack_install_the_feed_is_used_and_applied() -> None:
    managers: list[InstalledVelopack] = []

    def make_manager(feed_url: str) -> InstalledVelopack:
        managers.append(InstalledVelopack(feed_url, "0.3.0"))
        return managers[-1]

    checker = UpdateChecker("https://veracity.example.com/", "0.2.0",
                            velopack_manager=make_manager)
    update = checker.check()
    assert update == AvailableUpdate(version="0.3.0", source="velopack",
                                     velopack_info=update.velopack_info if update else None)
    assert managers[0].feed_url == ("https://veracity.example.com/api/v1/downloads/"
                                    "ibkr-connector/windows/updates")
    opened: list[str] = []
    assert update is not None
    assert "restarts by itself" in checker.apply(update, opened.append)
    assert managers[-1].calls == ["download 0.3.0", "apply 0.3.0"]
    assert opened == []
