"""File > Export: a verified HF folder or ONNX model; the verification report is shown."""

from __future__ import annotations

import json

from PySide6.QtWidgets import QLineEdit, QPlainTextEdit

from workbench.qt.deploy import jobs
from workbench.qt.deploy.task_dialog import PathField, TaskDialog, check, combo


class ExportDialog(TaskDialog):
    """Choose the source, the new folder, format, dtype, LoRA merge and shard size."""

    def __init__(self, path: str = "", out: str = "", parent=None) -> None:
        super().__init__("Export", "Export", parent)
        self.path_field, self.out_field = PathField(path), PathField(out)
        self.format_box = combo(["hf", "onnx"])
        self.dtype_box = combo(["fp32", "fp16", "bf16"])
        self.exporter_box = combo(["auto", "dynamo", "torchscript"])
        self.exporter_box.setToolTip("torch.onnx exporter; auto: dynamo, then TorchScript when "
                                     "dynamo cannot export the model")
        self.format_box.currentTextChanged.connect(self._on_format_box_changed)
        self._on_format_box_changed(self.format_box.currentText())
        self.merge_box = check("Merge a LoRA adapter into its base")
        self.shard = QLineEdit()
        self.shard.setPlaceholderText("e.g. 2GB (empty: one file)")
        for label, widget in (("Model, adapter or run", self.path_field),
                              ("New folder", self.out_field), ("Format", self.format_box),
                              ("Dtype", self.dtype_box), ("ONNX exporter", self.exporter_box),
                              ("", self.merge_box),
                              ("Max shard size", self.shard)):
            self.form.addRow(label, widget)
        self.report = QPlainTextEdit()
        self.report.setReadOnly(True)
        self.report.setPlaceholderText(
            "Choose a new folder and press Export. The export is loaded back and checked against "
            "the source model (logits on probe inputs, and a generation for encoder-decoders); "
            "its report appears here and is saved beside the export.")
        self.results.addWidget(self.report)

    def job(self):
        if not self.path_field.text() or not self.out_field.text():
            raise ValueError("Choose the model and a new folder for the export.")
        return jobs.run_export, {
            "path": self.path_field.text(), "out": self.out_field.text(),
            "fmt": self.format_box.currentText(), "dtype": self.dtype_box.currentText(),
            "merge": self.merge_box.isChecked(), "max_shard_size": self.shard.text() or None,
            "onnx_exporter": self.exporter_box.currentText()
            if self.format_box.currentText() == "onnx" else "auto"}

    def _on_format_box_changed(self, fmt: str) -> None:
        self.exporter_box.setEnabled(fmt == "onnx")  # only ONNX has an exporter to choose

    def show_result(self, report: dict) -> None:
        self.report.setPlainText(json.dumps(report, indent=2))
        if report["passed"]:
            self.status.setText(f"Exported and verified: {report['out']}")
        else:
            self.status.setText(f"Export FAILED its checks; left in {report['out']} "
                                f"(see export_report.json).")
