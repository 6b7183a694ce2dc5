"""The fine-tuning setup form, generated from TrainSpec's fields, docs and choices.

Every dataclass field gets an editor from the type table in dataclass_form (the StrEnum choice
fields become combo boxes); a few fields get a richer editor (file pickers, column pickers filled
from the data file, LoRA target modules picked from the model's module names, with the defaults
core.training.lora_targets says training uses). Fields are grouped Task / Data / Method /
Optimisation / Run; a field no group names still gets an editor, under Run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from workbench.core.errors import WorkbenchError
from workbench.qt.common.dataclass_form import (
    FieldEditor,
    FieldValueError,
    ListEditor,
    TextEditor,
    editor_for,
    field_hints,
    field_named_in,
)

GROUPS: dict[str, tuple[str, ...]] = {
    "Task": ("model_path", "task"),
    "Data": ("train_file", "eval_file", "eval_split", "text_column", "text_pair_column",
             "label_column", "target_column", "question_column", "context_column",
             "answers_column", "max_length", "doc_stride", "chat_template", "packing",
             "sample_prompts"),
    "Method": ("method", "lora_r", "lora_alpha", "lora_dropout", "lora_target_modules",
               "freeze_embeddings", "freeze_layers"),
    "Optimisation": ("optimizer", "learning_rate", "weight_decay", "adam_beta1", "adam_beta2",
                     "scheduler", "warmup_ratio", "num_epochs", "max_steps", "batch_size",
                     "grad_accum", "max_grad_norm"),
    "Run": ("seed", "precision", "gradient_checkpointing", "device", "logging_steps",
            "eval_steps", "save_steps", "output_dir", "stop_on_nan"),
    "Launch": ("launch",),
}
# Fields whose lowest value means "not set": shown in words, not as the raw number.
SENTINELS = {"max_steps": (-1, "from epochs"), "eval_steps": (0, "each epoch"),
             "save_steps": (0, "each epoch"), "keep_checkpoints": (0, "all"),
             "freeze_layers": (0, "none")}
ONE_COLUMN_BELOW = 760  # form width (px) under which the groups stack in one column
COLUMN_FIELDS = ("text_column", "text_pair_column", "label_column", "target_column",
                 "question_column", "context_column", "answers_column")
# Fields only some tasks read, beyond their columns (shown only for those tasks).
TASK_FIELDS = {"doc_stride": ("question-answering",), "chat_template": ("chat-sft",),
               "packing": ("chat-sft",), "sample_prompts": ("chat-sft",)}
LORA_FIELDS = ("lora_r", "lora_alpha", "lora_dropout", "lora_target_modules")
DATA_FILTER = "Data files (*.csv *.json *.jsonl *.txt *.parquet);;All files (*)"


class PathEditor(TextEditor):
    """A path in a line edit with a browse button (file or folder)."""

    def __init__(self, name: str, optional: bool = False, folder: bool = False,
                 file_filter: str = DATA_FILTER):
        self.folder, self.file_filter = folder, file_filter
        super().__init__(name, optional)

    def _make(self) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        self.edit = QLineEdit()
        self.edit.setPlaceholderText("None" if self.optional else "")
        button = QToolButton()
        button.setText("...")
        button.setToolTip("Browse")
        button.clicked.connect(self._on_browse_clicked)
        row.addWidget(self.edit, 1)
        row.addWidget(button)
        return box

    def text(self) -> str:
        return self.edit.text()

    def set_text(self, text: str) -> None:
        self.edit.setText(text)

    def on_changed(self, slot) -> None:
        self.edit.textEdited.connect(lambda _t: slot())

    def _on_browse_clicked(self) -> None:
        start = self.edit.text()
        if self.folder:
            path = QFileDialog.getExistingDirectory(self.widget, f"Choose {self.name}", start)
        else:
            path, _ = QFileDialog.getOpenFileName(self.widget, f"Choose {self.name}", start,
                                                  self.file_filter)
        if path:
            self.edit.setText(path)
            self.edit.textEdited.emit(path)


class ComboTextEditor(TextEditor):
    """Text chosen from a list (data columns, devices) but free to type anything."""

    def _make(self) -> QWidget:
        combo = QComboBox()
        combo.setEditable(True)
        combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        if self.optional:
            combo.lineEdit().setPlaceholderText("None")
        return combo

    def text(self) -> str:
        return self.widget.currentText()

    def set_text(self, text: str) -> None:
        self.widget.setEditText(text)

    def on_changed(self, slot) -> None:
        self.widget.editTextChanged.connect(lambda _t: slot())

    def set_items(self, items: Iterable[str]) -> None:
        """Offer `items`, keeping the current text."""
        text = self.widget.currentText()
        self.widget.blockSignals(True)
        self.widget.clear()
        if self.optional:
            self.widget.addItem("")
        self.widget.addItems(list(items))
        self.widget.setEditText(text)
        self.widget.blockSignals(False)


class ModulesEditor(ListEditor):
    """LoRA target modules: comma-separated names, picked from the model's linear layers."""

    def _make(self) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        self.edit = QLineEdit()
        self.edit.setPlaceholderText("default for the architecture")
        self.button = QToolButton()
        self.button.setText("Choose")
        self.button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.menu = QMenu(self.button)
        self.button.setMenu(self.menu)
        row.addWidget(self.edit, 1)
        row.addWidget(self.button)
        self.candidates: list[str] = []
        self.defaults: list[str] = []
        self.default_pattern = ""  # peft's regex default for some model types
        self.menu.aboutToShow.connect(self._on_menu_aboutToShow)
        return box

    def text(self) -> str:
        return self.edit.text()

    def set_text(self, text: str) -> None:
        self.edit.setText(text)

    def on_changed(self, slot) -> None:
        self.edit.textEdited.connect(lambda _t: slot())

    def set_choice(self, choice: Any) -> None:
        """Offer a core LoraChoice: its candidates, and the defaults training uses."""
        self.candidates = list(choice.candidates)
        pattern = isinstance(choice.defaults, str)
        self.default_pattern = choice.defaults if pattern else ""
        self.defaults = [] if pattern else list(choice.defaults)
        if pattern:
            self.edit.setPlaceholderText(f"default: modules matching {choice.defaults}")
        elif self.defaults:
            self.edit.setPlaceholderText(f"default: {', '.join(self.defaults)}")
        else:
            self.edit.setPlaceholderText(choice.error or "default for the architecture")
        self.button.setEnabled(bool(self.candidates))

    def _on_menu_aboutToShow(self) -> None:
        self.menu.clear()
        chosen = set(self.parse(self.edit.text())) or set(self.defaults)
        for name in self.candidates:
            label = f"{name}  (default)" if name in self.defaults else name
            action = QAction(label, self.menu, checkable=True, checked=name in chosen)
            action.toggled.connect(lambda on, n=name: self._on_module_toggled(n, on))
            self.menu.addAction(action)

    def _on_module_toggled(self, name: str, on: bool) -> None:
        chosen = self.parse(self.edit.text()) or list(self.defaults)
        chosen = [n for n in chosen if n != name] + ([name] if on else [])
        order = {n: i for i, n in enumerate(self.candidates)}
        chosen.sort(key=lambda n: order.get(n, len(order)))
        self.edit.setText(", ".join(chosen))
        self.edit.textEdited.emit(self.edit.text())


class TrainForm(QWidget):
    """The TrainSpec form: `spec()` builds and validates it, showing errors next to the field."""

    changed = Signal()  # any edit
    dataFileChanged = Signal(str)  # the train file path, when it changes
    loraChoiceShown = Signal(object)  # the LoraChoice now offered for lora_target_modules

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        from workbench.core.training.spec import TrainSpec, field_docs

        self.spec_class = TrainSpec
        docs = field_docs()
        hints = field_hints(TrainSpec)  # choice fields are StrEnums: their editors are combos
        self.fields = [f.name for f in dataclasses.fields(TrainSpec)]
        self.editors: dict[str, FieldEditor] = {}
        self.lora_task: Any = None
        for name in self.fields:
            self.editors[name] = self._editor(name, hints[name])
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color:#b00020;font-weight:bold")
        self.error_label.hide()

        placed: set[str] = set()
        self.groups: dict[str, QGroupBox] = {}
        self._rows_of: dict[str, QFormLayout] = {}
        left, right = [], []
        for title, names in GROUPS.items():
            extra = [n for n in self.fields if n not in placed and n not in
                     {x for g in GROUPS.values() for x in g}] if title == "Run" else []
            if title == "Launch":
                box = QGroupBox(title)
                QVBoxLayout(box).addWidget(self.editors["launch"].widget)
                self.editors["launch"].widget.setToolTip(docs.get("launch", ""))
                placed.add("launch")
                self.groups[title] = box
                left.append(box)
                continue
            box = QGroupBox(title)
            form = QFormLayout(box)
            for name in [n for n in names if n in self.editors] + extra:
                editor = self.editors[name]
                label = QLabel(name.replace("_", " "))
                tip = docs.get(name, "")
                label.setToolTip(tip)
                editor.widget.setToolTip(tip)
                form.addRow(label, editor.widget)
                placed.add(name)
            self.groups[title] = box
            self._rows_of[title] = form
            (left if title in ("Task", "Data", "Method") else right).append(box)
        self._columns = (left, right)
        self._grid = QGridLayout()
        self._two_columns: bool | None = None
        self._arrange(two_columns=True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.error_label)
        layout.addLayout(self._grid)
        layout.addStretch()

        for f in dataclasses.fields(TrainSpec):  # start from the dataclass defaults
            if f.default is not dataclasses.MISSING:
                self.editors[f.name].set_value(f.default)
            elif f.default_factory is not dataclasses.MISSING:
                self.editors[f.name].set_value(f.default_factory())
        for name, editor in self.editors.items():
            editor.on_changed(lambda n=name: self._on_editor_changed(n))
        self._sync_method()
        self._sync_task()

    def _arrange(self, two_columns: bool) -> None:
        """Groups in two columns, or in one when the form is too narrow for two."""
        if two_columns == self._two_columns:
            return
        self._two_columns = two_columns
        left, right = self._columns
        for box in (*left, *right):
            self._grid.removeWidget(box)
        if two_columns:
            for column, boxes in enumerate((left, right)):
                for row, box in enumerate(boxes):
                    self._grid.addWidget(box, row, column, Qt.AlignmentFlag.AlignTop)
        else:
            for row, box in enumerate((*left, *right)):
                self._grid.addWidget(box, row, 0, Qt.AlignmentFlag.AlignTop)

    def resizeEvent(self, event) -> None:
        # One column below the width two columns need, instead of a horizontal scroll.
        self._arrange(event.size().width() >= ONE_COLUMN_BELOW)
        super().resizeEvent(event)

    def minimumSizeHint(self):
        hint = super().minimumSizeHint()
        one = max(box.minimumSizeHint().width() for box in (*self._columns[0],
                                                                *self._columns[1]))
        hint.setWidth(one + 20)
        return hint

    def _editor(self, name: str, hint: Any) -> FieldEditor:
        if name in ("train_file", "eval_file"):
            return PathEditor(name, optional=name == "eval_file")
        if name == "model_path":
            return PathEditor(name, folder=True)
        if name == "output_dir":
            return PathEditor(name, folder=True)
        if name in COLUMN_FIELDS:
            return ComboTextEditor(name, optional=name in ("text_pair_column", "target_column"))
        if name == "device":
            return ComboTextEditor(name)
        if name == "chat_template":  # empty: the model's own; or a standard one by name
            from workbench.core.training.chat_templates import template_names

            editor = ComboTextEditor(name)
            editor.set_items(["", *template_names()])
            editor.widget.lineEdit().setPlaceholderText("the model's own")
            return editor
        if name == "lora_target_modules":
            return ModulesEditor(name, optional=True)
        if name == "launch":
            from workbench.qt.train.launch_panel import LaunchEditor

            return LaunchEditor(name)
        editor = editor_for(name, hint)
        if name in SENTINELS:
            lowest, words = SENTINELS[name]
            editor.widget.setMinimum(lowest)
            editor.widget.setSpecialValueText(words)
        return editor

    # -- values ----------------------------------------------------------------------------------
    def values(self) -> dict[str, Any]:
        """{field: value} as typed in; raises FieldValueError on unparsable text."""
        return {name: editor.value() for name, editor in self.editors.items()}

    def spec(self) -> Any:
        """The validated TrainSpec, or None after showing the error next to its field."""
        self.clear_error()
        try:
            return self.spec_class(**self.values())
        except FieldValueError as e:
            self.show_error(str(e), e.field)
        except WorkbenchError as e:
            self.show_error(str(e), field_named_in(str(e), self.fields))
        except (TypeError, ValueError) as e:
            self.show_error(f"Invalid setting: {e}", field_named_in(str(e), self.fields))
        return None

    def set_spec(self, spec: Any) -> None:
        """Fill every editor from `spec` (a TrainSpec or a dict of its fields)."""
        data = spec if isinstance(spec, dict) else dataclasses.asdict(spec)
        for name, editor in self.editors.items():
            if name in data:
                editor.set_value(data[name])
        self._sync_method()
        self._sync_task()
        self._sync_eval_split()
        self.clear_error()
        self.changed.emit()
        self.dataFileChanged.emit(str(data.get("train_file") or ""))

    def set_value(self, name: str, value: Any) -> None:
        self.editors[name].set_value(value)
        self._on_editor_changed(name)

    # -- errors ----------------------------------------------------------------------------------
    def show_error(self, message: str, field: str | None = None) -> None:
        self.error_label.setText(message)
        self.error_label.show()
        self.error_field = field
        if field in self.editors:
            widget = self.editors[field].widget
            widget.setStyleSheet("border: 2px solid #b00020;")
            widget.setFocus()

    def clear_error(self) -> None:
        self.error_label.hide()
        self.error_label.clear()
        self.error_field = None
        for editor in self.editors.values():
            editor.widget.setStyleSheet("")

    # -- model- and data-dependent choices -------------------------------------------------------
    def set_columns(self, columns: list[str]) -> None:
        """Offer the data file's columns in the column pickers."""
        for name in COLUMN_FIELDS:
            self.editors[name].set_items(columns)

    def set_devices(self, devices: list[str]) -> None:
        self.editors["device"].set_items(devices)

    def set_module_tree(self, module_tree: Any, model_type: str | None = None,
                        runner: Any = None) -> Any:
        """Offer the model's linear layers as LoRA targets, with the defaults training uses.

        core.training.lora_targets decides (it imports peft, hence torch: so in a worker on
        `runner` when one is given); returns that Task, or None when computed here.
        """
        if module_tree is None:
            return None
        from workbench.core.training.lora_targets import lora_choice, tree_modules

        def choose() -> Any:
            return lora_choice(model_type, tree_modules(module_tree))

        if runner is None:
            self.set_lora_choice(choose())
            return None
        self.lora_task = runner.start(choose, on_success=self.set_lora_choice)
        return self.lora_task

    def set_lora_choice(self, choice: Any) -> None:
        """Show a core LoraChoice in the LoRA target modules editor."""
        self.editors["lora_target_modules"].set_choice(choice)
        self.loraChoiceShown.emit(choice)

    def update_launch_command(self) -> None:
        """Show the launch command of the form's current spec (nothing while it is invalid)."""
        try:
            spec = self.spec_class(**self.values())
        except (WorkbenchError, FieldValueError, TypeError, ValueError):
            spec = None
        self.editors["launch"].show_command_for(spec)

    def _on_editor_changed(self, name: str) -> None:
        if name == "method":
            self._sync_method()
        if name == "task":
            self._sync_task()
        if name == "eval_file":
            self._sync_eval_split()
        if name == "train_file":
            self.dataFileChanged.emit(self.editors[name].text())
        self.changed.emit()

    def _sync_eval_split(self) -> None:
        # The split only applies without an eval file; say so rather than show a live 0.1.
        has_file = bool(self.editors["eval_file"].text().strip())
        self.editors["eval_split"].widget.setEnabled(not has_file)
        self.editors["eval_split"].widget.setToolTip(
            "Not used: the eval file is used for evaluation." if has_file
            else "Fraction of the training rows held out for evaluation.")

    def _sync_task(self) -> None:
        """Show the column pickers (and task-only fields) the chosen task reads, hide others."""
        from workbench.core.training.tasks import TASKS, Task

        task = str(self.editors["task"].value())
        info = TASKS.get(Task(task)) if task in set(Task) else None
        if info is None:
            return
        form = self._rows_of["Data"]
        for name in (*COLUMN_FIELDS, *TASK_FIELDS):
            if name in self.editors:
                form.setRowVisible(self.editors[name].widget,
                                   name in info.columns or task in TASK_FIELDS.get(name, ()))

    def _sync_method(self) -> None:
        lora = self.editors["method"].value() == "lora"
        for name in LORA_FIELDS:
            if name in self.editors:
                self.editors[name].widget.setEnabled(lora)
