"""What the tray menu items do: the glue between menu, dialogs, launcher, engine and OS.

Menu clicks arrive on pystray's thread and must return at once: dialogs are handed to the
`DialogHost` thread, and anything slow (starting the gateway, restarting the engine, checking
for updates) runs on one worker thread, in order, so two clicks never race each other.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from veracity_connector.credentials import CredentialError
from veracity_connector.dialogs import (
    DialogHost,
    FolderDialog,
    MessageDialog,
    SettingsDialog,
    StatusWindow,
    TokenDialog,
)
from veracity_connector.gateway_folder import folder_problems
from veracity_connector.launcher import (
    ConfFollower,
    GatewayConfError,
    GatewayLauncher,
    GatewayStopError,
    LaunchError,
    ListenSettings,
    PortTakenError,
    set_listen_port,
)
from veracity_connector.platform import PlatformServices, UnsupportedOnPlatform, autostart_command
from veracity_connector.settings import (
    Folders,
    Settings,
    SettingsError,
    load_settings,
    save_settings,
)
from veracity_connector.state import ConnectorState
from veracity_connector.tray.engine_slot import EngineSlot
from veracity_connector.tray.menu import TrayView
from veracity_connector.tray.presentation import (
    PRODUCT_NAME,
    Notification,
    format_sync_time,
    state_label,
)
from veracity_connector.tray.settings_form import SettingsForm
from veracity_connector.tray.update_actions import (
    UPDATE_CHECK_EVERY_S,
    UPDATE_CHECK_FIRST_S,
    UpdateActions,
    default_update_checker,
)
from veracity_connector.updates import UpdateChecker
from veracity_connector.version import connector_version

logger = logging.getLogger(__name__)

GATEWAY_LOG_NAME = "gateway.log"
MOVE_PORT_ANSWER = "move"
GATEWAY_EARLY_EXIT_S = 3.0  # IBKR's gateway takes longer than this to fail on a bad setup


class TrayController:
    """Implements `TrayActions` for the real app; tests call it through the menu model."""

    def __init__(self, *, folders: Folders, platform: PlatformServices, dialogs: DialogHost,
                 slot: EngineSlot, notify: Callable[[Notification], None],
                 on_quit: Callable[[], None],
                 make_update_checker: Callable[[Settings], UpdateChecker] | None = None) -> None:
        self.folders = folders
        self.platform = platform
        self.dialogs = dialogs
        self.slot = slot
        self._notify = notify
        self._on_quit = on_quit
        make_checker = make_update_checker or default_update_checker
        self._work = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tray-work")
        self._launcher: GatewayLauncher | None = None
        self.stop_event = threading.Event()  # set by quit(): background loops end
        self.settings = self._load_settings()
        self.updates = UpdateActions(
            make_checker=lambda: make_checker(self.settings), open_url=platform.open_url,
            background=self.background, tell=self.tell, show_dialog=self._show_dialog,
            notify=notify)
        self.follower = ConfFollower(self._conf_path, self._apply_listen_settings)

    # --- state the menu shows ---------------------------------------------------------------

    def view(self) -> TrayView:
        """What the menu needs, read fresh each time it opens."""
        launcher = self._launcher
        return TrayView(
            status=self.slot.status,
            gateway_folder_set=bool(self.settings.gateway_dir),
            gateway_running=bool(launcher and launcher.is_running()),
            autostart_supported=self.platform.autostart_supported,
            autostart_enabled=self.platform.autostart_supported
            and self.platform.autostart_enabled(),
            autostart_label=self.platform.autostart_label,
            update_version=self.updates.available.version if self.updates.available else None)

    @property
    def launcher(self) -> GatewayLauncher | None:
        """The launcher for the configured gateway folder (None until one is set)."""
        return self._launcher

    def _load_settings(self) -> Settings:
        try:
            settings = load_settings(self.folders)
        except SettingsError as error:
            logger.error("%s", error)
            settings = Settings()
        if settings.gateway_dir and (self._launcher is None
                                     or self._launcher.folder != Path(settings.gateway_dir)):
            if self._launcher is not None and self._launcher.is_running():
                self._launcher.stop()
            self._launcher = GatewayLauncher(
                Path(settings.gateway_dir), self.folders.log_dir / GATEWAY_LOG_NAME,
                self.platform, on_port_moved=self._apply_listen_settings)
        return settings

    def _conf_path(self) -> Path | None:
        launcher = self._launcher
        return launcher.conf_path if launcher else None

    # --- running work off the menu thread ---------------------------------------------------

    def background(self, function: Callable[[], Any]) -> Future[Any]:
        """Run `function` on the worker thread (in order); failures are logged and shown."""
        def guarded() -> Any:
            try:
                return function()
            except Exception as error:
                logger.exception("a tray action failed")
                self.tell("Something went wrong", f"{error}")
                return None
        return self._work.submit(guarded)

    def wait_idle(self, timeout_s: float = 60.0) -> None:
        """Wait until the worker has done everything asked of it so far (for tests)."""
        self._work.submit(lambda: None).result(timeout=timeout_s)

    def tell(self, title: str, text: str) -> None:
        """A message window with an OK button."""
        self._show_dialog("message", lambda root: MessageDialog(root, title, text))

    def _show_dialog(self, kind: str, build: Callable[[Any], Any]) -> Future[Any]:
        return self.dialogs.show(kind, build)

    # --- menu actions -------------------------------------------------------------------------

    def show_status(self) -> None:
        """The status window, kept up to date while open."""
        def build(root: Any) -> StatusWindow:
            window = StatusWindow(root)
            self._refresh_status_window(window)
            return window
        self._show_dialog("status", build)

    def status_changed(self) -> None:
        """Called by the app on every status change: refresh the status window if open."""
        if not self.dialogs.started:
            return

        def refresh(_root: Any) -> None:
            window = self.dialogs.current("status")
            if window is not None:
                self._refresh_status_window(window)
        self.dialogs.call(refresh)

    def _refresh_status_window(self, window: StatusWindow) -> None:
        status = self.slot.status
        gateway = self.settings.gateway_url
        if status.gateway_state is not None:
            gateway += f" ({status.gateway_state.value})"
        rows = {"State": state_label(status.state), "What is happening": status.message,
                "What to do": status.next_step,
                "Last sync": format_sync_time(status.last_sync_at),
                "Gateway": gateway, "Veracity": self.settings.veracity_url or "not set"}
        action: tuple[str, Callable[[], None]] | None = None
        if status.state is ConnectorState.NEEDS_TOKEN and not self.settings.veracity_url:
            action = ("Settings…", self.open_settings)  # a token cannot work without it
        elif status.state in (ConnectorState.NEEDS_TOKEN, ConnectorState.REVOKED):
            action = ("Paste token…", self.paste_token)
        elif status.state is ConnectorState.GATEWAY_UNAUTHENTICATED:
            action = ("Open gateway login", self.open_gateway_login)
        elif status.state is ConnectorState.GATEWAY_UNREACHABLE and self._launcher:
            action = ("Start gateway", self.toggle_gateway)
        window.refresh(rows, action)

    def sync_now(self) -> None:
        """Snapshot and send now."""
        self.slot.sync_now()

    def paste_token(self) -> None:
        """The token dialog; pairing runs through the engine."""
        self._show_dialog("token", lambda root: TokenDialog(root, pair=self.slot.pair))

    def open_gateway_login(self) -> None:
        """The gateway's login page in the browser (where the person logs in with 2FA)."""
        self.platform.open_url(self.settings.gateway_url.rstrip("/") + "/")

    def toggle_gateway(self) -> None:
        """Start the gateway, or stop it if we started it."""
        launcher = self._launcher
        if launcher is None:
            self.set_gateway_folder()
            return
        if launcher.is_running():
            self.background(launcher.stop)
        else:
            self.background(self._start_gateway)

    def _start_gateway(self) -> None:
        launcher = self._launcher
        if launcher is None:
            return
        try:
            result = launcher.start()
        except PortTakenError as error:
            question = str(error)
            self._show_dialog("question", lambda root: MessageDialog(
                root, "Gateway port taken", question,
                buttons=(("Move to a free port", MOVE_PORT_ANSWER), ("Cancel", "cancel")),
                on_answer=self._port_question_answered))
            return
        except (LaunchError, GatewayConfError) as error:
            self.tell("The gateway did not start", str(error))
            return
        # A gateway that cannot start (no Java, a broken folder) exits at once: say so now,
        # with its own words, instead of leaving the person with "gateway not running".
        exit_code = launcher.exited_within(GATEWAY_EARLY_EXIT_S) if result.started else None
        if exit_code is not None:
            launcher.stop()
            hints = "\n\n".join(result.warnings)
            self.tell("The gateway stopped right after starting",
                      f"It exited with code {exit_code}. Its last words:\n\n"
                      f"{launcher.log_tail(600).strip()}" + (f"\n\n{hints}" if hints else ""))
            return
        if result.warnings:
            self.tell("Gateway started, with a warning", "\n\n".join(result.warnings))
        self.slot.sync_now()  # look at the gateway now rather than at the next tickle

    def _port_question_answered(self, answer: str) -> None:
        if answer == MOVE_PORT_ANSWER:
            self.background(self._move_gateway_and_start)

    def _move_gateway_and_start(self) -> None:
        launcher = self._launcher
        if launcher is None:
            return
        moved = launcher.move_to_free_port()
        self._notify(Notification(f"{PRODUCT_NAME}: gateway moved",
                                  f"The gateway now uses port {moved.port}; log in at "
                                  f"{moved.url}"))
        self._start_gateway()

    def _apply_listen_settings(self, listen: ListenSettings) -> None:
        """conf.yaml says where the gateway listens: make the connector's URL agree."""
        current = self.settings.gateway_url
        host = current.partition("://")[2].split("/", 1)[0].rsplit(":", 1)[0] or "localhost"
        wanted = f"{'https' if listen.ssl else 'http'}://{host}:{listen.port}"
        if wanted == current.rstrip("/"):
            return
        logger.info("gateway address follows conf.yaml: %s → %s", current, wanted)
        self.settings = save_settings(self.folders, {"gateway_url": wanted})
        launcher = self._launcher
        if launcher is not None and launcher.is_running():
            launcher.restart()  # the running gateway still listens on the old port
        # Queued, not now: stopping the old engine can wait for its current request, and the
        # gateway should not wait for that.
        self.background(self.slot.restart)

    def set_gateway_folder(self) -> None:
        """The folder dialog; a valid folder is saved and followed."""
        self._show_dialog("folder", lambda root: FolderDialog(
            root, validate=folder_problems, on_chosen=self._gateway_folder_chosen,
            initial=self.settings.gateway_dir or ""))

    def _gateway_folder_chosen(self, folder: Path) -> str | None:
        try:
            save_settings(self.folders, {"gateway_dir": str(folder.resolve())})
        except SettingsError as error:
            return str(error)
        self.settings = self._load_settings()
        self.background(self.follower.check_once)  # port/TLS from its conf.yaml
        return None

    def open_settings(self) -> None:
        """The settings dialog."""
        form = SettingsForm(self.settings, self._conf_path())
        self._show_dialog("settings", lambda root: SettingsDialog(
            root, form.initial_values(), on_save=lambda values: self._save_settings(
                form, values)))

    def open_flex(self) -> None:
        """The opt-in Flex dialog (token, query id, the traffic note)."""
        from veracity_connector.dialogs.flex_dialog import FlexDialog
        from veracity_connector.history import flex_setup

        data_dir, key_store = self.folders.data_dir, self.settings.key_store

        def save(token: str, query_id: str) -> str | None:
            try:
                flex_setup.save_flex_setup(key_store, data_dir, token, query_id)
            except (ValueError, CredentialError) as error:
                return str(error)
            return None

        def remove() -> str:
            try:
                had = flex_setup.remove_flex_setup(key_store, data_dir)
            except CredentialError as error:
                return str(error)
            return ("Removed: the connector no longer contacts IBKR's Flex service."
                    if had else "Flex was not set up.")

        self._show_dialog("flex", lambda root: FlexDialog(
            root, self.settings.flex_url, flex_setup.flex_configured(data_dir), save, remove))

    def _save_settings(self, form: SettingsForm, values: dict[str, str]) -> list[str]:
        problems, changes, new_port = form.validate(values)
        if problems:
            return problems
        conf_path = self._conf_path()
        previous_gateway_url = self.settings.gateway_url
        try:
            self.settings = save_settings(self.folders, changes)  # validates everything first
        except (SettingsError, OSError) as error:
            return [str(error)]
        if new_port is not None and conf_path is not None:
            # The gateway and the connector move together, or not at all.
            try:
                set_listen_port(conf_path, new_port)
            except (GatewayConfError, OSError) as error:
                self.settings = save_settings(self.folders,
                                              {"gateway_url": previous_gateway_url})
                return [f"The gateway port was not changed: {error}"]
        launcher = self._launcher
        restart_gateway = bool(new_port is not None and launcher and launcher.is_running())

        def apply() -> None:
            if restart_gateway and launcher is not None:
                launcher.restart()
            self.slot.restart()
        self.background(apply)
        return []

    def toggle_autostart(self) -> None:
        """Start with Windows (or at login) on/off."""
        try:
            self.platform.set_autostart(not self.platform.autostart_enabled(),
                                        autostart_command())
        except (UnsupportedOnPlatform, OSError) as error:
            self.tell("Start at login", str(error))

    def open_logs_folder(self) -> None:
        """The folder with connector.log and gateway.log."""
        self.folders.log_dir.mkdir(parents=True, exist_ok=True)
        self.platform.open_folder(self.folders.log_dir)

    def check_for_updates(self) -> None:
        """Ask the server; say what was found."""
        self.updates.check_now()

    def install_update(self) -> None:
        """Install the update found by the last check."""
        self.updates.install()

    def show_about(self) -> None:
        """Version, where things are kept, where to get help."""
        text = (f"{PRODUCT_NAME} {connector_version()}\n\n"
                "Keeps your Interactive Brokers portfolio in sync with Veracity through IBKR's "
                "Client Portal Gateway on this computer. It only reads from the gateway and "
                "never sees your IBKR password.\n\n"
                f"Settings: {self.folders.settings_file}\nLogs: {self.folders.log_dir}")
        self._show_dialog("about", lambda root: MessageDialog(root, "About", text))

    def quit(self) -> None:
        """Stop everything we started, then leave the tray."""
        self.stop_event.set()
        launcher = self._launcher
        if launcher is not None:
            # A gateway we started has no window: do not leave it behind. If some of it
            # survives, the launcher has logged which processes; quitting goes on regardless.
            with contextlib.suppress(GatewayStopError):
                launcher.stop()
        self.slot.stop()
        self._work.shutdown(wait=False, cancel_futures=True)
        self.dialogs.stop()
        self._on_quit()

    def run_update_checks(self, first_after_s: float = UPDATE_CHECK_FIRST_S,
                          every_s: float = UPDATE_CHECK_EVERY_S) -> threading.Thread:
        """Check for updates quietly (a notification only if there is one), until quit."""
        return self.updates.run_checks(self.stop_event, first_after_s, every_s)

    def run_follower(self, interval_s: float = 5.0) -> threading.Thread:
        """Follow conf.yaml in a daemon thread until quit."""
        thread = threading.Thread(target=self.follower.run, args=(self.stop_event, interval_s),
                                  name="conf-follower", daemon=True)
        thread.start()
        return thread
