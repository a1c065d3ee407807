"""TrayApp's drawing with a fake pystray (no display): two threads never leave a stale icon."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

from veracity_connector.state import ConnectorState, ConnectorStatus
from veracity_connector.tray.app import TrayApp


class FakeIcon:
    """Records what is drawn; the first image assignment pauses until the test says go."""

    def __init__(self, name: str, icon: Any, title: str, menu: Any) -> None:
        self.title = title
        self.drawn: list[Any] = []
        self.first_drawing = threading.Event()
        self.go_on = threading.Event()

    @property
    def icon(self) -> Any:
        return self.drawn[-1] if self.drawn else None

    @icon.setter
    def icon(self, image: Any) -> None:
        if not self.first_drawing.is_set():
            self.first_drawing.set()
            self.go_on.wait(5)
        self.drawn.append(image)

    def update_menu(self) -> None:
        pass


def test_a_slow_draw_cannot_overwrite_a_newer_status(monkeypatch):
    monkeypatch.setattr("veracity_connector.tray.app.icon_for_state", lambda state, _size: state)
    monkeypatch.setattr("veracity_connector.tray.app.build_menu", lambda *_args: None)
    monkeypatch.setattr("veracity_connector.tray.app.to_pystray_menu", lambda *_args: None)
    controller = SimpleNamespace(slot=SimpleNamespace(status=ConnectorStatus()), view=None,
                                 status_changed=lambda: None)
    app = TrayApp(controller, SimpleNamespace(Icon=FakeIcon))  # type: ignore[arg-type]
    icon: FakeIcon = app.icon  # type: ignore[assignment]
    app.notify = lambda _notification: None  # type: ignore[method-assign]

    older = threading.Thread(target=app.show_status,
                             args=(ConnectorStatus().with_state(ConnectorState.SYNCING),))
    older.start()
    assert icon.first_drawing.wait(5)
    newer = threading.Thread(target=app.show_status,
                             args=(ConnectorStatus().with_state(ConnectorState.ERROR),))
    newer.start()
    newer.join(0.3)  # drawing without the lock, it would finish here, before the older one
    icon.go_on.set()
    older.join(5)
    newer.join(5)
    assert icon.icon is ConnectorState.ERROR
