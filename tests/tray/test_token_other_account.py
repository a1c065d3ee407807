"""The tray's token dialog when the unsent snapshots belong to another Veracity account.

Account A's connector was revoked on the Profile page while snapshots still waited in the
outbox; the person pastes a token of account B. The dialog must ask before anything is dropped:
Close keeps the snapshots and the record that they are A's (so a later token of A sends them)
and stores no key of B; "Drop them and pair" with the same token pairs with B (as the same
connector: one idempotent exchange) and drops them: not on disk, not on the server.
Everything is real: the controller and its engine, the dialog on Xvfb clicked with xdotool,
gunicorn with SQLite, the gateway simulator (logged in, so the engine has its own snapshots to
send once paired).
The seeded snapshots are told apart from the simulator's by their ids.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from tests.support.server_fixtures import snapshot_body
from tests.support.waiting import WaitTimedOut
from tests.tray.test_tray_menu_actions import Tray
from tests.tray.x_server import DialogDriver, XServer
from veracity_connector.credentials import open_credential_store
from veracity_connector.dialogs import DialogHost
from veracity_connector.dialogs.token_dialog import OTHER_ACCOUNT_QUESTION, PAIRED_MESSAGE
from veracity_connector.engine import Engine
from veracity_connector.outbox import Outbox
from veracity_connector.pairing import pair_with_token
from veracity_connector.pairing_files import paired_account
from veracity_connector.platform.posix import LinuxPlatform
from veracity_connector.settings import Folders, load_settings, save_settings
from veracity_connector.tray.controller import TrayController
from veracity_connector.tray.engine_slot import EngineSlot
from veracity_connector.tray.menu import build_menu
from veracity_connector.veracity_api import VeracityClient
from veracity_server.db import Database
from veracity_server.models import Connector, SnapshotDocument, User

pytestmark = [pytest.mark.xvfb, pytest.mark.timeout(180)]

ACCOUNT_A = "a@example.com"
ACCOUNT_B = "b@example.com"
KEPT = 3  # snapshots of account A waiting in the outbox
BOOK = [{"account_id": "U7654321", "base_currency": "USD", "cash": {"USD": 1000},
         "positions": [{"conid": 265598, "ticker": "AAPL", "quantity": 10,
                        "average_price": 150, "market_price": 190}]}]


@pytest.fixture
def trays(x_server: XServer, dialog_host: DialogHost) -> Iterator[list[Tray]]:
    made: list[Tray] = []
    yield made
    for tray in made:
        tray.controller.stop_event.set()
        tray.controller.slot.stop()
        dialog = tray.controller.dialogs.current("token")
        if dialog is not None:
            tray.driver.on_tk(dialog.window.destroy)


def start_tray(x_server: XServer, dialogs: DialogHost, folders: Folders,
               made: list[Tray]) -> Tray:
    """The tray's controller and engine on `folders` (settings already saved)."""
    tray = Tray(controller=None, menu=None, folders=folders,  # type: ignore[arg-type]
                driver=DialogDriver(x_server, dialogs))
    platform = LinuxPlatform(opener=tray.opened.append, config_home=folders.config_dir / "xdg")
    slot = EngineSlot(lambda: Engine(load_settings(folders), folders))
    tray.controller = TrayController(folders=folders, platform=platform, dialogs=dialogs,
                                     slot=slot, notify=tray.notifications.append,
                                     on_quit=lambda: tray.quits.append(True))
    tray.menu = build_menu(tray.controller, tray.controller.view)
    made.append(tray)
    slot.start()
    return tray


def paste_token(tray: Tray, token: str) -> Any:
    """Open "Paste token…" from the menu, type `token`, press Pair; the dialog once answered."""
    tray.menu.click("Paste token…")
    dialog = tray.dialog("token")
    tray.driver.type_into(dialog.entry, token)
    tray.driver.click_until(dialog.pair_button, lambda: dialog.busy or dialog.message.text,
                            "the Pair click taken")
    wait_for_outcome(tray, dialog, ("", "Pairing with Veracity…"))
    return dialog


def wait_for_outcome(tray: Tray, dialog: Any, before: tuple[str, ...]) -> None:
    """Until the dialog shows something else than `before`; on time-out, what it and the
    engine said (a click that did not land and a pairing that hangs look alike otherwise)."""
    try:
        tray.driver.wait_until(lambda: not dialog.busy and dialog.message.text not in before,
                               "the pairing's outcome", timeout_s=60)
    except WaitTimedOut as error:
        seen = tray.driver.on_tk(lambda: (dialog.busy, dialog.message.text,
                                          dialog.pair_button.cget("text")))
        raise AssertionError(f"{error}; dialog (busy, message, button): {seen}; engine: "
                             f"{tray.controller.slot.status}") from error


def seed_outbox(folders: Folders) -> set[str]:
    """KEPT snapshots queued while paired with A, as the engine queues them."""
    outbox = Outbox(folders.data_dir / "outbox.sqlite3")
    ids = set()
    for _ in range(KEPT):
        body = snapshot_body(positions=1, stop_orders=0)
        outbox.put(body["snapshot_id"], body["taken_at"], json.dumps(body))
        ids.add(body["snapshot_id"])
    return ids


def queued(outbox: Outbox) -> set[str]:
    """The snapshot ids waiting in the outbox."""
    return {item.snapshot_id for item in outbox.oldest(1000)}


def stored_snapshots(database: Database, email: str) -> set[str]:
    """The snapshot ids Veracity stored for `email`."""
    with database.sessions() as session:
        return set(session.scalars(
            select(SnapshotDocument.snapshot_id).join(User, User.id == SnapshotDocument.user_id)
            .where(User.email == email)))


def connector_count(database: Database, email: str) -> int:
    with database.sessions() as session:
        return session.scalar(select(func.count()).select_from(Connector).join(
            User, User.id == Connector.user_id).where(User.email == email)) or 0


def test_pasting_another_accounts_token_asks_before_dropping_the_kept_snapshots(
        x_server: XServer, dialog_host: DialogHost, trays: list[Tray], live_server: Any,
        gateway_sim_factory: Callable[..., Any], tmp_path: Path) -> None:
    gateway = gateway_sim_factory(idle_timeout_s=600)
    gateway.control.set_accounts(BOOK)
    gateway.control.login()
    live_server.create_user(ACCOUNT_A)
    live_server.create_user(ACCOUNT_B)
    database = Database(live_server.database_url)
    folders = Folders(tmp_path / "config", tmp_path / "data", tmp_path / "logs")
    save_settings(folders, {"key_store": "file", "veracity_url": live_server.base_url,
                            "gateway_url": gateway.base_url, "veracity_timeout_s": 5,
                            "heartbeat_interval_s": 1, "snapshot_interval_s": 2,
                            "tickle_interval_s": 2})
    credentials = open_credential_store("file", folders.data_dir)
    try:
        # Paired with A (as `ibkr-connector pair` does); A revokes the connector on the
        # Profile page while snapshots wait to be sent.
        outcome, _schedule = pair_with_token(
            live_server.issue_token(ACCOUNT_A), VeracityClient(live_server.base_url),
            credentials, Outbox(folders.data_dir / "outbox.sqlite3"), folders.data_dir)
        assert outcome.ok, outcome
        account_a = paired_account(folders.data_dir)
        session = live_server.login(ACCOUNT_A)
        connector_a = session.get(live_server.url("/api/v1/profile/ibkr/connectors"),
                                  timeout=10).json()["connectors"][0]["id"]
        assert session.post(live_server.url(
            f"/api/v1/profile/ibkr/connectors/{connector_a}/revoke"), timeout=10).ok
        seeded = seed_outbox(folders)

        tray = start_tray(x_server, dialog_host, folders, trays)
        # The engine hears Veracity's invalid_key: it forgets the key and keeps the outbox
        # (with the simulator's snapshot it took before it heard).
        tray.driver.wait_until(lambda: credentials.get() is None, "the revoked key dropped")
        outbox = Outbox(folders.data_dir / "outbox.sqlite3")
        kept = queued(outbox)
        assert seeded <= kept

        # B's token: the dialog asks instead of pairing.
        token_b = live_server.issue_token(ACCOUNT_B)
        dialog = paste_token(tray, token_b)
        assert tray.driver.on_tk(lambda: dialog.message.text) == OTHER_ACCOUNT_QUESTION
        assert tray.driver.on_tk(lambda: dialog.pair_button.cget("text")) == (
            "Drop them and pair")
        tray.driver.screenshot("dialog-token-other-account")

        # (a) Close: nothing dropped, nothing stored, still A's pairing.
        tray.driver.click(dialog.close_button)
        tray.driver.wait_until(lambda: not dialog.window.winfo_exists(), "the dialog to close")
        tray.controller.wait_idle()
        assert kept <= queued(outbox)
        assert credentials.get() is None  # B's key was never stored
        assert paired_account(folders.data_dir) == account_a
        assert stored_snapshots(database, ACCOUNT_B) == set()
        assert stored_snapshots(database, ACCOUNT_A) == set()

        # (b) The same token again: asked again; "Drop them and pair" pairs with B.
        dialog = paste_token(tray, token_b)
        assert tray.driver.on_tk(lambda: dialog.message.text) == OTHER_ACCOUNT_QUESTION
        tray.driver.click_until(
            dialog.pair_button,
            lambda: dialog.busy or dialog.message.text != OTHER_ACCOUNT_QUESTION,
            "the 'Drop them and pair' click taken")
        wait_for_outcome(tray, dialog, (OTHER_ACCOUNT_QUESTION, "Pairing with Veracity…"))
        assert tray.driver.on_tk(lambda: dialog.message.text) == PAIRED_MESSAGE
        assert paired_account(folders.data_dir) not in (None, account_a)
        key_b = credentials.get()
        assert key_b is not None
        # One connector for B however often the token was tried (one idempotent exchange).
        assert connector_count(database, ACCOUNT_B) == 1
        # The engine now sends the simulator's snapshots to B; A's kept ones went nowhere.
        tray.driver.wait_until(lambda: stored_snapshots(database, ACCOUNT_B),
                               "a snapshot of the simulator stored for B", timeout_s=60)
        assert not kept & queued(outbox)
        assert not kept & stored_snapshots(database, ACCOUNT_B)
        assert not kept & stored_snapshots(database, ACCOUNT_A)
        beat = requests.post(live_server.url("/api/v1/connector/heartbeat"), timeout=10,
                             json={"connector_version": "1.0.0", "gateway": {"state": "ok"}},
                             headers={"Authorization": f"Bearer {key_b}"})
        assert beat.status_code == 200
    finally:
        database.dispose()
