"""What the main window does with the requests feature views make (qt/common/requests.py).

Here, beside main_window, it may import any feature package: open a checkpoint tab, the
Evaluate view, a model's Attention tab with a text filled in and run, or the Attention view on
a paused run's model.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from workbench.qt.common.requests import WindowRequests


def install_requests(window: Any) -> WindowRequests:
    """Give `window` its WindowRequests (a child, so views find it) and connect it."""
    requests = WindowRequests(window)
    requests.openCheckpoint.connect(lambda path: open_then(window, path, None))
    requests.evaluate.connect(lambda path, data: _evaluate(window, path, data))
    requests.inspectAttention.connect(
        lambda path, text, target: inspect_attention(window, path, text, target))
    requests.inspectLiveAttention.connect(_inspect_live_attention)
    window.requests = requests
    return requests


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


def inspect_attention(window: Any, path: str, text: str, target: str = "") -> None:
    """The model's Attention tab with `text` in its input (and `target` as the decoder's text
    of an encoder-decoder model), run."""
    def show(tab: Any) -> None:
        view = tab.show_view("Attention")
        if view is None:
            return
        view.text_edit.setPlainText(text)
        if getattr(view, "enc_dec", False):  # only an encoder-decoder view reads a target
            view.target_edit.setPlainText(target)
        view.run()

    open_then(window, path, show)


def _inspect_live_attention(request: Any) -> None:
    from workbench.qt.attention.live import open_live_attention

    open_live_attention(request)


def _evaluate(window: Any, path: str, data: str) -> None:
    from workbench.qt.deploy.actions import open_evaluate

    open_evaluate(window, path=path, data=data)
