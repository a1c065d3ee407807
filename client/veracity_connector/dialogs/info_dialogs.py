"""Small windows: the status window, and a message with buttons (About, questions, errors)."""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable, Sequence
from tkinter import ttk

from veracity_connector.dialogs.common import PADDING, WRAP_PX, DialogWindow, make_window


class MessageDialog(DialogWindow):
    """A title, some text and buttons; `on_answer(value)` gets the button's value."""

    def __init__(self, root: tk.Tk, title: str, text: str,
                 buttons: Sequence[tuple[str, str]] = (("OK", "ok"),),
                 on_answer: Callable[[str], None] | None = None) -> None:
        self._on_answer = on_answer
        self.window = make_window(root, title)
        frame = ttk.Frame(self.window, padding=PADDING)
        frame.grid(sticky="nsew")
        self.text_label = ttk.Label(frame, text=text, wraplength=WRAP_PX, justify="left")
        self.text_label.grid(row=0, column=0, columnspan=len(buttons), sticky="w",
                             pady=(0, 10))
        self.buttons: dict[str, ttk.Button] = {}
        for column, (label, value) in enumerate(buttons):
            button = ttk.Button(frame, text=label, command=self._answer_with(value))
            button.grid(row=1, column=column, padx=4, sticky="e")
            self.buttons[label] = button
        cancel_value = buttons[-1][1]
        self.window.bind("<Escape>", lambda _event: self.answer(cancel_value))
        self.window.protocol("WM_DELETE_WINDOW", lambda: self.answer(cancel_value))

    def _answer_with(self, value: str) -> Callable[[], None]:
        return lambda: self.answer(value)

    def answer(self, value: str) -> None:
        """Close and report the choice."""
        self.window.destroy()
        if self._on_answer:
            self._on_answer(value)


class StatusWindow(DialogWindow):
    """What the connector is doing, in full, with a button for the next step."""

    ROWS = ("State", "What is happening", "What to do", "Last sync", "Gateway", "Veracity")

    def __init__(self, root: tk.Tk) -> None:
        self.window = make_window(root, "Status")
        frame = ttk.Frame(self.window, padding=PADDING)
        frame.grid(sticky="nsew")
        self.values: dict[str, ttk.Label] = {}
        for row, name in enumerate(self.ROWS):
            ttk.Label(frame, text=f"{name}:").grid(row=row, column=0, sticky="nw", padx=(0, 8))
            self.values[name] = ttk.Label(frame, text="", wraplength=360, justify="left")
            self.values[name].grid(row=row, column=1, sticky="w", pady=1)
        buttons = ttk.Frame(frame)
        buttons.grid(row=len(self.ROWS), column=0, columnspan=2, sticky="e", pady=(10, 0))
        self.action_button = ttk.Button(buttons, text="")
        self.close_button = ttk.Button(buttons, text="Close", command=self.close)
        self.close_button.grid(row=0, column=1)
        self.window.bind("<Escape>", lambda _event: self.close())
        self.window.protocol("WM_DELETE_WINDOW", self.close)

    def refresh(self, rows: dict[str, str],
                action: tuple[str, Callable[[], None]] | None) -> None:
        """Show new values; `action` is the next-step button (label, what it does) or None."""
        for name, label in self.values.items():
            label.configure(text=rows.get(name, ""))
        if action is None:
            self.action_button.grid_remove()
        else:
            self.action_button.configure(text=action[0], command=action[1])
            self.action_button.grid(row=0, column=0, padx=(0, 6))

    def text(self, name: str) -> str:
        """The value shown in row `name`."""
        return str(self.values[name].cget("text"))
