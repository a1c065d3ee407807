"""The tray's "Add daily positions history (Flex)…": the real controller's menu item opens the
dialog on Xvfb with the traffic note; a typed token (masked) and query id are stored (token in
the key store, never in flex.json), a bad one is explained, Remove forgets both."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests.tray.test_tray_menu_actions import Tray, tray_factory  # noqa: F401 (the fixture)
from veracity_connector.history.flex_setup import flex_configured, load_flex_setup

pytestmark = [pytest.mark.xvfb, pytest.mark.timeout(120)]
TOKEN = "735190284617392018475520"


def test_flex_is_set_up_and_removed_from_the_tray(tray_factory: Callable[..., Tray]) -> None:  # noqa: F811
    tray = tray_factory()
    tray.menu.click("Add daily positions history (Flex)…")
    dialog = tray.dialog("flex")
    note = tray.driver.on_tk(lambda: dialog.note.cget("text"))
    assert "one exception" in note and "ndcdyn.interactivebrokers.com" in note
    assert "never sent to Veracity" in note
    assert tray.driver.on_tk(lambda: dialog.token_entry.cget("show")) == "•"

    tray.driver.type_into(dialog.query_entry, "not a number")
    tray.driver.type_into(dialog.token_entry, TOKEN)
    tray.driver.click(dialog.save_button)
    tray.driver.wait_until(lambda: "query id" in dialog.message.text, "the problem shown")
    assert not flex_configured(tray.folders.data_dir)

    tray.driver.on_tk(lambda: dialog.query_entry.delete(0, "end"))
    tray.driver.type_into(dialog.query_entry, "987654")
    tray.driver.click(dialog.save_button)
    tray.driver.wait_until(lambda: "Saved" in dialog.message.text, "saved")
    setup = load_flex_setup("file", tray.folders.data_dir)
    assert setup is not None and (setup.token, setup.query_id) == (TOKEN, "987654")
    saved = (tray.folders.data_dir / "flex.json").read_text()
    assert TOKEN not in saved and json.loads(saved)["query_id"] == "987654"
    assert tray.driver.on_tk(dialog.token_entry.get) == ""  # not kept in the widget

    tray.driver.click(dialog.remove_button)
    tray.driver.wait_until(lambda: "no longer contacts" in dialog.message.text, "removed")
    assert not flex_configured(tray.folders.data_dir)
    assert load_flex_setup("file", tray.folders.data_dir) is None
    tray.driver.on_tk(dialog.window.destroy)
