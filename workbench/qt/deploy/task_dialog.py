"""A non-modal dialog with a form, Run/Cancel, progress and a result area; work in a worker."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.qt.common.dialogs import fit_to_screen
from workbench.qt.common.tasks import Task, TaskRunner


class PathField(QWidget):
    """A line edit with a Browse button (folder or file)."""

    def __init__(self, text: str = "", folder: bool = True, file_filter: str = "",
                 parent=None) -> None:
        super().__init__(parent)
        self.edit = QLineEdit(text)
        self.folder, self.file_filter = folder, file_filter
        browse = QPushButton("Browse...")
        browse.clicked.connect(self._on_browse_clicked)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit, 1)
        layout.addWidget(browse)

    def text(self) -> str:
        return self.edit.text().strip()

    def setText(self, text: str) -> None:
        self.edit.setText(text)

    def _on_browse_clicked(self) -> None:
        if self.folder:
            chosen = QFileDialog.getExistingDirectory(self, "Choose a folder", self.text())
        else:
            chosen, _ = QFileDialog.getOpenFileName(self, "Choose a file", self.text(),
                                                    self.file_filter)
        if chosen:
            self.edit.setText(chosen)


class TaskDialog(QDialog):
    """A dialog running one job: subclasses fill `form` and `results`, implement `job()`
    (returns fn, kwargs) and `show_result(result)`.

    The job runs through a TaskRunner (its own thread, progress messages, cancel event); closing
    the dialog cancels it and joins the thread.
    """

    finished_work = Signal(object)  # the result, after show_result
    failed_work = Signal(str)

    def __init__(self, title: str, run_label: str = "Run", parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        fit_to_screen(self, 900, 640)
        self.runner = TaskRunner(self)
        self.task: Task | None = None
        self.result: Any = None
        self.form = QFormLayout()
        self.run_button = QPushButton(run_label)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.run_button.clicked.connect(self._on_run_button_clicked)
        self.cancel_button.clicked.connect(self._on_cancel_button_clicked)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.hide()
        self.status = QLabel("")
        self.status.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.progress, 1)
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        self.results = QVBoxLayout()
        layout = QVBoxLayout(self)
        layout.addLayout(self.form)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        layout.addLayout(self.results, 1)

    # -- to implement -----------------------------------------------------------------------------
    def job(self) -> tuple[Callable, dict[str, Any]]:
        raise NotImplementedError

    def show_result(self, result: Any) -> None:
        raise NotImplementedError

    # -- running ----------------------------------------------------------------------------------
    def busy(self) -> bool:
        """Whether the job is running now."""
        return self.task is not None and self.task.running

    def start(self) -> Task | None:
        """Run the job now (what the Run button does)."""
        if self.task is not None and self.task.running:
            return None
        try:
            fn, kwargs = self.job()
        except ValueError as e:
            self.status.setText(str(e))
            return None
        self.status.setText("Starting...")
        self.progress.show()
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.task = self.runner.start(fn, on_success=self._on_task_succeeded,
                                      on_error=self._on_task_failed,
                                      on_progress=self.status.setText, **kwargs)
        self.task.finished.connect(self._on_task_finished)
        return self.task

    def _on_run_button_clicked(self) -> None:
        self.start()

    def _on_cancel_button_clicked(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.status.setText("Cancelled.")

    def _on_task_succeeded(self, result: Any) -> None:
        self.result = result
        self.show_result(result)
        self.finished_work.emit(result)

    def _on_task_failed(self, message: str, details: str) -> None:
        self.status.setText(f"Error: {message}")
        self.status.setToolTip(details)
        self.failed_work.emit(message)

    def _on_task_finished(self) -> None:
        self.progress.hide()
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    def done(self, code: int) -> None:  # closing (Esc, the window's X) stops the work
        self.runner.shutdown()
        super().done(code)

    def closeEvent(self, event) -> None:
        self.runner.shutdown()
        super().closeEvent(event)


def fill_table(table: QTableWidget, headers: list[str], rows: list[list[Any]],
               tips: dict[tuple[int, int], str] | None = None) -> None:
    """Fill a sortable table; numbers sort as numbers. `tips`: {(row, column): tooltip}, by
    the rows' order here (the table may sort them differently)."""
    table.setSortingEnabled(False)
    table.clear()
    table.setColumnCount(len(headers))
    table.setHorizontalHeaderLabels(headers)
    table.setRowCount(len(rows))
    for i, row in enumerate(rows):
        for j, value in enumerate(row):
            item = QTableWidgetItem()
            if isinstance(value, float):
                item.setData(0, value)
                item.setText(f"{value:.4g}")
            elif isinstance(value, int):
                item.setData(0, value)
            else:
                item.setText("" if value is None else str(value))
            if tips and (i, j) in tips:
                item.setToolTip(tips[(i, j)])
            table.setItem(i, j, item)
    table.setSortingEnabled(True)
    table.resizeColumnsToContents()


def combo(options: list[str], current: str | None = None) -> QComboBox:
    box = QComboBox()
    box.addItems(options)
    if current is not None:
        box.setCurrentText(current)
    return box


def spin(value: int, lo: int, hi: int) -> QSpinBox:
    box = QSpinBox()
    box.setRange(lo, hi)
    box.setValue(value)
    return box


def check(text: str, on: bool = False) -> QCheckBox:
    box = QCheckBox(text)
    box.setChecked(on)
    return box
