"""Tools > Diff Checkpoints: the layer x module heatmap of change and a sortable module table."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHeaderView, QTableWidget

from workbench.core.diff.weights import short_labels
from workbench.qt.common.heatmap import AttentionHeatmap
from workbench.qt.common.splitter_memory import RememberedSplitter
from workbench.qt.deploy import jobs
from workbench.qt.deploy.task_dialog import PathField, TaskDialog, fill_table


class DiffDialog(TaskDialog):
    """Pick A (reference) and B (or a LoRA adapter alone), run the streamed diff, show it."""

    def __init__(self, a: str = "", b: str = "", parent=None) -> None:
        super().__init__("Diff Checkpoints", "Compare", parent)
        self.a_field, self.b_field = PathField(a), PathField(b)
        self.form.addRow("A (reference)", self.a_field)
        self.form.addRow("B (or empty for an adapter alone)", self.b_field)
        self.heatmap = AttentionHeatmap()
        self.heatmap.hover_template = "{row} / {col}: {value}"
        self.heatmap.plot.setLabel("left", "layer")
        self.heatmap.plot.setLabel("bottom", "module (full names in the table below)")
        self.heatmap.clear("Compare two checkpoints to see which layers moved.")
        self.table = QTableWidget()
        splitter = RememberedSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.heatmap)
        splitter.addWidget(self.table)
        self.results.addWidget(splitter)

    def job(self):
        if not self.a_field.text():
            raise ValueError("Choose checkpoint A.")
        return jobs.run_diff, {"a": self.a_field.text(), "b": self.b_field.text() or None}

    def show_result(self, diff) -> None:
        m = diff.matrix
        if m.layers:
            values = np.nan_to_num(m.values, nan=0.0)
            top = float(values.max()) if values.size else 0.0
            self.heatmap.set_matrix(m.values, m.layers, short_labels(m.modules),
                                    levels=(0.0, top if top > 0 else 1.0),
                                    title="relative change ||dW|| / ||W|| per layer and module")
        else:
            self.heatmap.clear("These checkpoints have no numbered layers to draw.")
        fill_table(self.table, ["module", "relative change", "tensors"],
                   [[d.name, d.relative_change, d.num_tensors] for d in diff.modules])
        self.table.sortByColumn(1, Qt.SortOrder.DescendingOrder)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        counts = ", ".join(f"{k} {v}" for k, v in sorted(diff.summary().items()))
        config = "; ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in diff.config_diff.items())
        self.status.setText(f"Tensors: {counts}." + (f" Config: {config}" if config else ""))
