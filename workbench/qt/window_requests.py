"""What the main window does with the requests feature views make (qt/common/requests.py).

Here, beside main_window, it may import any feature package: open a checkpoint tab, the
Evaluate view, a model's Attention tab with a text filled in and run, or the Attention view on
a paused run's model.
"""

from __future__ import annotations

from typing import Any

from workbench.qt.common.requests import WindowRequests, open_then


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
