"""Compare attention: another text on this model, or this text on another open checkpoint."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from workbench.qt.common.heatmap import AttentionHeatmap
from workbench.qt.common.splitter_memory import RememberedSplitter
from workbench.qt.common.text_input import GrowingTextEdit


def diverging_lut(n: int = 256) -> np.ndarray:
    """Blue - white - red (n, 3) uint8, for differences centred on zero."""
    x = np.linspace(-1, 1, n)
    r = np.where(x < 0, 1 + x, 1.0)
    b = np.where(x > 0, 1 - x, 1.0)
    g = 1 - np.abs(x)
    return np.round(np.stack([r, g, b], axis=1) * 255).astype(np.uint8)


def compare_job(other_path: str, text: str, pair, target, progress=None, cancel=None):
    """Worker side: the same input on another checkpoint (loaded for this comparison only)."""
    from workbench.core.attention.compute import compute_attention_from_path

    return compute_attention_from_path(other_path, text, pair=pair, target=target,
                                       progress=progress, cancel=cancel)


def compare_images_job(a_maps, b_maps, selection):
    """Worker side: core's A, B and A - B of a selection, plus their coloured QImages
    ({"a", "b", "diff"}: what the three heatmaps draw), so large maps are not coloured on the
    GUI thread."""
    from workbench.core.attention.aggregate import compare_selection
    from workbench.qt.common.heatmap import heatmap_image, heatmap_levels

    result = compare_selection(a_maps, b_maps, selection)
    images = {}
    for name, matrix in (("a", result.a), ("b", result.b)):
        if matrix is not None:
            images[name] = heatmap_image(matrix, heatmap_levels(matrix, None))
    if result.diff is not None:
        span = result.span or 1e-6
        images["diff"] = heatmap_image(result.diff, (-span, span), diverging_lut())
    return result, images


class CompareView(QWidget):
    """A | B | A - B at the main view's current kind, layer and head (or aggregation)."""

    compared = Signal()

    def __init__(self, owner, parent=None):
        super().__init__(parent)
        self.owner = owner  # the AttentionView
        self.other = None  # AttentionMaps of B
        self.other_label = ""
        self.task = None
        self.diff_task = None  # a worker computing an expensive comparison, if any
        self.mode_combo = QComboBox()
        self.mode_combo.addItems(["Another text on this model",
                                  "This text on another open checkpoint"])
        self.mode_combo.currentIndexChanged.connect(self._on_mode_combo_currentIndexChanged)
        self.text_edit = GrowingTextEdit("The quick brown fox leaps over the lazy dog.",
                                         max_lines=3)
        self.checkpoint_combo = QComboBox()
        self.checkpoint_combo.setVisible(False)
        self.run_button = QPushButton("Compare")
        self.run_button.clicked.connect(self._on_run_button_clicked)
        self.status = QLabel("Run the main input first, then compare.")
        self.status.setWordWrap(True)
        self.a_map, self.b_map, self.diff_map = (AttentionHeatmap(square=True)
                                                 for _ in range(3))
        self.diff_map.set_lut(diverging_lut())
        self.diff_map.hover_template = "{row} ({i}) -> {col} ({j}): A - B = {value}"
        splitter = RememberedSplitter()
        for w in (self.a_map, self.b_map, self.diff_map):
            splitter.addWidget(w)
        top = QHBoxLayout()
        top.addWidget(self.mode_combo)
        top.addWidget(self.checkpoint_combo, 1)
        top.addWidget(self.run_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.text_edit)
        layout.addWidget(self.status)
        layout.addWidget(splitter, 1)

    def showEvent(self, event) -> None:
        self.refresh_checkpoints()
        super().showEvent(event)

    def other_tabs(self) -> list:
        """The other CheckpointTabs open in the main window."""
        window = self.owner.window()
        tabs = getattr(window, "tabs", None)
        if tabs is None:
            return []
        return [tabs.widget(i) for i in range(tabs.count())
                if tabs.widget(i) is not self.owner.tab]

    def refresh_checkpoints(self) -> None:
        current = self.checkpoint_combo.currentData()
        self.checkpoint_combo.clear()
        for tab in self.other_tabs():
            self.checkpoint_combo.addItem(tab.title, tab.info.load_path)
        if current:
            self.checkpoint_combo.setCurrentIndex(max(0, self.checkpoint_combo.findData(current)))

    def _on_mode_combo_currentIndexChanged(self, index: int) -> None:
        self.text_edit.setVisible(index == 0)
        self.checkpoint_combo.setVisible(index == 1)
        self.refresh_checkpoints()

    def _on_run_button_clicked(self) -> None:
        self.start()

    def start(self):
        """Compute B in a worker; returns the Task (None if it cannot start)."""
        from workbench.qt.attention.jobs import compute_job

        owner = self.owner
        if owner.maps is None:
            self.status.setText("Run the main input first.")
            return None
        pair = owner.pair_edit.toPlainText().strip() or None
        target = owner.target_edit.toPlainText().strip() or None
        if self.mode_combo.currentIndex() == 0:
            if owner.cache.model is None:
                self.status.setText("Run the main input first.")
                return None
            self.other_label = "B: the other text"
            job = (compute_job, owner.cache, None, "", "", self.text_edit.toPlainText(), pair,
                   target, None)
        else:
            path = self.checkpoint_combo.currentData()
            if not path:
                self.status.setText("Open another checkpoint in a tab (e.g. the same model "
                                    "after fine-tuning) to compare with it.")
                return None
            self.other_label = f"B: {self.checkpoint_combo.currentText()}"
            job = (compare_job, path, owner.text_edit.toPlainText(), pair, target)
        self.run_button.setEnabled(False)
        self.status.setText("computing B...")
        extra = {"overviews": False} if job[0] is not compare_job else {}  # B's are not shown
        self.task = owner.runner.start(
            *job, on_success=self._on_job_succeeded, on_error=self._on_job_failed,
            on_progress=lambda msg: self.status.setText(msg + "..."), **extra)
        self.task.finished.connect(lambda: self.run_button.setEnabled(True))
        return self.task

    def _on_job_succeeded(self, maps) -> None:
        self.other = maps
        self.refresh()
        self.compared.emit()

    def _on_job_failed(self, message: str, _details: str) -> None:
        self.status.setText(f"Could not compute B: {message}")

    def refresh(self) -> None:
        """Redraw A, B and A - B at the owner's current selection (core computes them: here
        when cheap, in a worker when not)."""
        from workbench.core.attention.aggregate import compare_selection, selection_cost
        from workbench.qt.attention.view import INLINE_CELLS, INLINE_COST

        owner = self.owner
        if owner.maps is None or self.other is None:
            return
        if self.diff_task is not None and self.diff_task.running:
            self.diff_task.cancel()  # a newer selection wins
        self.diff_task = None
        a_maps, b_maps, selection = owner.maps, self.other, owner.selection()
        cost = selection_cost(a_maps, selection) + selection_cost(b_maps, selection)
        stack = a_maps.maps.get(selection.kind)
        cells = 0 if stack is None else stack.shape[-2] * stack.shape[-1]
        if cost <= INLINE_COST and cells <= INLINE_CELLS:
            self._show(a_maps, b_maps, selection.kind, compare_selection(a_maps, b_maps,
                                                                         selection))
            return
        self.status.setText("Computing A, B and A - B...")

        def shown(done) -> None:
            if a_maps is owner.maps and b_maps is self.other \
                    and selection == owner.selection():  # else the user moved on
                self._show(a_maps, b_maps, selection.kind, *done)

        self.diff_task = owner.runner.start(compare_images_job, a_maps, b_maps, selection,
                                            on_success=shown, on_error=self._on_job_failed)

    def _show(self, a_maps, b_maps, kind: str, result, images: dict | None = None) -> None:
        images = images or {}
        a, b, causal = result.a, result.b, result.causal
        if a is None or b is None:
            self.status.setText(f"Nothing to compare here: "
                                f"{result.a_title if a is None else result.b_title}")
            return
        qa, ka = (tuple(t.text for t in s) for s in a_maps.axis_tokens(kind))
        qb, kb = (tuple(t.text for t in s) for s in b_maps.axis_tokens(kind))
        self.a_map.set_matrix(a, qa, ka, title=f"A: {result.a_title}", causal=causal,
                              image=images.get("a"))
        self.b_map.set_matrix(b, qb, kb, title=f"{self.other_label}: {result.b_title}",
                              causal=causal, image=images.get("b"))
        if result.diff is None:
            self.diff_map.clear(f"No difference map: A has {a.shape[0]} x {a.shape[1]} tokens, "
                                f"B has {b.shape[0]} x {b.shape[1]}. Use inputs that tokenize to "
                                f"the same length.")
            self.status.setText("Different token counts: side by side only.")
            return
        span = result.span or 1e-6
        labels_q = qa if qa == qb else tuple(f"{x}|{y}" for x, y in zip(qa, qb, strict=True))
        labels_k = ka if ka == kb else tuple(f"{x}|{y}" for x, y in zip(ka, kb, strict=True))
        self.diff_map.set_matrix(result.diff, labels_q, labels_k, levels=(-span, span),
                                 title=f"A - B (largest |difference| {span:.4f})", causal=causal,
                                 image=images.get("diff"))
        self.status.setText(f"Same layer and head on both; red: A attends more, blue: B does. "
                            f"Largest difference {span:.4f}.")

    def shutdown(self) -> None:
        for task in (self.task, self.diff_task):
            if task is not None and task.running:
                task.cancel()
        self.other = None
