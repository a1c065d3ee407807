"""The engine's command queue: commands posted from other threads, run on the loop's thread.

One owner of the engine's state: while the loop runs, only its thread touches the timetable,
the collector, the delivery and the key. The commands (`sync_now`, `pair`, `unpair`) called
from the tray's and dialogs' threads are posted here and the loop runs them between steps;
`pair` and `unpair` wait for their turn. Before a loop ever ran (tests, `sync --once`) the
caller's thread is the only one, and a command runs at once in it; once the loop has ended,
commands are refused (`pair` answers `not_running`).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

CommandResult = TypeVar("CommandResult")


class EngineStopped(RuntimeError):
    """A command posted to the engine could not run: the engine stopped first."""


class CommandQueue:
    """Runs commands on the loop's thread, at once while no loop runs, refused after it ended."""

    def __init__(self, wake_event: threading.Event) -> None:
        self._commands: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = \
            queue.SimpleQueue()
        self._wake_event = wake_event  # set to wake the loop for a posted command
        self._loop_thread: threading.Thread | None = None  # set while the loop runs
        self._loop_ended = False

    def loop_started(self) -> None:
        """The calling thread runs the loop from now on: others' commands wait for it."""
        self._loop_thread = threading.current_thread()

    def loop_ended(self) -> None:
        """The loop has ended: refuse what is queued and every later command."""
        self._loop_ended = True
        self._loop_thread = None
        self.run_pending(refuse=True)  # nobody waits forever for a stopped engine

    def post(self, command: Callable[[], CommandResult]) -> Future[CommandResult]:
        """Run `command` on the engine's thread (at once if no loop runs); its future."""
        future: Future[CommandResult] = Future()
        loop = self._loop_thread
        if (loop is None and not self._loop_ended) or loop is threading.current_thread():
            self._execute(command, future)
            return future
        self._commands.put((command, future))
        self._wake_event.set()
        if self._loop_thread is None:  # the loop ended meanwhile: nobody else will run it
            self.run_pending(refuse=True)
        return future

    def run_pending(self, *, refuse: bool = False) -> None:
        """Run (or, when stopping, refuse) the commands posted so far, in order."""
        while True:
            try:
                command, future = self._commands.get_nowait()
            except queue.Empty:
                return
            if refuse:
                future.set_exception(EngineStopped("the connector engine stopped"))
            else:
                self._execute(command, future)

    @staticmethod
    def _execute(command: Callable[[], Any], future: Future[Any]) -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(command())
        except BaseException as error:  # the caller's thread re-raises it
            future.set_exception(error)
