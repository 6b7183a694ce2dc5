"""Requests a feature view makes of the main window, without importing another feature.

Feature packages (train, deploy, attention, ...) must not import each other. When one needs
another's view - the run summary opening the Evaluate view, a worst evaluation example opening
the Attention tab - it emits a signal on the window's `WindowRequests`, found by walking up its
Qt parents; `workbench.qt.window_requests` (beside main_window) connects those signals to the
views. Without a window (a view shown alone) `requests_for` returns None and the caller says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal

NO_WINDOW = "Open this from the main window: this view is not inside one."


class WindowRequests(QObject):
    """The hand-off signals; one instance is a child of each main window."""

    openCheckpoint = Signal(str)  # a model folder: open it as a checkpoint tab (or focus it)
    evaluate = Signal(str, str)  # a model, adapter or run; a test file ("" to choose)
    # a model folder; its source text; the decoder's text for an encoder-decoder ("" if none):
    # its Attention tab, filled, run
    inspectAttention = Signal(str, str, str)
    inspectLiveAttention = Signal(object)  # a LiveAttentionRequest: the view on a paused model


@dataclass
class LiveAttentionRequest:
    """The train view's hand-off to the Attention feature: a paused run's model to inspect.

    The handler (connected directly, so it runs inside `emit`) fills `dialog` and `task`.
    """

    parent: Any  # the widget the dialog belongs to
    runner: Any  # a TaskRunner or TaskGroup: where the view's work runs
    model: Any
    tokenizer: Any
    can_run: Callable[[], str | None]  # None, or why no forward pass may start now
    started: Callable[[Any], None]  # called with the Task of every model run
    text: str | None = None
    dialog: Any = None
    task: Any = None


def requests_for(widget: QObject | None) -> WindowRequests | None:
    """The WindowRequests of the window `widget` lives in (its own, or a parent's); or None."""
    obj = widget
    while obj is not None:
        if isinstance(obj, WindowRequests):
            return obj
        found = obj.findChild(WindowRequests, "", Qt.FindChildOption.FindDirectChildrenOnly)
        if found is not None:
            return found
        obj = obj.parent()
    return None


def open_then(window: Any, path: str, then: Callable[[Any], None] | None) -> None:
    """Open `path` as a tab (or focus its tab), then call `then(tab)` once it is there.

    Opening runs in a worker; `then` waits for that tab (not any tab that opens meanwhile) and
    is dropped if the open fails or is cancelled. A successful open shows its tab an event-loop
    turn after the task finished (main_window._on_inspect_succeeded), so only an open that did
    not succeed ends the wait.
    """
    resolved = str(Path(path).expanduser().resolve())
    task = window.open_checkpoint(path)
    if task is None:  # already open: its tab is in front now
        if then is not None:
            then(window.current_tab())
        return
    if then is None:
        return

    connected = [True]

    def on_opened(tab: Any) -> None:
        if tab.info.path == resolved:
            _disconnect()
            then(tab)

    def _disconnect() -> None:
        if connected[0]:
            connected[0] = False
            window.checkpointOpened.disconnect(on_opened)

    window.checkpointOpened.connect(on_opened)
    task.finished.connect(lambda: None if task.succeeded else _disconnect())
