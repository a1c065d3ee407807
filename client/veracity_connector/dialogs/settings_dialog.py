"""The "Settings…" dialog: Veracity address, gateway port, heartbeat and snapshot intervals."""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable, Mapping
from tkinter import ttk

from veracity_connector.dialogs.common import PADDING, DialogWindow, MessageLabel, make_window

# (key, label, hint) in the order shown. Values travel as text; the controller validates.
FIELDS: tuple[tuple[str, str, str], ...] = (
    ("veracity_url", "Veracity address", "e.g. https://veracity.example.com"),
    ("gateway_port", "Gateway port", "listenPort in the gateway's root/conf.yaml"),
    ("heartbeat_interval_s", "Heartbeat every (seconds)", "empty: as Veracity asks"),
    ("snapshot_interval_s", "Snapshot every (seconds)", "empty: as Veracity asks"),
)


class SettingsDialog(DialogWindow):
    """A small form; Save hands the texts to `on_save`, which returns problems or []."""

    def __init__(self, root: tk.Tk, values: Mapping[str, str],
                 on_save: Callable[[dict[str, str]], list[str]]) -> None:
        self._on_save = on_save
        self.window = make_window(root, "Settings")
        frame = ttk.Frame(self.window, padding=PADDING)
        frame.grid(sticky="nsew")
        self.entries: dict[str, ttk.Entry] = {}  # no StringVar: see token_dialog.py
        for row, (key, label, hint) in enumerate(FIELDS):
            ttk.Label(frame, text=label).grid(row=row * 2, column=0, sticky="w", pady=(4, 0))
            self.entries[key] = ttk.Entry(frame, width=40)
            self.entries[key].insert(0, values.get(key, ""))
            self.entries[key].grid(row=row * 2, column=1, sticky="ew", pady=(4, 0))
            ttk.Label(frame, text=hint, foreground="#666").grid(row=row * 2 + 1, column=1,
                                                                sticky="w")
        self.message = MessageLabel(frame)
        self.message.grid(row=len(FIELDS) * 2, column=0, columnspan=2, sticky="w", pady=8)
        buttons = ttk.Frame(frame)
        buttons.grid(row=len(FIELDS) * 2 + 1, column=0, columnspan=2, sticky="e")
        self.save_button = ttk.Button(buttons, text="Save", command=self.submit)
        self.save_button.grid(row=0, column=0, padx=(0, 6))
        self.cancel_button = ttk.Button(buttons, text="Cancel", command=self.close)
        self.cancel_button.grid(row=0, column=1)
        self.window.bind("<Escape>", lambda _event: self.close())
        self.window.protocol("WM_DELETE_WINDOW", self.close)

    def values(self) -> dict[str, str]:
        """What the fields hold now."""
        return {key: entry.get().strip() for key, entry in self.entries.items()}

    def set_value(self, key: str, text: str) -> None:
        """Replace a field's text."""
        self.entries[key].delete(0, "end")
        self.entries[key].insert(0, text)

    def submit(self) -> None:
        """Save; stay open showing every problem if there is one."""
        problems = self._on_save(self.values())
        if problems:
            self.message.show_error("\n".join(problems))
            return
        self.close()
