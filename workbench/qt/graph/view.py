"""The "Graph" view: the folded layer graph, the dataflow of a block, and a parameter panel."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QKeySequence, QPainter, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from workbench.core.graph.dataflow import DEFAULT_SEQ_LEN, BlockDataflow, GraphReport
from workbench.core.graph.folding import GraphNode, build_graph, instance
from workbench.core.graph.layout import (
    KIND_COLORS,
    all_expandable_keys,
    default_expanded,
    layout_dataflow,
    layout_graph,
    node_key,
)
from workbench.qt.common.dialogs import show_error
from workbench.qt.common.splitter_memory import RememberedSplitter
from workbench.qt.graph.param_panel import ParamPanel
from workbench.qt.graph.scene import GraphCanvas, GraphScene, NodeItem

MAX_PNG_SIDE = 16_000
# Expanding more boxes than this at once lays the graph out in a worker (70B: 243, ~50 ms).
WORKER_LAYOUT_KEYS = 100
FLOW_MIN_ZOOM = 0.8  # the dataflow's text stays readable (~9 px) down to this zoom
FLOW_EDGE_PX = 2  # room beside the dataflow's widest box when it is shrunk to the panel
LEGEND_KINDS = tuple(k for k in KIND_COLORS if k not in ("input", "output"))  # drawn as boxes


def _trace(tree, config, seq_len, cancel=None) -> GraphReport:
    """Worker side: importing dataflow's tracer pulls in torch, so it stays off the GUI thread."""
    from workbench.core.graph.dataflow import graph_report

    return graph_report(tree, config, seq_len, cancel=cancel)


class GraphView(QWidget):
    """Zoomable folded graph; click to expand and inspect, search to jump, export SVG/PNG."""

    traced = Signal()  # the shape/dataflow trace finished (successfully or not)
    layoutChanged = Signal()

    def __init__(self, tab, parent=None):
        super().__init__(parent)
        self.info, self.runner = tab.info, tab.runner
        tree = self.info.module_tree
        self.root: GraphNode | None = build_graph(tree) if tree is not None else None
        self.report: GraphReport | None = None
        self.expanded: set[str] = default_expanded(self.root) if self.root else set()
        self.selected_key: str | None = None
        self.matches: list[str] = []
        self._match_index = -1
        self._paths: list[str] | None = None
        self._trace_task = None
        self._layout_generation = 0  # bumped by every relayout: older worker layouts are stale
        self.laying_out = False  # a layout is being computed in a worker

        self.scene = GraphScene(self)
        self.canvas = GraphCanvas(self.scene)
        self.canvas.nodeClicked.connect(self._on_canvas_nodeClicked)
        self.canvas.nodeDoubleClicked.connect(self._on_canvas_nodeDoubleClicked)
        self.flow_scene = GraphScene(self)
        self.flow_canvas = GraphCanvas(self.flow_scene)
        self.flow_canvas.nodeClicked.connect(self._on_flow_canvas_nodeClicked)
        self.flow_combo = QComboBox()
        self.flow_combo.currentIndexChanged.connect(self._on_flow_combo_currentIndexChanged)
        self.params = ParamPanel(self.info, self.runner)
        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.hide()

        flow_box = QWidget()
        flow_layout = QVBoxLayout(flow_box)
        flow_layout.setContentsMargins(0, 0, 0, 0)
        flow_layout.addWidget(QLabel("<b>Dataflow inside a block</b> (traced from the code)"))
        flow_layout.addWidget(self.flow_combo)
        flow_layout.addWidget(self.flow_canvas)
        side = RememberedSplitter(Qt.Orientation.Vertical)
        side.addWidget(flow_box)
        side.addWidget(self.params)
        # the dataflow two thirds: the table lists one box's few tensors (~9 rows fit)
        side.setSizes([560, 280])
        split = RememberedSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.canvas)
        split.addWidget(side)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(self._build_toolbar())
        layout.addWidget(self._build_legend())
        layout.addWidget(self.banner)
        layout.addWidget(split, 1)
        QShortcut(QKeySequence.StandardKey.Find, self, self.search_edit.setFocus)

        if self.root is None:
            self._show_banner("This checkpoint has no config.json and no named tensors, so "
                              "there is no structure to draw.", warn=True)
            return
        self.relayout()
        QTimer.singleShot(0, self.canvas.fit)
        # After the first paint: the tracer's imports would hold the GIL while we draw.
        QTimer.singleShot(150, self, self.start_trace)

    def _build_toolbar(self) -> QHBoxLayout:
        bar = QHBoxLayout()
        self.buttons: dict[str, QPushButton] = {}
        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText("Find module (e.g. layers.5.mlp)  Enter = next")
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.returnPressed.connect(self._on_search_edit_returnPressed)
        self.search_edit.textChanged.connect(self._on_search_edit_textChanged)
        self.match_label = QLabel("")
        self.seq_spin = QSpinBox()
        self.seq_spin.setRange(1, 1_000_000)
        self.seq_spin.setValue(DEFAULT_SEQ_LEN)
        self.seq_spin.setPrefix("input length ")
        self.seq_spin.setToolTip("Output shapes are shown for one sequence of this many tokens")
        self.seq_spin.editingFinished.connect(self._on_seq_spin_editingFinished)
        bar.addWidget(self.search_edit, 2)
        bar.addWidget(self.match_label)
        bar.addWidget(self.seq_spin)
        for text, slot, tip in (
                ("Fit", self.canvas.fit, "Fit the whole graph in the window"),
                ("+", lambda: self.canvas.zoom_by(1.25), "Zoom in (or use the wheel)"),
                ("−", lambda: self.canvas.zoom_by(0.8), "Zoom out"),
                ("Expand all", self.expand_all, "Unfold every repeated block and module"),
                ("Collapse", self.collapse_all, "Back to the folded overview"),
                ("SVG...", self._on_svg_button_clicked, "Export the graph as SVG"),
                ("PNG...", self._on_png_button_clicked, "Export the graph as PNG")):
            button = QPushButton(text)
            button.setToolTip(tip)
            button.clicked.connect(slot)
            if len(text) == 1:  # "+" and "−" need no more room than their glyph
                button.setFixedWidth(button.fontMetrics().horizontalAdvance("MM") + 12)
            self.buttons[text] = button
            bar.addWidget(button)
        return bar

    def _build_legend(self) -> QWidget:
        """One swatch per node kind, in the colours the boxes are drawn with (as Netron)."""
        legend = QWidget()
        row = QHBoxLayout(legend)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(10)
        self.legend_items: dict[str, QLabel] = {}
        for kind in LEGEND_KINDS:
            swatch = QLabel(kind)
            swatch.setStyleSheet(f"background:{KIND_COLORS[kind]}; border:1px solid #999; "
                                 f"border-radius:3px; padding:1px 6px; color:#222")
            row.addWidget(swatch)
            self.legend_items[kind] = swatch
        row.addStretch()
        return legend

    # -- layout --------------------------------------------------------------------------------
    def relayout(self, anchor: str | None = None) -> None:
        """Lay the graph out again for the current expansion, keeping `anchor` where it was."""
        if self.root is None:
            return
        self._layout_generation += 1  # a layout still coming from a worker is now stale
        self.laying_out = False
        self._show_layout(layout_graph(self.root, self.expanded), anchor)

    def relayout_in_worker(self, anchor: str | None = None) -> None:
        """relayout(), the layout computed in a worker (hundreds of boxes take ~50 ms); the
        scene keeps the old layout and `laying_out` is True until the new one is shown."""
        if self.root is None:
            return
        self._layout_generation += 1
        generation, root, expanded = self._layout_generation, self.root, set(self.expanded)
        self.laying_out = True
        self.canvas.viewport().setCursor(Qt.CursorShape.BusyCursor)

        def done(layout) -> None:
            if generation == self._layout_generation and root is self.root:
                self.laying_out = False
                self.canvas.viewport().unsetCursor()
                self._show_layout(layout, anchor)

        self.runner.start(layout_graph, root, expanded, on_success=done,
                          on_error=lambda message, details: self._on_layout_failed(
                              generation, message, details))

    def _on_layout_failed(self, generation: int, message: str, details: str) -> None:
        if generation == self._layout_generation:
            self.laying_out = False
            self.canvas.viewport().unsetCursor()
            show_error(self, "Graph", message, details)

    def _show_layout(self, layout, anchor: str | None) -> None:
        before = self._viewport_pos(anchor)
        self.scene.show_layout(layout)
        if before is not None:
            after = self._viewport_pos(anchor)
            if after is not None:
                h, v = self.canvas.horizontalScrollBar(), self.canvas.verticalScrollBar()
                h.setValue(h.value() + int(after.x() - before.x()))
                v.setValue(v.value() + int(after.y() - before.y()))
        if self.selected_key in self.scene.items_by_key:
            self.scene.items_by_key[self.selected_key].setSelected(True)
        self.scene.set_highlight(set(self.matches))
        self.layoutChanged.emit()

    def _viewport_pos(self, key: str | None) -> QPointF | None:
        item = self.scene.items_by_key.get(key) if key else None
        return QPointF(self.canvas.mapFromScene(item.pos())) if item else None

    def _centre_key(self) -> str | None:
        centre = self.canvas.mapToScene(self.canvas.viewport().rect().center())
        item = self.scene.node_at(centre)
        return item.box.key if item is not None else None

    def toggle(self, key: str) -> None:
        """Expand or collapse the box `key`."""
        self.expanded.symmetric_difference_update({key})
        self.relayout(anchor=key)

    def expand_all(self) -> None:
        if self.root is not None:
            self.expanded = all_expandable_keys(self.root)
            if len(self.expanded) > WORKER_LAYOUT_KEYS:
                self.relayout_in_worker(anchor=self.selected_key)
            else:
                self.relayout(anchor=self.selected_key)

    def collapse_all(self) -> None:
        if self.root is not None:
            self.expanded = default_expanded(self.root)
            self.relayout()
            self.canvas.fit()

    # -- selection -----------------------------------------------------------------------------
    def _on_canvas_nodeClicked(self, item: NodeItem, on_toggle: bool) -> None:
        box = item.box
        if box.expandable and (on_toggle or not box.expanded):
            self.toggle(box.key)
        self.select(box.key)

    def _on_canvas_nodeDoubleClicked(self, item: NodeItem) -> None:
        if item.box.expandable and item.box.expanded:
            self.toggle(item.box.key)

    def select(self, key: str) -> None:
        """Select a visible box: parameters in the side panel, its block's dataflow above."""
        item = self.scene.items_by_key.get(key)
        if item is None:
            return
        self.scene.clearSelection()
        item.setSelected(True)
        self.selected_key = key
        self.params.show_node(item.box.node)
        self._show_flow_for(item.box.node.path)

    def reveal(self, path: str) -> NodeItem | None:
        """Expand whatever hides module `path`, then select it and scroll to it."""
        for _ in range(64):  # each round opens one more level
            item = self.scene.items_by_key.get(path)
            if item is not None:
                break
            covering = [b for b in self.scene.layout_data.boxes
                        if not b.expanded and b.expandable and _covers(b.node, b.key, path)]
            if not covering:
                return None
            self.expanded.add(max(covering, key=lambda b: b.depth).key)
            self.relayout()
        else:
            return None
        self.select(path)
        self.canvas.centerOn(item)
        return self.scene.items_by_key.get(path)

    # -- search --------------------------------------------------------------------------------
    def all_paths(self) -> list[str]:
        """Every module path, folds unfolded, in graph order."""
        if self._paths is None:
            out: list[str] = []

            def visit(node: GraphNode) -> None:
                if node.repeat > 1:
                    for i in range(node.repeat):
                        visit(instance(node, i))
                    return
                out.append(node_key(node))
                for c in node.children:
                    visit(c)

            if self.root is not None:
                visit(self.root)
            self._paths = out
        return self._paths

    def search(self, text: str) -> list[str]:
        """Find modules whose path contains `text`; jump to the first and highlight them all."""
        needle = text.strip().lower()
        self.matches = [p for p in self.all_paths() if needle and needle in p.lower()]
        self._match_index = -1
        self.scene.set_highlight(set(self.matches))
        if not self.matches:
            self.match_label.setText("no match" if needle else "")
            return []
        self.next_match()
        return self.matches

    def next_match(self) -> None:
        if not self.matches:
            return
        self._match_index = (self._match_index + 1) % len(self.matches)
        self.reveal(self.matches[self._match_index])
        self.match_label.setText(f"{self._match_index + 1} of {len(self.matches)}")

    def _on_search_edit_returnPressed(self) -> None:
        if self.matches and self.search_edit.text().strip().lower() in self.matches[0].lower():
            self.next_match()
        else:
            self.search(self.search_edit.text())

    def _on_search_edit_textChanged(self, text: str) -> None:
        if not text:
            self.matches = []
            self.match_label.setText("")
            self.scene.set_highlight(set())

    # -- tracing and dataflow ------------------------------------------------------------------
    def start_trace(self) -> None:
        """Run the shape-only forward pass in a worker (shapes, call order, block dataflow)."""
        if self.root is None or self.info.module_tree is None:
            return
        if self._trace_task is not None and self._trace_task.running:
            self._trace_task.cancel()
        self._show_banner(f"Tracing output shapes (input length {self.seq_spin.value()}) and "
                          f"the dataflow inside each block...", warn=False)
        self._trace_task = self.runner.start(
            _trace, self.info.module_tree, self.info.config, self.seq_spin.value(),
            on_success=self._on_trace_succeeded, on_error=self._on_trace_failed)

    def _on_trace_succeeded(self, report: GraphReport) -> None:
        self.report = report
        self.root = report.root
        self._paths = None
        # Shapes change the boxes' sizes: keep what the user looks at where it is on screen
        # (the selected box, else the one at the centre), or the whole graph if it was fitted.
        fitted = self.canvas.fitted
        self.relayout(anchor=self.selected_key or self._centre_key())
        if fitted:
            self.canvas.fit()
        self.flow_combo.blockSignals(True)
        self.flow_combo.clear()
        for block in report.trace.blocks:
            self.flow_combo.addItem(f"{block.block} ({block.class_name})")
        self.flow_combo.blockSignals(False)
        if report.trace.blocks:
            self.banner.hide()
            if report.trace.note:
                self._show_banner(report.trace.note, warn=False)
            self._show_flow(report.trace.blocks[0])
        else:
            self._show_banner(f"Dataflow unavailable: {report.trace.error} The layer graph "
                              f"below comes from the module hierarchy alone.", warn=True)
        if self.selected_key:
            self.select(self.selected_key)
        self.traced.emit()

    def _on_trace_failed(self, message: str, _details: str) -> None:
        self._show_banner(f"Dataflow unavailable: {message} The layer graph below comes from "
                          f"the module hierarchy alone.", warn=True)
        self.traced.emit()

    def _show_banner(self, text: str, warn: bool) -> None:
        color = "#fff3cd; color:#7a5200" if warn else "#e3f2fd; color:#0d47a1"
        self.banner.setStyleSheet(f"background:{color}; padding:6px; border-radius:4px")
        self.banner.setText(text)
        self.banner.show()

    def _show_flow_for(self, path: str) -> None:
        blocks = self.report.trace.blocks if self.report else ()
        for i, block in enumerate(blocks):
            stack = block.block.rsplit(".", 1)[0]
            if path == stack or path.startswith(stack + "."):
                self.flow_combo.setCurrentIndex(i)
                return

    def _on_flow_combo_currentIndexChanged(self, index: int) -> None:
        if self.report and 0 <= index < len(self.report.trace.blocks):
            self._show_flow(self.report.trace.blocks[index])

    def _show_flow(self, block: BlockDataflow) -> None:
        self.flow_block = block
        self.flow_scene.show_layout(layout_dataflow(block))
        # Fitted, a block's dataflow was ~6 px text; at 100% it is readable and scrolls. A
        # drawing a little wider than the panel (a 1024 px window) is shrunk to its width,
        # never below FLOW_MIN_ZOOM, rather than cut at the right with a sideways scroll.
        self.flow_canvas.readable = None  # a new drawing starts from its top
        self.flow_canvas.show_readable(FLOW_MIN_ZOOM, FLOW_EDGE_PX)

    def _on_flow_canvas_nodeClicked(self, item: NodeItem, _on_toggle: bool) -> None:
        if item.box.node.path:
            self.reveal(item.box.node.path)

    def _on_seq_spin_editingFinished(self) -> None:
        if self.report is None or self.report.trace.forward is None or \
                self.report.trace.forward.seq_len != self.seq_spin.value():
            self.start_trace()

    # -- export --------------------------------------------------------------------------------
    def export_svg(self, path: str | Path) -> Path:
        """Write the graph as currently expanded to an SVG file (atomically)."""
        from PySide6.QtSvg import QSvgGenerator

        rect = self.scene.itemsBoundingRect().adjusted(-20, -20, 20, 20)

        def paint(tmp: str) -> None:
            gen = QSvgGenerator()
            gen.setFileName(tmp)
            gen.setSize(QSize(int(rect.width()), int(rect.height())))
            gen.setViewBox(QRectF(0, 0, rect.width(), rect.height()))
            gen.setTitle(self.info.architecture or "Layer graph")
            painter = QPainter(gen)
            self.scene.render(painter, QRectF(0, 0, rect.width(), rect.height()), rect)
            painter.end()

        return _atomic_write(path, paint)

    def export_png(self, path: str | Path, scale: float = 1.5) -> Path:
        """Write the graph as currently expanded to a PNG (longest side at most 16,000 px)."""
        rect = self.scene.itemsBoundingRect().adjusted(-20, -20, 20, 20)
        scale = min(scale, MAX_PNG_SIDE / max(rect.width(), rect.height(), 1))

        def paint(tmp: str) -> None:
            image = QImage(int(rect.width() * scale), int(rect.height() * scale),
                           QImage.Format.Format_ARGB32)
            image.fill(QColor("white"))
            painter = QPainter(image)
            painter.setRenderHints(QPainter.RenderHint.Antialiasing
                                   | QPainter.RenderHint.TextAntialiasing)
            self.scene.render(painter, QRectF(0, 0, image.width(), image.height()), rect)
            painter.end()
            if not image.save(tmp, "PNG"):
                raise OSError(f"could not write {tmp}")

        return _atomic_write(path, paint)

    def _on_svg_button_clicked(self) -> None:
        self._export_dialog("SVG", "SVG images (*.svg)", ".svg", self.export_svg)

    def _on_png_button_clicked(self) -> None:
        self._export_dialog("PNG", "PNG images (*.png)", ".png", self.export_png)

    def _export_dialog(self, kind: str, filt: str, suffix: str, export) -> None:
        name = (self.info.architecture or "graph") + suffix
        path, _ = QFileDialog.getSaveFileName(self, f"Export graph as {kind}",
                                              str(Path.home() / name), filt)
        if not path:
            return
        try:
            export(path)
        except OSError as e:
            show_error(self, f"Could not export {kind}", f"Writing {path} failed: {e}")

    def shutdown(self) -> None:
        """Stop the trace and statistics workers."""
        if self._trace_task is not None and self._trace_task.running:
            self._trace_task.cancel()
        self.params.shutdown()


def _covers(node: GraphNode, key: str, path: str) -> bool:
    """Whether the collapsed box (node, key) hides module `path` inside it."""
    if path.startswith(key + ".") or key == "(model)":
        return True
    return any(path == i or path.startswith(i + ".") for i in node.instances)


def _atomic_write(path: str | Path, paint) -> Path:
    from workbench.core.atomic import atomic_path

    with atomic_path(path) as tmp:
        paint(str(tmp))
    return Path(path).expanduser()
