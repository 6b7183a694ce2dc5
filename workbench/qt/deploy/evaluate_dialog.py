"""Tools > Evaluate: test-file metrics, per-class table, confusion heatmap and worst examples."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLineEdit, QSplitter, QTableWidget, QTabWidget

from workbench.qt.common.heatmap import AttentionHeatmap
from workbench.qt.deploy import jobs
from workbench.qt.deploy.task_dialog import PathField, TaskDialog, check, combo, fill_table, spin

TASKS = ["(from the model)", "sequence-classification", "token-classification", "causal-lm",
         "masked-lm", "seq2seq"]


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
        self.confusion.clear("Classification results show a confusion matrix here.")
        tabs = QTabWidget()
        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(self.metrics_table)
        top.addWidget(self.class_table)
        tabs.addTab(top, "Metrics")
        tabs.addTab(self.confusion, "Confusion matrix")
        tabs.addTab(self.worst_table, "Worst examples")
        self.tabs = tabs
        self.results.addWidget(tabs)

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
        report, saved = result
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
        self.status.setText(f"{report.num_examples} examples in {report.seconds:.1f} s"
                            + (f"; saved {saved}" if saved else ""))
