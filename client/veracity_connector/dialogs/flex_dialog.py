"""The "Add daily positions history (Flex)…" dialog: the traffic note, token, query id.

Flex is opt-in: the dialog states plainly that with it the connector also contacts IBKR's Flex
Web Service (the one exception to "only the local gateway and Veracity") and that the token
stays on this computer. The token field masks what is typed; Save stores the token in the
credential store and the query id beside the settings (`history.flex_setup`), Remove forgets
both. Nothing here logs or shows the token.
"""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable
from tkinter import ttk

from veracity_connector.dialogs.common import PADDING, DialogWindow, MessageLabel, make_window
from veracity_connector.history.flex_errors import QUERY_PAGE, TOKEN_PAGE

TITLE = "Daily positions history (Flex)"
TRAFFIC_NOTE = (
    "Optional. With Flex, Veracity gets up to a year of daily values and end-of-day positions "
    "from IBKR's Flex Web Service. This is the one exception to “the connector talks only to "
    "the gateway on this computer and Veracity”: the connector then also contacts IBKR's Flex "
    "service ({url}) — once now for the year, then once a day. The token stays on this "
    "computer, in its credential store; it is never sent to Veracity.")
HOW_TO = (f"Token: {TOKEN_PAGE} → Generate New Token (choose a long lifetime). "
          f"Query: {QUERY_PAGE} → an Activity Flex Query with NAV in Base and Open Positions, "
          "format XML, dates yyyyMMdd; its Query ID.")


class FlexDialog(DialogWindow):
    """Token (masked) + query id + Save/Remove/Close and a message line."""

    def __init__(self, root: tk.Tk, flex_url: str, configured: bool,
                 save: Callable[[str, str], str | None],
                 remove: Callable[[], str]) -> None:
        """`save(token, query_id)` → None when stored, else what is wrong; `remove()` → text."""
        self._save = save
        self._remove = remove
        self.window = make_window(root, TITLE)
        frame = ttk.Frame(self.window, padding=PADDING)
        frame.grid(sticky="nsew")
        self.note = ttk.Label(frame, text=TRAFFIC_NOTE.format(url=flex_url), wraplength=440,
                              justify="left")
        self.note.grid(row=0, column=0, columnspan=3, sticky="w", pady=(0, 6))
        ttk.Label(frame, text=HOW_TO, wraplength=440, justify="left").grid(
            row=1, column=0, columnspan=3, sticky="w", pady=(0, 8))
        ttk.Label(frame, text="Flex token:").grid(row=2, column=0, sticky="w")
        self.token_entry = ttk.Entry(frame, width=36, show="•")
        self.token_entry.grid(row=2, column=1, columnspan=2, sticky="ew", pady=2)
        ttk.Label(frame, text="Query ID:").grid(row=3, column=0, sticky="w")
        self.query_entry = ttk.Entry(frame, width=16)
        self.query_entry.grid(row=3, column=1, sticky="w", pady=2)
        self.message = MessageLabel(frame)
        self.message.grid(row=4, column=0, columnspan=3, sticky="w", pady=(6, 8))
        if configured:
            self.message.show_info("Flex is set up. Enter a new token and query id to replace it, "
                              "or Remove it.")
        self.save_button = ttk.Button(frame, text="Save", command=self.submit)
        self.save_button.grid(row=5, column=0, sticky="e", padx=(0, 6))
        self.remove_button = ttk.Button(frame, text="Remove", command=self.remove)
        self.remove_button.grid(row=5, column=1, sticky="e", padx=(0, 6))
        if not configured:
            self.remove_button.state(["disabled"])
        self.close_button = ttk.Button(frame, text="Close", command=self.close)
        self.close_button.grid(row=5, column=2, sticky="e")
        self.window.bind("<Return>", lambda _event: self.submit())
        self.window.bind("<Escape>", lambda _event: self.close())
        self.window.protocol("WM_DELETE_WINDOW", self.close)
        self.token_entry.focus_set()

    def submit(self) -> None:
        """Store the token and query id, or say what is wrong."""
        problem = self._save(self.token_entry.get(), self.query_entry.get())
        if problem:
            self.message.show_error(problem)
            return
        self.token_entry.delete(0, "end")  # the token does not stay in the widget
        self.remove_button.state(["!disabled"])
        self.message.show_ok("Saved. The connector fetches the year's history within a minute; "
                          "`ibkr-connector flex status` shows how it went.")

    def remove(self) -> None:
        """Forget the set-up."""
        self.message.show_info(self._remove())
        self.remove_button.state(["disabled"])

    def close(self) -> None:
        """Close the window."""
        self.window.destroy()
