"""The "Launch" part of the Fine-tune form: in this window, or as processes on GPUs/machines.

Generated from LaunchSpec's fields like the rest of the form, plus the exact command it will
run (copyable, so the same run can be started by hand on each node) and "Save launch script".
"""

from __future__ import annotations

import dataclasses
import shlex
from typing import Any

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from workbench.core.errors import WorkbenchError
from workbench.core.training.launch import (
    LaunchSpec,
    launch_command,
    launch_script,
    strategies_available,
)
from workbench.qt.common.dataclass_form import FieldEditor, editor_for, field_hints

PROCESS_FIELDS = tuple(f.name for f in dataclasses.fields(LaunchSpec) if f.name != "mode")


class LaunchEditor(FieldEditor):
    """Edits a LaunchSpec; shows the launch command for the current spec."""

    def _make(self) -> QWidget:
        hints = field_hints(LaunchSpec)
        docs = _launch_docs()
        self.parts: dict[str, FieldEditor] = {}
        box = QWidget()
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        for f in dataclasses.fields(LaunchSpec):
            options = strategies_available() if f.name == "strategy" else None
            editor = editor_for(f.name, hints[f.name], options)
            editor.set_value(f.default)
            label = QLabel(f.name.replace("_", " "))
            label.setToolTip(docs.get(f.name, ""))
            editor.widget.setToolTip(docs.get(f.name, ""))
            form.addRow(label, editor.widget)
            self.parts[f.name] = editor
        self.command = QPlainTextEdit()
        self.command.setReadOnly(True)
        self.command.setMaximumHeight(70)
        self.command.setPlaceholderText("The command appears here once the form is valid.")
        self.copy_button = QPushButton("Copy command")
        self.copy_button.clicked.connect(self._on_copy_button_clicked)
        self.script_button = QPushButton("Save launch script...")
        self.script_button.clicked.connect(self._on_script_button_clicked)
        buttons = QHBoxLayout()
        buttons.addWidget(self.copy_button)
        buttons.addWidget(self.script_button)
        buttons.addStretch()
        self.process_box = QWidget()
        process_layout = QVBoxLayout(self.process_box)
        process_layout.setContentsMargins(0, 0, 0, 0)
        process_layout.addWidget(QLabel("Command (run it on each machine, with its rank):"))
        process_layout.addWidget(self.command)
        process_layout.addLayout(buttons)
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(form)
        layout.addWidget(self.process_box)
        self._train_spec: Any = None
        self.parts["mode"].on_changed(self._sync_mode)
        self._sync_mode()
        return box

    def value(self) -> LaunchSpec:
        values = {name: editor.value() for name, editor in self.parts.items()}
        try:
            return LaunchSpec(**values)
        except TypeError as e:
            raise WorkbenchError(f"launch: {e}") from None

    def set_value(self, value: Any) -> None:
        data = dataclasses.asdict(value) if isinstance(value, LaunchSpec) else dict(value or {})
        for name, editor in self.parts.items():
            if name in data:
                editor.set_value(data[name])
        self._sync_mode()

    def on_changed(self, slot) -> None:
        for editor in self.parts.values():
            editor.on_changed(slot)

    # -- the command -------------------------------------------------------------------------
    def show_command_for(self, train_spec: Any) -> None:
        """Show the command `train_spec` would run (None: the form is not valid yet)."""
        self._train_spec = train_spec
        if train_spec is None or train_spec.launch.mode != "processes":
            self.command.setPlainText("")
            return
        argv = launch_command(train_spec, train_spec.launch, "<run folder>/launch-spec.json",
                              python="python")
        self.command.setPlainText(shlex.join(argv))

    def _sync_mode(self) -> None:
        processes = self.parts["mode"].value() == "processes"
        for name in PROCESS_FIELDS:
            self.parts[name].widget.setEnabled(processes)
        self.process_box.setVisible(processes)

    def _on_copy_button_clicked(self) -> None:
        QGuiApplication.clipboard().setText(self.command.toPlainText())

    def _on_script_button_clicked(self) -> None:
        spec = self._train_spec
        if spec is None:
            return
        path, _ = QFileDialog.getSaveFileName(self.widget, "Save launch script", "launch.sh",
                                              "Shell scripts (*.sh)")
        if not path:
            return
        from workbench.core.atomic import atomic_write_text

        atomic_write_text(path, launch_script(spec, spec.launch, "launch-spec.json"))


def prewarm() -> None:
    """Worker side (start-up, qt/common/prewarm.py): parse LaunchSpec's docs (~20 ms), cached."""
    _launch_docs()


def _launch_docs() -> dict[str, str]:
    """LaunchSpec's attribute docstrings (the same parser as TrainSpec's tooltips)."""
    from workbench.core.training.spec import attribute_docs

    return attribute_docs(LaunchSpec)
