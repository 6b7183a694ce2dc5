"""Tools > Evaluate: test-file metrics, per-class table, confusion heatmap, worst examples (each
opens the model's Attention tab on its text) and a table comparing several runs' evaluations."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from workbench.qt.common.heatmap import AttentionHeatmap
from workbench.qt.common.requests import NO_WINDOW, requests_for
from workbench.qt.common.splitter_memory import RememberedSplitter
from workbench.qt.deploy import jobs
from workbench.qt.deploy.compare_panel import ComparePanel
from workbench.qt.deploy.task_dialog import PathField, TaskDialog, check, combo, fill_table, spin

TASKS = ["(from the model)", "sequence-classification", "token-classification", "causal-lm",
         "masked-lm", "seq2seq", "chat-sft"]


class EvaluateDialog(TaskDialog):
    """Evaluate a checkpoint, adapter or run on a CSV/JSON/JSONL/Parquet file."""

    def __init__(self, path: str = "", data: str = "", parent=None) -> None:
        super().__init__("Evaluate", "Evaluate", parent)
        self.path_field = PathField(path)
        self.data_field = PathField(data, folder=False,
                                    file_filter="Data (*.csv *.tsv *.json *.jsonl *.txt *.parquet)")
        self.task_box = combo(TASKS)
        self.text_column, self.label_column = QLineEdit(), QLineEdit()
        self.text_column.setPlaceholderText("run's setting, or text")
        self.label_column.setPlaceholderText("run's setting, or label")
        self.batch = spin(16, 1, 4096)
        self.save_box = check("Save evaluation.json beside the run", True)
        for label, widget in (("Model, adapter or run", self.path_field),
                              ("Test file", self.data_field), ("Task", self.task_box),
                              ("Text column", self.text_column),
                              ("Label column", self.label_column), ("Batch size", self.batch),
                              ("", self.save_box)):
            self.form.addRow(label, widget)
        self.metrics_table, self.class_table = QTableWidget(), QTableWidget()
        self.worst_table = QTableWidget()
        self.confusion = AttentionHeatmap()
        self.confusion.hover_template = "expected {row}, predicted {col}: {value}"
        self.confusion.plot.setLabel("left", "expected")
        self.confusion.plot.setLabel("bottom", "predicted")
        self.confusion.clear("Classification results show a confusion matrix here.")
        tabs = QTabWidget()
        top = RememberedSplitter(Qt.Orientation.Horizontal)
        top.addWidget(self.metrics_table)
        top.addWidget(self.class_table)
        tabs.addTab(top, "Metrics")
        tabs.addTab(self.confusion, "Confusion matrix")
        tabs.addTab(self._worst_page(), "Worst examples")
        self.compare = ComparePanel(self.runner)
        tabs.addTab(self.compare, "Compare runs")
        self.tabs = tabs
        self.results.addWidget(tabs)
        self.model_dir = ""  # the weights folder the last evaluation ran (a run's final/)
        # the empty tables below say nothing by themselves
        self.status.setText("Choose a test file (CSV, TSV, JSON, JSONL, text or Parquet) and "
                            "press Evaluate: its metrics, per-class scores, confusion matrix and "
                            "worst examples appear below.")

    def _worst_page(self) -> QWidget:
        table = self.worst_table
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setToolTip("Double-click an example to see the model's attention on its text")
        table.cellDoubleClicked.connect(lambda row, _col: self.inspect_worst(row))
        self.attention_button = QPushButton("Inspect attention on this example")
        self.attention_button.setEnabled(False)
        self.attention_button.clicked.connect(self._on_attention_button_clicked)
        self.attention_note = QLabel("")
        self.attention_note.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.attention_button)
        row.addWidget(self.attention_note, 1)
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(table, 1)
        layout.addLayout(row)
        return page

    def set_inputs(self, path: str, data: str = "") -> None:
        """Point the view at another model (and test file, when given)."""
        self.path_field.setText(path)
        if data:
            self.data_field.setText(data)

    def inspect_worst(self, row: int) -> bool:
        """Ask the main window for the model's Attention tab on the example in table `row`
        (as sorted on screen); False when that cannot be done (said in the note)."""
        item = self.worst_table.item(row, 1)
        if item is None or not self.model_dir:
            return False
        requests = requests_for(self)
        if requests is None:
            self.attention_note.setText(NO_WINDOW)
            return False
        text = item.data(Qt.ItemDataRole.UserRole) or item.text()
        said = self.worst_table.item(row, 3)
        target = (said.data(Qt.ItemDataRole.UserRole) or "") if said is not None else ""
        self.attention_note.setText(
            f"Opening the Attention tab of {self.model_dir}"
            + (" with the model's output as the decoder's text" if target else "") + "...")
        requests.inspectAttention.emit(self.model_dir, text, target)
        return True

    def _on_attention_button_clicked(self) -> None:
        self.inspect_worst(self.worst_table.currentRow())

    def job(self):
        if not self.path_field.text() or not self.data_field.text():
            raise ValueError("Choose the model and the test file.")
        task = self.task_box.currentText()
        return jobs.run_evaluate, {
            "path": self.path_field.text(), "data": self.data_field.text(),
            "save": self.save_box.isChecked(), "batch_size": self.batch.value(),
            "task": None if task.startswith("(") else task,
            "text_column": self.text_column.text().strip() or None,
            "label_column": self.label_column.text().strip() or None}

    def show_result(self, result) -> None:
        report, saved, self.model_dir = result
        fill_table(self.metrics_table, ["metric", "value"],
                   [[k, float(v)] for k, v in report.metrics.items()])
        fill_table(self.class_table, ["label", "precision", "recall", "f1", "support"],
                   [[r["label"], r["precision"], r["recall"], r["f1"], r["support"]]
                    for r in report.per_class])
        if report.confusion is not None:
            self.confusion.set_matrix(report.confusion.astype("float32"), report.labels,
                                      report.labels, title="rows: expected, columns: predicted")
        fill_table(self.worst_table, ["row", "text", "expected", "predicted", "confidence",
                                      "score"],
                   [[w.index, w.text, w.expected, w.predicted, w.confidence, w.score]
                    for w in report.worst])
        for i in range(self.worst_table.rowCount()):  # the whole text, for Attention
            cell = self.worst_table.item(i, 1)
            cell.setData(Qt.ItemDataRole.UserRole, cell.text())
            if report.task == "seq2seq":  # the decoder's text: what the model said (or, when
                said = self.worst_table.item(i, 3)  # it said nothing, the expected text)
                row = int(self.worst_table.item(i, 0).data(Qt.ItemDataRole.DisplayRole))
                example = next(w for w in report.worst if w.index == row)
                said.setData(Qt.ItemDataRole.UserRole, example.predicted or example.expected)
        self.attention_button.setEnabled(bool(report.worst))
        self.attention_note.setText("")
        if saved:
            self.compare.add_path(saved)
        self.status.setText(f"{report.num_examples} examples in {report.seconds:.1f} s"
                            + (f"; saved {saved}" if saved else ""))
