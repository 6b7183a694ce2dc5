"""Per-head entropy of every layer and the heads that park attention on first/special tokens."""

from __future__ import annotations

import math

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from workbench.qt.common.heatmap import AttentionHeatmap


class AttentionSummary(QWidget):
    """Entropy heatmap (layers x heads) plus a sentence about sink heads."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.entropy_map = AttentionHeatmap(square=True)
        self.entropy_map.hover_template = "layer {row}, head {col}: entropy {value} nats"
        self.entropy_map.plot.setLabel("left", "layer")
        self.entropy_map.plot.setLabel("bottom", "head")
        self.sinks = QLabel("Run the model to see per-head statistics.")
        self.sinks.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("<b>Per-head entropy</b> (mean over query tokens; low = focused, "
                                "high = spread out)"))
        layout.addWidget(self.entropy_map, 1)
        layout.addWidget(self.sinks)
        self.entropy = None

    def set_maps(self, maps, kind: str) -> None:
        """Show the overview of one kind: the worker's, else computed here (small inputs)."""
        from workbench.core.attention.overview import cached_overview, kind_overview

        overview = cached_overview(maps, kind) or kind_overview(maps, kind, with_mosaic=False)
        stack = maps.maps[kind]
        self.entropy = overview.entropy  # (L, H)
        _queries, keys = maps.axis_tokens(kind)
        top = math.log(max(len(keys), 2))
        self.entropy_map.set_matrix(self.entropy, [str(i) for i in maps.layers[kind]],
                                    [str(h) for h in range(stack.shape[1])], levels=(0.0, top),
                                    title=f"entropy of {kind} attention (max possible "
                                          f"{top:.2f} nats)")
        self.sinks.setText(overview.sinks_text)
