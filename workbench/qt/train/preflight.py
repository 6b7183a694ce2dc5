"""Before launch: a preview of the data, the learning-rate schedule and the memory estimate.

Everything here is computed in workers (reading the data file, tokenizing a sample, building a
scheduler) and redrawn when the form changes, debounced so typing stays fluid.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from workbench.qt.common.lazy_plot import DeferredPlot, plot_widget
from workbench.qt.common.splitter_memory import RememberedSplitter
from workbench.qt.train.curves import step_axes
from workbench.qt.train.label_bars import LabelBars

DEBOUNCE_MS = 350
PLOT_TITLE_SIZE = "10pt"  # pyqtgraph's default title is large enough to be cut in a side pane


def _load_preview(spec: Any, tokenizers: dict) -> Any:
    """Worker: the core data preview with the model's tokenizer (cached per model folder)."""
    from workbench.core.errors import WorkbenchError
    from workbench.core.model.loading import load_tokenizer
    from workbench.core.training.data import preview_data

    tokenizer = tokenizers.get(spec.model_path)
    if tokenizer is None:
        try:
            tokenizer = load_tokenizer(spec.model_path)
        except WorkbenchError:
            tokenizer = None  # the preview still shows rows and labels, without lengths
        tokenizers[spec.model_path] = tokenizer
    return preview_data(spec, tokenizer=tokenizer)


def _list_columns(path: str) -> list[str]:
    from workbench.core.training.data import list_columns

    return list_columns(path)


def train_rows(spec: Any, num_rows: int) -> int:
    """Rows left for training once the eval split is held out (none held out with an eval file)."""
    return num_rows if spec.eval_file else max(1, int(num_rows * (1 - spec.eval_split)))


def _plan(spec: Any, num_rows: int | None, num_labels: int) -> dict[str, Any]:
    """Worker: planned steps, the LR schedule over them, and the memory estimate."""
    from workbench.core.training.memory_plan import (
        estimate_training_memory,
        lr_schedule,
        planned_steps,
    )

    rows = train_rows(spec, num_rows) if num_rows else None  # None: not counted yet
    # max_steps > 0 plans without a row count
    steps = planned_steps(spec, rows or 0) if rows or spec.max_steps > 0 else None
    out: dict[str, Any] = {"steps": steps, "lr": None, "memory": None, "memory_error": ""}
    if steps:
        out["lr"] = np.asarray(lr_schedule(spec, steps), dtype=float)
    try:
        out["memory"] = estimate_training_memory(spec, num_labels=max(2, num_labels))
    except Exception as e:  # an estimate that fails must not block the form
        out["memory_error"] = f"No memory estimate: {e}"
    return out


class PreflightPanel(QTabWidget):
    """Data preview (rows, token lengths, labels) and launch check (LR schedule, memory)."""

    columnsLoaded = Signal(list)
    previewLoaded = Signal(object)
    planned = Signal(object)

    def __init__(self, runner: Any, parent: QWidget | None = None):
        super().__init__(parent)
        self.runner = runner
        self.preview: Any = None
        self.plan: dict[str, Any] | None = None
        self._tokenizers: dict[str, Any] = {}
        self._form: Any = None
        from workbench.qt.common.tasks import TaskGroup

        self.tasks = TaskGroup(runner)

        self.data_label = QLabel("Choose a training file to preview it.")
        self.data_label.setWordWrap(True)
        self.rows = QTableWidget()
        self.rows.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        # the plots are made after they are first shown (or when data comes): see DeferredPlot
        self._lengths = DeferredPlot(self._build_lengths_plot)
        self._labels = DeferredPlot(self._build_labels_plot)
        data = QWidget()
        plots = RememberedSplitter(Qt.Orientation.Horizontal)
        plots.addWidget(self._lengths)
        plots.addWidget(self._labels)
        split = RememberedSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.rows)
        split.addWidget(plots)
        from workbench.qt.train.chat_preview import ChatPreviewPanel

        self.table_and_plots = split
        split.hide()  # empty axes say nothing: shown once a preview has rows to draw
        self.chat = ChatPreviewPanel(runner, self._tokenizers)  # chat-sft: shown instead
        self.chat.hide()
        col = QVBoxLayout(data)
        col.addWidget(self.data_label)
        col.addWidget(split, 1)
        col.addWidget(self.chat, 1)
        self.addTab(data, "Data preview")

        self._lr = DeferredPlot(self._build_lr_plot)
        self.memory_label = QLabel("Memory estimate: waiting for a valid setup.")
        self.memory_label.setWordWrap(True)
        self.memory_label.setTextFormat(Qt.TextFormat.RichText)
        launch = QWidget()
        col = QVBoxLayout(launch)
        col.addWidget(self._lr, 1)
        col.addWidget(self.memory_label)
        self.addTab(launch, "Schedule && memory")

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(DEBOUNCE_MS)
        self._debounce.timeout.connect(self._on_debounce_timeout)
        self._data_debounce = QTimer(self)
        self._data_debounce.setSingleShot(True)
        self._data_debounce.setInterval(DEBOUNCE_MS)
        self._data_debounce.timeout.connect(self._on_data_debounce_timeout)

    def _build_lengths_plot(self) -> pg.PlotWidget:
        plot = plot_widget()
        plot.setBackground("w")
        plot.setTitle("Token lengths", size=PLOT_TITLE_SIZE)
        plot.setLabel("bottom", "tokens")
        plot.setLabel("left", "rows")
        for axis in ("bottom", "left"):  # token counts are whole numbers: never "(x0.001)"
            plot.getAxis(axis).enableAutoSIPrefix(False)
        self._max_length_line = pg.InfiniteLine(angle=90, pen=pg.mkPen("#d62728", width=2))
        plot.addItem(self._max_length_line)
        return plot

    def _build_labels_plot(self) -> pg.PlotWidget:
        plot = plot_widget()
        plot.setBackground("w")
        plot.setTitle("Labels", size=PLOT_TITLE_SIZE)
        self.label_bars = LabelBars(plot)
        return plot

    def _build_lr_plot(self) -> pg.PlotWidget:
        plot = plot_widget(axisItems=step_axes())
        plot.setBackground("w")
        plot.setTitle("Learning rate over the planned steps", size=PLOT_TITLE_SIZE)
        self._lr_curve = plot.plot([], [], pen=pg.mkPen("#2ca02c", width=2))
        return plot

    lengths_plot = property(lambda self: self._lengths.widget())
    labels_plot = property(lambda self: self._labels.widget())
    lr_plot = property(lambda self: self._lr.widget())

    @property
    def max_length_line(self) -> pg.InfiniteLine:
        self._lengths.widget()
        return self._max_length_line

    @property
    def lr_curve(self) -> pg.PlotDataItem:
        self._lr.widget()
        return self._lr_curve

    # -- triggers ----------------------------------------------------------------------------------
    def schedule_update(self, form: Any) -> None:
        """Recompute the plan (and the preview) shortly after the last edit."""
        self._form = form
        self._debounce.start()

    def set_data_file(self, path: str, form: Any) -> None:
        self._form = form
        if path:
            self._data_debounce.start()

    def _valid_spec(self) -> Any:
        """The form's spec if it validates (quietly: no error display while typing)."""
        from workbench.core.errors import WorkbenchError
        from workbench.core.training.spec import TrainSpec

        try:
            return TrainSpec(**self._form.values())
        except (WorkbenchError, TypeError, ValueError):  # the form shows these on Start
            return None

    def _on_data_debounce_timeout(self) -> None:
        path = self._form.editors["train_file"].text().strip() if self._form else ""
        if path:
            self.tasks.start(_list_columns, path, on_success=self.columnsLoaded.emit,
                        on_error=lambda msg, _d: self.data_label.setText(html.escape(msg)))
        self._on_debounce_timeout()

    def _on_debounce_timeout(self) -> None:
        spec = self._valid_spec()
        if spec is None:
            return
        chat = spec.task == "chat-sft"
        self.table_and_plots.setVisible(not chat and self.preview is not None)
        self.chat.setVisible(chat)
        if chat:
            self.chat.show_spec(spec)
        key = (spec.train_file, spec.model_path, spec.text_column, spec.label_column,
               spec.task, spec.max_length)
        if self.preview is None or getattr(self, "_preview_key", None) != key:
            self._preview_key = key
            self.tasks.start(_load_preview, spec, self._tokenizers, on_success=self._on_preview,
                        on_error=self._on_preview_error)
        rows = self.preview.num_rows if self.preview is not None else None
        labels = len(self.preview.label_counts) if self.preview is not None else 2
        self.tasks.start(_plan, spec, rows, labels, on_success=self._on_plan,
                         on_error=lambda m, _d: self.memory_label.setText(html.escape(m)))

    # -- results -----------------------------------------------------------------------------------
    def _on_preview_error(self, message: str, _details: str) -> None:
        self.preview = None
        self.table_and_plots.hide()
        self.data_label.setText(f"<span style='color:#b00020'>{html.escape(message)}</span>")

    def _on_preview(self, preview: Any) -> None:
        first = self.preview is None
        self.preview = preview
        self.table_and_plots.setVisible(not self.chat.isVisibleTo(self))
        warn = "".join(f"<br><span style='color:#b35900'>⚠ {html.escape(w)}</span>"
                       for w in preview.warnings)
        self.data_label.setText(
            f"<b>{preview.num_rows:,} rows</b>, columns: {html.escape(', '.join(preview.columns))}"
            + (f"; {preview.truncated_fraction:.0%} longer than max length"
               if len(preview.token_length_counts) else "") + warn)
        self.rows.setColumnCount(len(preview.columns))
        self.rows.setHorizontalHeaderLabels(preview.columns)
        self.rows.setRowCount(len(preview.rows))
        for r, row in enumerate(preview.rows):
            for c, name in enumerate(preview.columns):
                self.rows.setItem(r, c, QTableWidgetItem(row.get(name, "")))
        self.rows.resizeColumnsToContents()
        self.lengths_plot.clear()
        self.lengths_plot.addItem(self.max_length_line)
        counts, edges = preview.token_length_counts, preview.token_length_edges
        if len(counts):
            self.lengths_plot.addItem(pg.BarGraphItem(
                x0=edges[:-1], x1=edges[1:], height=counts, brush="#1f77b4"))
        if self._form is not None:
            self.max_length_line.setPos(self._form.editors["max_length"].value())
        self._labels.widget()  # builds the plot and its LabelBars
        self.label_bars.set_counts(preview.label_counts or {})
        self.previewLoaded.emit(preview)
        if first:
            self._on_debounce_timeout()  # the step count (and so the LR plot) needs the rows

    def _on_plan(self, plan: dict[str, Any]) -> None:
        self.plan = plan
        lr = plan.get("lr")
        if lr is not None:
            self.lr_curve.setData(np.arange(len(lr)), lr)
            self.lr_plot.setTitle(f"Learning rate over {plan['steps']:,} planned steps",
                                 size=PLOT_TITLE_SIZE)
        self.memory_label.setText(memory_html(plan.get("memory"), plan.get("memory_error", "")))
        self.planned.emit(plan)

    def shutdown(self) -> None:
        self._debounce.stop()
        self._data_debounce.stop()
        self.tasks.cancel_all()
        self.chat.shutdown()


MEMORY_PARTS = (("weights", "Weights"), ("gradients", "Gradients"),
                ("optimizer_states", "Optimizer states"), ("activations", "Activations (rough)"))


def memory_html(plan: Any, error: str = "") -> str:
    """The memory estimate by part, with a warning when it exceeds the device."""
    from workbench.core.units import human_bytes, human_count

    if plan is None:
        return f"<p style='color:#666'>{html.escape(error or 'No memory estimate yet.')}</p>"
    rows = "".join(f"<tr><td style='padding-right:16px'>{label}</td><td align='right'>"
                   f"{human_bytes(getattr(plan, key))}</td></tr>" for key, label in MEMORY_PARTS)
    device = human_bytes(plan.device_bytes) if plan.device_bytes else "unknown"
    rows += (f"<tr><td><b>Total</b></td><td align='right'><b>{human_bytes(plan.total)}</b></td>"
             f"</tr><tr><td>Device has</td><td align='right'>{device}</td></tr>")
    head = (f"<p><b>Memory estimate</b>: {human_count(plan.trainable_parameters)} of "
            f"{human_count(plan.total_parameters)} parameters trainable</p>")
    verdict = ("<p style='color:#2e7d32'>Fits on the device.</p>" if plan.fits else
               "<p style='color:#b00020'><b>⚠ This run probably does not fit on the device."
               "</b></p>")
    warn = "".join(f"<li style='color:#b00020'>{html.escape(w)}</li>" for w in plan.warnings)
    return f"{head}<table>{rows}</table>{verdict}" + (f"<ul>{warn}</ul>" if warn else "")
