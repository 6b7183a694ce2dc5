"""The Attention view on the model of a paused training run (asked for by qt.train through the
window's requests, qt/common/requests.py)."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QDialog, QVBoxLayout, QWidget

from workbench.qt.attention.view import AttentionView
from workbench.qt.common.dialogs import fit_to_screen

DEFAULT_LIVE_TEXT = "The movie was surprisingly good."


class LiveAttentionDialog(QDialog):
    """The Attention tab's view (text, layer and head selectors, heatmap with colour bar,
    all heads, the BertViz token view, summary) on the model of a paused run."""

    def __init__(self, parent: QWidget | None = None, runner: Any = None,
                 config: dict | None = None):
        super().__init__(parent)
        from workbench.qt.common.tasks import TaskRunner

        self.setWindowTitle("Attention of the live model (paused run)")
        fit_to_screen(self, 1000, 760)
        self._own_runner = TaskRunner(self) if runner is None else None
        self.attention = AttentionView(None, runner=runner or self._own_runner,
                                       config=config or {}, live=True)
        self.attention.text_edit.setPlainText(DEFAULT_LIVE_TEXT)
        self.attention.status.setText("The paused run's model: Run computes its attention.")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.attention)

    @property
    def maps(self) -> Any:
        """The AttentionMaps shown, or None before the first run."""
        return self.attention.maps

    @property
    def heatmap(self) -> Any:
        return self.attention.heatmap

    def show_maps(self, maps: Any) -> None:
        """Show a result (as a run of the view would)."""
        self.attention._on_job_succeeded(maps)
        self.show()

    def done(self, result: int) -> None:
        """Closing cancels the view's work (a forward pass stops at its next layer)."""
        self.attention.shutdown()
        if self._own_runner is not None:
            self._own_runner.shutdown()
        super().done(result)


def open_live_attention(request: Any) -> None:
    """Handle a LiveAttentionRequest: show the dialog on the paused model and run it once;
    fills `request.dialog` and `request.task` (None if the run was refused)."""
    dialog = LiveAttentionDialog(request.parent, runner=request.runner,
                                 config=request.model.config.to_dict())
    view = dialog.attention
    view.use_model(request.model, request.tokenizer, "paused training model")
    view.can_run = request.can_run
    view.runStarted.connect(request.started)
    if request.text is not None:
        view.text_edit.setPlainText(request.text)
    dialog.show()
    request.dialog = dialog
    request.task = view.run()
