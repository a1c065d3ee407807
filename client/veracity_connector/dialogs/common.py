"""Shared look and behaviour of the connector's dialogs (tkinter, standard library only)."""

from __future__ import annotations

import tkinter as tk
from tkinter import ttk

TITLE_PREFIX = "Veracity IBKR Connector"
PADDING = 12
WRAP_PX = 420
ERROR_COLOUR = "#b00020"
OK_COLOUR = "#1b5e20"


def make_window(root: tk.Tk, title: str) -> tk.Toplevel:
    """A dialog window on top of everything (the tray has no window to be on top of)."""
    window = tk.Toplevel(root)
    window.title(f"{TITLE_PREFIX} — {title}")
    window.resizable(False, False)
    window.attributes("-topmost", True)
    return window


def bring_to_front(window: tk.Toplevel) -> None:
    """Raise and focus a window (e.g. when the menu item is chosen again)."""
    window.deiconify()
    window.lift()
    window.focus_force()


class DialogWindow:
    """What every dialog does with its window: come to the front, close, say if it is open."""

    window: tk.Toplevel

    def show(self) -> None:
        """Bring the window to the front."""
        bring_to_front(self.window)

    def close(self) -> None:
        """Close the window (nothing is saved or sent that was not already)."""
        self.window.destroy()

    @property
    def is_open(self) -> bool:
        """True until closed."""
        try:
            return bool(self.window.winfo_exists())
        except tk.TclError:
            return False


class MessageLabel(ttk.Label):
    """A wrapped line that says what is wrong (red) or what happened (green)."""

    def __init__(self, parent: tk.Misc) -> None:
        super().__init__(parent, text="", wraplength=WRAP_PX, justify="left")

    def show_error(self, text: str) -> None:
        """Show a problem."""
        self.configure(text=text, foreground=ERROR_COLOUR)

    def show_ok(self, text: str) -> None:
        """Show a success."""
        self.configure(text=text, foreground=OK_COLOUR)

    def show_info(self, text: str) -> None:
        """Show progress."""
        self.configure(text=text, foreground="")

    @property
    def text(self) -> str:
        """What the label shows now."""
        return str(self.cget("text"))
