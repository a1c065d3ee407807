"""The "Set gateway folder…" dialog: choose the unzipped IBKR gateway folder, checked at once."""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable
from pathlib import Path
from tkinter import filedialog, ttk

from veracity_connector.dialogs.common import PADDING, DialogWindow, MessageLabel, make_window

FolderValidator = Callable[[Path], list[str]]


class FolderDialog(DialogWindow):
    """Path entry + Browse… + a message that says exactly what is missing."""

    def __init__(self, root: tk.Tk, validate: FolderValidator,
                 on_chosen: Callable[[Path], str | None], initial: str = "") -> None:
        self._validate = validate
        self._on_chosen = on_chosen  # returns a problem to show, or None when done
        self.window = make_window(root, "Gateway folder")
        frame = ttk.Frame(self.window, padding=PADDING)
        frame.grid(sticky="nsew")
        ttk.Label(frame, text="The folder you unzipped IBKR's Client Portal Gateway into "
                              "(it contains bin/ and root/conf.yaml):",
                  wraplength=420, justify="left").grid(row=0, column=0, columnspan=3,
                                                       sticky="w")
        self.entry = ttk.Entry(frame, width=48)  # no StringVar: see token_dialog.py
        self.entry.insert(0, initial)
        self.entry.grid(row=1, column=0, columnspan=2, sticky="ew", pady=6)
        self.browse_button = ttk.Button(frame, text="Browse…", command=self.browse)
        self.browse_button.grid(row=1, column=2, padx=(6, 0))
        self.message = MessageLabel(frame)
        self.message.grid(row=2, column=0, columnspan=3, sticky="w", pady=(0, 8))
        self.use_button = ttk.Button(frame, text="Use this folder", command=self.submit)
        self.use_button.grid(row=3, column=1, sticky="e", padx=(0, 6))
        self.cancel_button = ttk.Button(frame, text="Cancel", command=self.close)
        self.cancel_button.grid(row=3, column=2, sticky="e")
        self.window.bind("<Return>", lambda _event: self.submit())
        self.window.bind("<Escape>", lambda _event: self.close())
        self.window.protocol("WM_DELETE_WINDOW", self.close)
        self.entry.focus_set()

    def browse(self) -> None:
        """The system's folder picker; the choice is checked at once."""
        chosen = filedialog.askdirectory(parent=self.window, mustexist=True,
                                         initialdir=self.path() or None,
                                         title="Choose the IBKR gateway folder")
        if chosen:
            self.entry.delete(0, "end")
            self.entry.insert(0, chosen)
            self.check()

    def path(self) -> str:
        """The folder typed or chosen (quotes from a pasted Windows path removed)."""
        return self.entry.get().strip().strip('"')

    def check(self) -> list[str]:
        """Validate the folder in the entry and show the result."""
        text = self.path()
        if not text:
            problems = ["Choose the folder first (Browse… or paste its path)."]
        else:
            problems = self._validate(Path(text).expanduser())
        if problems:
            self.message.show_error("\n".join(problems))
        else:
            self.message.show_ok("This is a gateway folder.")
        return problems

    def submit(self) -> None:
        """Use the folder if it is valid; otherwise say what is wrong and stay open."""
        if self.check():
            return
        problem = self._on_chosen(Path(self.path()).expanduser())
        if problem:
            self.message.show_error(problem)
            return
        self.close()
