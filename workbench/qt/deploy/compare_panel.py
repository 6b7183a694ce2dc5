"""The Evaluate view's "Compare runs" tab: several evaluations in one table of metrics.

The table is core's `compare_reports` (the one `workbench evaluate --compare` prints): a row per
evaluation.json (or run folder holding one), a column per metric they all have.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPushButton,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)

from workbench.qt.common.splitter_memory import RememberedSplitter
from workbench.qt.common.tasks import TaskRunner
from workbench.qt.deploy.task_dialog import fill_table


def _compare(paths: list[str]) -> dict[str, Any]:
    """Worker: read the reports and build the table."""
    from workbench.core.evaluate.report import compare_reports

    return compare_reports(paths)


class ComparePanel(QWidget):
    """A list of evaluations to compare and the table of their metrics."""

    compared = Signal(object)  # compare_reports' dict, once the table shows it
    failed = Signal(str)

    def __init__(self, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self.data: dict[str, Any] | None = None
        self.paths = QListWidget()
        self.paths.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        self.paths.setToolTip("Run folders or evaluation.json files; each becomes a row")
        add_run = QPushButton("Add run folder...")
        add_run.clicked.connect(self._on_add_run_clicked)
        add_file = QPushButton("Add evaluation.json...")
        add_file.clicked.connect(self._on_add_file_clicked)
        remove = QPushButton("Remove")
        remove.clicked.connect(self._on_remove_clicked)
        self.compare_button = QPushButton("Compare")
        self.compare_button.clicked.connect(self.compare)
        self.table = QTableWidget()
        self.status = QLabel("Add two or more evaluations (a run folder evaluated here, or its "
                             "evaluation.json), then Compare.")
        self.status.setWordWrap(True)
        buttons = QHBoxLayout()
        for b in (add_run, add_file, remove):
            buttons.addWidget(b)
        buttons.addStretch()
        buttons.addWidget(self.compare_button)
        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.paths)
        top_layout.addLayout(buttons)
        splitter = RememberedSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(top)
        splitter.addWidget(self.table)
        splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.status)

    def add_path(self, path: str) -> None:
        """Add a run folder or evaluation.json (once)."""
        path = str(Path(path).expanduser())
        if path and path not in self.path_list():
            self.paths.addItem(path)

    def path_list(self) -> list[str]:
        return [self.paths.item(i).text() for i in range(self.paths.count())]

    def compare(self):
        """Build the table in a worker; returns the Task (or None with nothing to compare)."""
        paths = self.path_list()
        if not paths:
            self.status.setText("Add the evaluations to compare first.")
            return None
        self.compare_button.setEnabled(False)
        self.status.setText("Reading the evaluations...")
        task = self.runner.start(_compare, paths, on_success=self._on_compared,
                                 on_error=self._on_compare_failed)
        task.finished.connect(lambda: self.compare_button.setEnabled(True))
        return task

    def _on_compared(self, data: dict[str, Any]) -> None:
        self.data = data
        columns = data["columns"]
        fill_table(self.table, ["evaluation", "model", "data", "examples", *columns],
                   [[_short(row["path"]), row["model_path"], Path(row["data_file"]).name,
                     row["num_examples"], *(row[c] for c in columns)] for row in data["rows"]],
                   tips={key: value for i, row in enumerate(data["rows"])
                         for key, value in (((i, 0), row["path"]), ((i, 2), row["data_file"]))})
        warning = "" if data["same_data"] else (" Warning: these were evaluated on different "
                                                "data files, so their figures do not compare.")
        self.status.setText(f"{len(data['rows'])} evaluations of {data['task']}, "
                            f"{len(columns)} metrics in common.{warning}")
        self.compared.emit(data)

    def _on_compare_failed(self, message: str, _details: str) -> None:
        self.status.setText(f"Error: {message}")
        self.failed.emit(message)

    def _on_add_run_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose an evaluated run folder")
        if folder:
            self.add_path(folder)

    def _on_add_file_clicked(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Choose evaluation reports", "",
                                                "Evaluation (*.json)")
        for f in files:
            self.add_path(f)

    def _on_remove_clicked(self) -> None:
        for item in self.paths.selectedItems():
            self.paths.takeItem(self.paths.row(item))


def _short(path: str) -> str:
    """A run folder's name, or folder/evaluation.json's folder name."""
    p = Path(path)
    return p.parent.name if p.name.endswith(".json") else p.name
