"""Throttled progress messages and cancel checks for long core work (diff, evaluate, export)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from workbench.core.errors import CancelledError

Progress = Callable[[str], None]


class Reporter:
    """Send at most one progress message per `interval` seconds, and raise once cancelled.

    Long loops call `step(...)` every item; the GUI gets ~10 messages a second, not one per tensor.
    """

    def __init__(self, progress: Progress | None, cancel: threading.Event | None, what: str,
                 interval: float = 0.1) -> None:
        self._progress, self._cancel, self._what = progress, cancel, what
        self._interval, self._last = interval, 0.0

    def check(self) -> None:
        """Raise CancelledError if the user asked to stop."""
        if self._cancel is not None and self._cancel.is_set():
            raise CancelledError(f"{self._what} was cancelled.")

    def step(self, message: str, force: bool = False) -> None:
        """Check for cancel, then report `message` unless one was sent very recently."""
        self.check()
        now = time.monotonic()
        if self._progress is not None and (force or now - self._last >= self._interval):
            self._last = now
            self._progress(message)
