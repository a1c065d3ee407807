"""The "Paste token…" dialog: checks the one-time token's form, pairs, says what happened.

The form check runs before anything is sent, so a half-copied token or a pasted key never costs
the person their one-time token. Pairing blocks on the network, so it runs in a worker thread;
the Tk thread picks the outcome up with `after()` polling (Tk calls stay on the Tk thread).
"""

from __future__ import annotations

import queue
import re
import threading
import tkinter as tk
from collections.abc import Callable
from tkinter import ttk

from veracity_connector.dialogs.common import PADDING, DialogWindow, MessageLabel, make_window
from veracity_connector.state import PairingOutcome

TOKEN_PREFIX = "vct_"  # noqa: S105 (the public prefix of one-time tokens)
# The server makes tokens as vct_ + token_urlsafe(24) (32 characters); at least 128 bits
# (22 characters) is the contract's minimum, so accept anything from there.
_TOKEN_SHAPE = re.compile(r"vct_[A-Za-z0-9_-]{22,200}")

# What each server answer means for the person, in plain words.
PAIRING_MESSAGES: dict[str, str] = {
    "token_used": "This token was already used. Tokens work once: generate a new one in "
                  "Veracity (Profile → IBKR Integration) and paste it here.",
    "token_expired": "This token has expired (tokens last 10 minutes). Generate a new one in "
                     "Veracity (Profile → IBKR Integration) and paste it here.",
    "token_invalid": "Veracity does not know this token. Check that you copied all of it, or "
                     "generate a new one in Profile → IBKR Integration.",
    "rate_limited": "Too many attempts in a short time. Wait a minute, then try again.",
    "network": "Veracity could not be reached. Check your internet connection and the "
               "Veracity address in Settings…, then try again.",
    "server_error": "Veracity had a problem answering. Try again in a few minutes.",
}
OTHER_ACCOUNT_QUESTION = (
    "This token is for a different Veracity account than the snapshots still waiting to be "
    "sent. Press “Drop them and pair” to drop them and pair with this account, or use a token "
    "from the account they belong to.")
PAIRED_MESSAGE = "Paired. The connector is now syncing your IBKR portfolio to Veracity."
_POLL_MS = 100


def check_token_form(text: str) -> tuple[str | None, str | None]:
    """(the token, None) when `text` looks like a one-time token, else (None, what is wrong)."""
    # Copying from a web page can bring spaces, line breaks or quotes along.
    token = re.sub(r"\s+", "", text).strip("\"'\u201c\u201d\u2018\u2019")
    if not token:
        return None, "Paste the one-time token from Veracity (it starts with vct_)."
    if token.startswith("vck_"):
        return None, ("That is a connector key, not a one-time token. Generate a token in "
                      "Veracity (Profile → IBKR Integration) and paste that.")
    if not token.startswith(TOKEN_PREFIX):
        return None, ("That is not a Veracity token: tokens start with vct_. Copy it again "
                      "from Profile → IBKR Integration.")
    if not _TOKEN_SHAPE.fullmatch(token):
        return None, ("That token looks incomplete or has characters a token cannot have. "
                      "Copy it again with the Copy button in Veracity.")
    return token, None


def describe_outcome(outcome: PairingOutcome) -> str:
    """The sentence the dialog shows for a pairing outcome."""
    if outcome.ok:
        return PAIRED_MESSAGE
    if outcome.code in {"network", "server_error"} and outcome.message:
        return outcome.message  # the engine knows the address and what failed
    return PAIRING_MESSAGES.get(outcome.code) or outcome.message or (
        "Pairing failed. Try again with a new token.")


class TokenDialog(DialogWindow):
    """Entry + Pair button + a message line; closes itself a moment after success."""

    def __init__(self, root: tk.Tk, pair: Callable[..., PairingOutcome],
                 on_paired: Callable[[], None] | None = None) -> None:
        """`pair(token, discard_outbox=False)` is the engine's command."""
        self._pair = pair
        self._on_paired = on_paired
        # The token whose pairing stopped because unsent snapshots belong to another Veracity
        # account: pressing "Drop them and pair" with it again agrees to drop them.
        self._confirm_discard_for: str | None = None
        self._results: queue.Queue[PairingOutcome] = queue.Queue()
        self.window = make_window(root, "Paste token")
        frame = ttk.Frame(self.window, padding=PADDING)
        frame.grid(sticky="nsew")
        ttk.Label(frame, text="Paste the one-time token from Veracity "
                              "(Profile → IBKR Integration → Generate token):",
                  wraplength=420, justify="left").grid(row=0, column=0, columnspan=2,
                                                       sticky="w")
        # No tk.StringVar anywhere: a Variable's __del__ calls Tcl from whichever thread the
        # garbage collector runs in, which breaks Tk living on its own thread.
        self.entry = ttk.Entry(frame, width=52)
        self.entry.grid(row=1, column=0, columnspan=2, sticky="ew", pady=(6, 6))
        self.message = MessageLabel(frame)
        self.message.grid(row=2, column=0, columnspan=2, sticky="w", pady=(0, 8))
        self.pair_button = ttk.Button(frame, text="Pair", command=self.submit)
        self.pair_button.grid(row=3, column=0, sticky="e", padx=(0, 6))
        self.close_button = ttk.Button(frame, text="Close", command=self.close)
        self.close_button.grid(row=3, column=1, sticky="e")
        self.window.bind("<Return>", lambda _event: self.submit())
        self.window.bind("<Escape>", lambda _event: self.close())
        self.window.protocol("WM_DELETE_WINDOW", self.close)
        self.entry.focus_set()
        self.busy = False

    def submit(self) -> None:
        """Check the token's form; if it is right, pair in the background."""
        if self.busy:
            return
        token, problem = check_token_form(self.entry.get())
        if problem:
            self.message.show_error(problem)
            return
        assert token is not None
        discard_outbox = token == self._confirm_discard_for
        self._confirm_discard_for = None
        self.pair_button.configure(text="Pair")
        self.busy = True
        self.pair_button.state(["disabled"])
        self.message.show_info("Pairing with Veracity…")
        threading.Thread(target=self._pair_in_background, args=(token, discard_outbox),
                         name="pairing", daemon=True).start()
        self.window.after(_POLL_MS, self._collect)

    def _pair_in_background(self, token: str, discard_outbox: bool) -> None:
        try:
            outcome = self._pair(token, discard_outbox=discard_outbox) if discard_outbox \
                else self._pair(token)
        except Exception as error:  # the dialog must always get an answer
            outcome = PairingOutcome(ok=False, code="error", message=f"Pairing failed: {error}")
        self._results.put(outcome)

    def _collect(self) -> None:
        try:
            outcome = self._results.get_nowait()
        except queue.Empty:
            self.window.after(_POLL_MS, self._collect)
            return
        self.busy = False
        self.pair_button.state(["!disabled"])
        if outcome.ok:
            self.entry.delete(0, "end")
            self.message.show_ok(describe_outcome(outcome))
            if self._on_paired:
                self._on_paired()
        elif outcome.code == "other_account":
            # Ask before dropping anything: the same token, pressed again, agrees.
            self._confirm_discard_for, _problem = check_token_form(self.entry.get())
            self.pair_button.configure(text="Drop them and pair")
            self.message.show_error(OTHER_ACCOUNT_QUESTION)
        else:
            self.message.show_error(describe_outcome(outcome))
