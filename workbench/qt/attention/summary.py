"""Per-head entropy of every layer and the heads that park attention on first/special tokens."""

from __future__ import annotations

import math

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from workbench.qt.common.heatmap import AttentionHeatmap


class AttentionSummary(QWidget):
    """Entropy heatmap (layers x heads) plus a sentence about sink heads."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.entropy_map = AttentionHeatmap()
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
        from workbench.core.attention.aggregate import head_entropy, sink_heads, summarize_sinks

        stack = maps.maps[kind]
        self.entropy = head_entropy(stack)  # (L, H)
        _queries, keys = maps.axis_tokens(kind)
        top = math.log(max(len(keys), 2))
        self.entropy_map.set_matrix(self.entropy, [str(i) for i in maps.layers[kind]],
                                    [str(h) for h in range(stack.shape[1])], levels=(0.0, top),
                                    title=f"entropy of {kind} attention (max possible "
                                          f"{top:.2f} nats)")
        sinks = sink_heads(stack, [t.special for t in keys], layers=maps.layers[kind])
        self.sinks.setText(summarize_sinks(sinks, stack.shape[0] * stack.shape[1]))
