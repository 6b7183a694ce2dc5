"""The side panel of the graph: a module's parameters and, on demand, one tensor's statistics."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.core.checkpoint.inspection import CheckpointInfo
from workbench.core.checkpoint.tensor_stats import TensorStats, find_stored, tensor_stats
from workbench.core.graph.folding import GraphNode
from workbench.core.units import human_count

MAX_ROWS = 2000
AUTO_STATS_ELEMENTS = 20_000_000  # read the first tensor at once only when it is this small


class ParamPanel(QWidget):
    """Parameters (name, shape, dtype, count) of the selected module; stats in a worker."""

    statsComputed = Signal(object)  # TensorStats
    statsFailed = Signal(str)

    def __init__(self, info: CheckpointInfo, runner, parent=None):
        super().__init__(parent)
        self.info, self.runner = info, runner
        self.node: GraphNode | None = None
        self.stats: TensorStats | None = None
        self._task = None
        self.header = QLabel("Click a box to see its parameters.")
        self.header.setWordWrap(True)
        self.header.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["Parameter", "Shape", "DType", "Count"])
        header = self.table.horizontalHeader()
        # Every column stays visible in a narrow sidebar (T5's long names): the name column
        # takes what is left and elides in the middle, where the index is least telling.
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for c in (1, 2, 3):
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.itemSelectionChanged.connect(self._on_table_itemSelectionChanged)
        self.stats_label = QLabel("")
        self.stats_label.setWordWrap(True)
        self.plot = None  # pyqtgraph is imported on the first histogram (0.6 s)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.header)
        layout.addWidget(self.table, 2)
        layout.addWidget(self.stats_label)
        self._plot_slot = layout

    def show_node(self, node: GraphNode) -> None:
        """List every parameter under `node` (one instance of a fold) with its stored dtype."""
        self.node = node
        self.stats = None
        if self._task is not None and self._task.running:
            self._task.cancel()  # its result would belong to the previous module
        fold = f" (one of {node.repeat} identical blocks)" if node.repeat > 1 else ""
        shape = f", output {' × '.join(map(str, node.output_shape))}" if node.output_shape else ""
        self.header.setText(
            f"<b>{node.path or '(model)'}</b><br>{node.class_name} · {node.kind} · "
            f"{human_count(node.each_parameters)} parameters{fold}{shape}")
        rows = []
        for sub in node.walk():  # a fold's children carry its first instance's paths
            for p in sub.params:
                rows.append((f"{sub.path}.{p.name}" if sub.path else p.name, p))
                if len(rows) >= MAX_ROWS:
                    break
        self.table.blockSignals(True)
        self.table.clearContents()
        self.table.setRowCount(len(rows))
        for r, (name, p) in enumerate(rows):
            stored = find_stored(self.info.tensors, name) if self.info.tensors else None
            if p.tied_to and stored is None:
                dtype = f"tied to {p.tied_to}"
            else:
                dtype = stored.dtype if stored else f"{p.dtype} (not stored)"
            local = name[len(node.path) + 1:] if node.path and name.startswith(node.path) \
                else name
            count = "tied" if p.tied_to else f"{p.numel:,}"
            values = (local, " × ".join(map(str, p.shape)) or "scalar", dtype, count)
            for c, text in enumerate(values):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, stored)
                item.setToolTip(name)
                self.table.setItem(r, c, item)
        self.table.blockSignals(False)
        self.stats_label.setText("" if self.info.has_weights else
                                 "This checkpoint has no weights, so there are no statistics.")
        if self.plot is not None:
            self.plot.clear()
            self.plot.hide()  # until this module's first statistics arrive
        first = self.table.item(0, 0)
        stored = first.data(Qt.ItemDataRole.UserRole) if first else None
        if stored is not None and stored.numel <= AUTO_STATS_ELEMENTS:
            self.table.selectRow(0)

    def _on_table_itemSelectionChanged(self) -> None:
        rows = {i.row() for i in self.table.selectedItems()}
        if not rows:
            return
        stored = self.table.item(min(rows), 0).data(Qt.ItemDataRole.UserRole)
        if self._task is not None and self._task.running:
            self._task.cancel()
        if stored is None:
            self.stats_label.setText("Not stored under this name (tied to another weight, or a "
                                     "checkpoint without weights).")
            return
        self.stats_label.setText(f"Reading {stored.name} ({stored.numel:,} values)...")
        self._task = self.runner.start(tensor_stats, self.info.root, stored,
                                       on_success=self._on_stats_succeeded,
                                       on_error=self._on_stats_failed)

    def _on_stats_succeeded(self, stats: TensorStats) -> None:
        self.stats = stats
        nonfinite = f" · NaN/inf {stats.nonfinite:,}" if stats.nonfinite else ""
        self.stats_label.setText(
            f"<b>{stats.name}</b><br>mean {stats.mean:.4g} · std {stats.std:.4g} · "
            f"min {stats.min:.4g} · max {stats.max:.4g} · zeros {stats.zeros:.2%}{nonfinite}")
        self._draw_histogram(stats)
        self.statsComputed.emit(stats)

    def _on_stats_failed(self, message: str, _details: str) -> None:
        self.stats_label.setText(f"Statistics unavailable: {message}")
        self.statsFailed.emit(message)

    def _draw_histogram(self, stats: TensorStats) -> None:
        import pyqtgraph as pg

        if self.plot is None:
            self.plot = pg.PlotWidget(background="w")
            self.plot.setMinimumHeight(150)
            self.plot.setLabel("bottom", "value")
            self.plot.setLabel("left", "count")
            self._plot_slot.addWidget(self.plot, 1)
        self.plot.clear()
        self.plot.show()
        self.histogram = pg.PlotDataItem(stats.edges, stats.counts, stepMode="center",
                                         fillLevel=0, brush=(90, 150, 230, 160),
                                         pen=pg.mkPen("#1565c0"))
        self.plot.addItem(self.histogram)

    def shutdown(self) -> None:
        if self._task is not None and self._task.running:
            self._task.cancel()
