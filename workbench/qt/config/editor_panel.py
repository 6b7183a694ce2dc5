"""The config editing core of the GUI: form + undo stack + live validation, estimate and diff."""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack
from PySide6.QtWidgets import (
    QGroupBox,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from workbench.core.config.rules import ValidationResult, validate
from workbench.core.config.schema import (
    effective_values,
    jsonable,
    schema_for,
    to_json_text,
    with_edit,
)
from workbench.qt.common.splitter_memory import RememberedSplitter
from workbench.qt.common.tasks import Task, TaskRunner
from workbench.qt.config.form import ConfigForm
from workbench.qt.config.panels import DiffPanel, EstimatePanel


class EditCommand(QUndoCommand):
    """One field edit: swaps the whole (small) config dict, so undo is exact."""

    MERGE_SECONDS = 1.0  # spin-box arrow clicks on one field within a second undo together

    def __init__(self, panel: ConfigEditorPanel, before: dict, after: dict, text: str,
                 field: str = ""):
        super().__init__(text)
        self.panel, self.before, self.after, self.field = panel, before, after, field
        self.time = time.monotonic()

    def id(self) -> int:
        return 1

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, EditCommand) or other.field != self.field \
                or other.time - self.time > self.MERGE_SECONDS:
            return False
        self.after, self.time = other.after, other.time
        self.setText(other.text())
        return True

    def redo(self) -> None:
        self.panel.apply_values(self.after)

    def undo(self) -> None:
        self.panel.apply_values(self.before)


def _analyze(values, schema, original, stored, tokenizer_vocab_size):
    """Worker side: imports torch/transformers lazily, off the GUI thread."""
    from workbench.core.model.builder import analyze

    return analyze(values, schema, original=original, stored=stored,
                   tokenizer_vocab_size=tokenizer_vocab_size)


class ConfigEditorPanel(QWidget):
    """Edits a config dict; every edit is validated at once and estimated in a worker."""

    analysisUpdated = Signal(object)  # ConfigAnalysis for the current values
    stateChanged = Signal()  # errors, readiness or changes moved: refresh buttons

    def __init__(self, values: dict[str, Any], runner: TaskRunner, *,
                 original: dict[str, Any] | None = None, stored: tuple = (),
                 tokenizer_vocab_size: int | None = None,
                 original_parameters: int | None = None, show_diff: bool = True, parent=None):
        super().__init__(parent)
        self.runner = runner
        self.schema = schema_for(values)
        self.values = dict(values)
        self.original = dict(original if original is not None else values)
        self.stored = tuple(stored)
        self.tokenizer_vocab_size = tokenizer_vocab_size
        self.original_parameters = original_parameters
        self.fast: ValidationResult = ValidationResult()
        self.analysis = None
        self.last_latency_ms: float | None = None
        self._generation = 0
        self._analysed_generation = -1
        self._edit_time = 0.0
        self._task: Task | None = None
        self._pending = False
        self._closed = False
        self.undo_stack = QUndoStack(self)

        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter fields (name or description)...")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self._on_filter_textChanged)
        self.form = ConfigForm(self.schema)
        self.form.edited.connect(self._on_form_edited)
        self.form.parseErrorsChanged.connect(self.stateChanged)
        self.estimate = EstimatePanel()
        self.diff = DiffPanel()

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.filter)
        left_layout.addWidget(self.form)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        for title, widget, stretch in (("Live estimate", self.estimate, 0),
                                       ("Changes versus the original", self.diff, 1)):
            box = QGroupBox(title)
            QVBoxLayout(box).addWidget(widget)
            right_layout.addWidget(box, stretch)
        self.diff_box = box
        if not show_diff:  # a new model has no original: an empty diff would take half the room
            box.hide()
            right_layout.addStretch(1)
        # explicit minimums: the estimate's text must not push the splitter into the form
        left.setMinimumWidth(300)
        right.setMinimumWidth(220)
        self.splitter = splitter = RememberedSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([760, 520])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)
        self.apply_values(self.values)

    # -- editing -----------------------------------------------------------------------------------
    def set_value(self, name: str, value: Any) -> None:
        """Edit one field as the user would (undoable)."""
        self._on_form_edited(name, value)

    def _on_form_edited(self, name: str, value: Any) -> None:
        shown = effective_values(self.values, self.schema)
        if name in shown and to_json_text(shown[name]) == to_json_text(value):
            return
        after = with_edit(self.values, name, value)
        text = to_json_text(value)
        self.undo_stack.push(EditCommand(self, dict(self.values), after,
                                         f"Set {name} to {text[:30]}", name))

    def apply_values(self, values: dict[str, Any]) -> None:
        """Show `values` (used by undo/redo too) and re-check them."""
        self.values = dict(values)
        self.form.set_values(effective_values(self.values, self.schema),
                             effective_values(self.original, self.schema))
        self._revalidate()

    def _on_filter_textChanged(self, text: str) -> None:
        self.form.set_filter(text)

    def set_tokenizer_vocab_size(self, size: int | None) -> None:
        """Check against another tokenizer's vocabulary (or none)."""
        self.tokenizer_vocab_size = size
        self._revalidate()

    def mark_saved(self) -> None:
        """The current values are the new original (after Save)."""
        self.original = dict(self.values)
        self.undo_stack.setClean()
        self.apply_values(self.values)

    # -- checking ----------------------------------------------------------------------------------
    def _revalidate(self) -> None:
        from workbench.core.model.builder import changed_fields

        self._generation += 1
        self._edit_time = time.perf_counter()
        self.fast = validate(self.values, self.schema,
                             tokenizer_vocab_size=self.tokenizer_vocab_size)
        self.form.set_issues(self.fast)
        self.estimate.show_config_issues([i for i in self.fast.issues if i.field is None])
        if self.fast.ok:
            self.estimate.show_busy()
            self._request_analysis()
        else:  # the model cannot be built: no estimate, but the changes are known
            self.analysis = None
            self.estimate.show_estimate(None, None, 0)
            self.diff.show_diff(changed_fields(self.original, self.values, self.schema), None,
                                bool(self.stored))
        self.stateChanged.emit()

    def _request_analysis(self) -> None:
        if self._task is not None and self._task.running:
            self._pending = True  # coalesce: one analysis at a time, the latest values next
            return
        self._start_analysis()

    def _start_analysis(self) -> None:
        generation = self._generation
        self._task = self.runner.start(
            _analyze, dict(self.values), self.schema, dict(self.original), self.stored,
            self.tokenizer_vocab_size,
            on_success=lambda a, g=generation: self._on_analysis_succeeded(g, a),
            on_error=lambda msg, _details, g=generation: self._on_analysis_failed(g, msg))
        self._task.finished.connect(self._on_task_finished)

    def _on_task_finished(self) -> None:
        self._task = None
        if self._pending and not self._closed:
            self._pending = False
            if self.fast.ok:
                self._start_analysis()

    def _on_analysis_succeeded(self, generation: int, analysis) -> None:
        if generation != self._generation or self._closed:
            return  # a newer edit is on its way
        self.analysis = analysis
        self._analysed_generation = generation
        self.last_latency_ms = (time.perf_counter() - self._edit_time) * 1000
        if not analysis.changes and analysis.estimate is not None:
            # Unedited: this is the original model's size, whatever was passed in.
            self.original_parameters = analysis.estimate.num_parameters
        self.form.set_issues(analysis.validation)
        outside = [i for i in analysis.validation.issues
                   if i.field is None or i.field not in self.form.rows]
        self.estimate.show_config_issues(outside)
        self.estimate.show_estimate(analysis.estimate, self.original_parameters,
                                    self.last_latency_ms)
        self.diff.show_diff(analysis.changes, analysis.comparison, bool(self.stored))
        self.stateChanged.emit()
        self.analysisUpdated.emit(analysis)

    def _on_analysis_failed(self, generation: int, message: str) -> None:
        if generation != self._generation or self._closed:
            return
        self.estimate.label.setText(f"Estimate failed: {message}")
        self.stateChanged.emit()

    # -- state for buttons -------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        """The latest values were fully checked (by transformers too) and have no errors."""
        return (self.fast.ok and not self.form.parse_errors and self.analysis is not None
                and self._analysed_generation == self._generation
                and self.analysis.validation.ok)

    @property
    def has_errors(self) -> bool:
        return bool(self.form.parse_errors) or not self.fast.ok or (
            self.analysis is not None and self._analysed_generation == self._generation
            and not self.analysis.validation.ok)

    @property
    def buildable(self) -> bool:
        return self.ready and self.analysis.estimate is not None

    @property
    def is_changed(self) -> bool:
        return jsonable(self.values) != jsonable(self.original)

    def shutdown(self) -> None:
        """Stop listening to the worker (its result is dropped)."""
        self._closed = True
        self._pending = False
        if self._task is not None:
            self._task.cancel()
