"""File > New Model...: pick a family, edit its small config in the generated form, build it."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from workbench.core.errors import WorkbenchError
from workbench.core.model.builder import FAMILIES, family_values
from workbench.qt.common.dialogs import (
    choose_new_folder,
    fit_to_screen,
    show_error,
    window_settings,
)
from workbench.qt.common.tasks import TaskRunner
from workbench.qt.config.editor_panel import ConfigEditorPanel

FAMILY_TITLES = {"bert": "BERT", "gpt2": "GPT-2", "llama": "Llama", "t5": "T5",
                 "mistral": "Mistral", "qwen2": "Qwen2", "bart": "BART"}


def _devices() -> list[str]:
    """Devices torch can build on here (imports torch: run in a worker)."""
    from workbench.core.devices import device_names

    return device_names()


def _build(values, out_dir, seed, device, dtype, tokenizer_from, progress=None, cancel=None):
    from workbench.core.model.builder import build_new_model

    return build_new_model(values, out_dir, seed=seed, device=device, dtype=dtype,
                           tokenizer_from=tokenizer_from, progress=progress, cancel=cancel)


def _demo_tokenizer() -> tuple[str, int] | None:
    """(folder, vocabulary size) of the demo model's tokenizer, when the demo is installed."""
    from workbench.core.model.loading import demo_checkpoint_path

    try:
        folder = demo_checkpoint_path()
    except WorkbenchError:
        return None
    vocab = _vocab_size(str(folder))
    return (str(folder), vocab) if vocab else None


@cache
def _vocab_size(folder: str) -> int | None:
    """The vocabulary size of the (installed, read-only) demo tokenizer: reading its files takes
    ~30 ms, once per process; the start-up prewarm reads it in a worker."""
    from workbench.core.checkpoint.tokenizer_info import read_tokenizer_info

    tok = read_tokenizer_info(Path(folder))
    return tok.vocab_size if tok is not None else None


def prewarm() -> None:
    """Worker side (start-up): fill the caches the dialog reads when it opens."""
    from workbench.core.config.schema import schema_for

    _demo_tokenizer()
    for family in FAMILIES:
        schema_for(family_values(family))  # the config class's fields, cached per class


class NewModelDialog(QDialog):
    """Builds a randomly initialised model (seeded) in a worker, saves it and opens it."""

    built = Signal(object)  # BuildResult

    def __init__(self, window=None):
        super().__init__(window)
        self.window_ = window
        self.setWindowTitle("New Model")
        fit_to_screen(self, 1200, 780)
        self.runner = TaskRunner(self)
        self.result = None
        self._task = None
        self.about_to_show = False  # made, and shown in the next event-loop turn (actions.py)
        self.panel: ConfigEditorPanel | None = None

        self.family = QComboBox()
        for key in FAMILIES:
            self.family.addItem(FAMILY_TITLES.get(key, key), key)
        self.family.currentIndexChanged.connect(self._on_family_currentIndexChanged)
        self.tokenizer = QComboBox()
        self.tokenizer.addItem("None", None)
        for tab in self._open_tabs():
            tok = tab.info.tokenizer
            if tok is not None:
                size = f"{tok.vocab_size:,}" if tok.vocab_size else "?"
                self.tokenizer.addItem(f"{tab.title} ({tok.tokenizer_class or 'tokenizer'}, "
                                       f"{size} tokens)",
                                       (tab.info.root, tok.vocab_size))
        demo = _demo_tokenizer()
        if demo is not None and self.tokenizer.findData(demo) < 0:
            self.tokenizer.addItem(f"Demo model (MiniLM, {demo[1]:,} tokens)", demo)
        self.tokenizer.currentIndexChanged.connect(self._on_tokenizer_currentIndexChanged)
        self.device = QComboBox()
        self.device.addItem("cpu")
        self.dtype = QComboBox()
        self.dtype.addItems(["float32", "bfloat16", "float16"])
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.out = QLineEdit(str(Path.home() / "workbench-models" / "llama-small"))
        browse = QPushButton("Browse...")
        browse.clicked.connect(self._on_browse_clicked)
        out_row = QHBoxLayout()
        out_row.addWidget(self.out, 1)
        out_row.addWidget(browse)
        top = QFormLayout()
        top.addRow("Family", self.family)
        top.addRow("Tokenizer", self.tokenizer)
        options = QHBoxLayout()
        for label, widget in (("Device", self.device), ("DType", self.dtype),
                              ("Seed", self.seed)):
            options.addWidget(QLabel(label))
            options.addWidget(widget)
        options.addStretch()
        top.addRow("Build on", options)
        top.addRow("Save to", out_row)

        self.panel_holder = QVBoxLayout()
        self.status = QLabel()
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.hide()
        self.build_button = QPushButton("Build")
        self.build_button.setDefault(True)
        self.build_button.clicked.connect(self._on_build_button_clicked)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self._on_cancel_button_clicked)
        bottom = QHBoxLayout()
        bottom.addWidget(self.status, 1)
        bottom.addWidget(self.progress)
        bottom.addWidget(self.build_button)
        bottom.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(self.panel_holder, 1)
        layout.addLayout(bottom)
        self.undo_action = QAction("Undo", self)
        self.undo_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Undo))
        self.redo_action = QAction("Redo", self)
        self.redo_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Redo))
        self.undo_action.triggered.connect(lambda: self.panel and self.panel.undo_stack.undo())
        self.redo_action.triggered.connect(lambda: self.panel and self.panel.undo_stack.redo())
        self.addActions([self.undo_action, self.redo_action])
        # Both choices set before the one panel for them is built (a panel per signal was built
        # and thrown away: 40-80 ms of the GUI thread each).
        for combo in (self.family, self.tokenizer):
            combo.blockSignals(True)
        self.family.setCurrentIndex(list(FAMILIES).index("llama"))
        # A fresh model with the demo's tokenizer can be used in Attention at once.
        self.tokenizer.setCurrentIndex(max(self.tokenizer.findData(demo), 0) if demo else 0)
        for combo in (self.family, self.tokenizer):
            combo.blockSignals(False)
        self._on_family_currentIndexChanged()
        self.runner.start(_devices, on_success=self._on_devices_found)

    def _open_tabs(self) -> list[QWidget]:
        tabs = getattr(self.window_, "tabs", None)
        return [tabs.widget(i) for i in range(tabs.count())] if tabs is not None else []

    def _on_devices_found(self, devices: list[str]) -> None:
        for d in devices[1:]:
            self.device.addItem(d)

    def _on_family_currentIndexChanged(self, _index: int = 0) -> None:
        family = self.family.currentData()
        if self.panel is not None:
            self.panel.shutdown()
            self.panel.setParent(None)
            self.panel.deleteLater()
        values = family_values(family)
        vocab = (self.tokenizer.currentData() or (None, None))[1]
        if vocab and "vocab_size" in values:
            values["vocab_size"] = vocab  # a model for this tokenizer reads its whole vocabulary
        self.panel = ConfigEditorPanel(values, self.runner, tokenizer_vocab_size=vocab,
                                       show_diff=False)
        self.panel.stateChanged.connect(self._update_buttons)
        self.panel_holder.addWidget(self.panel)
        current = Path(self.out.text())
        self.out.setText(str(current.parent / f"{family}-small"))
        self._update_buttons()

    def _on_tokenizer_currentIndexChanged(self, _index: int) -> None:
        data = self.tokenizer.currentData()
        vocab = data[1] if data else None
        self.panel.set_tokenizer_vocab_size(vocab)
        if vocab:  # a model for this tokenizer needs at least its vocabulary (undoable)
            self.panel.set_value("vocab_size", vocab)

    def _on_browse_clicked(self) -> None:
        out = choose_new_folder(self, "Folder for the new model", Path(self.out.text()).name,
                                window_settings(self.window_) if self.window_ else None,
                                near=self.out.text())
        if out:
            self.out.setText(out)

    def _update_buttons(self) -> None:
        busy = self._task is not None
        self.build_button.setEnabled(bool(self.panel and self.panel.buildable) and not busy)
        if self.panel is not None and not busy:
            if self.panel.has_errors:
                self.status.setText("Fix the errors shown in red to build.")
            elif self.panel.estimate.num_parameters is not None:
                self.status.setText("Ready to build.")

    def build(self):
        """Build the current config in a worker; on success save, open and close the dialog."""
        data = self.tokenizer.currentData()
        self._task = self.runner.start(
            _build, dict(self.panel.values), self.out.text(), self.seed.value(),
            self.device.currentText(), self.dtype.currentText(), data[0] if data else None,
            on_success=self._on_build_succeeded, on_error=self._on_build_failed,
            on_progress=self.status.setText)
        self._task.finished.connect(self._on_task_finished)
        self.progress.show()
        self._update_buttons()
        return self._task

    def _on_build_button_clicked(self) -> None:
        self.build()

    def _on_build_succeeded(self, result) -> None:
        self.result = result
        self.status.setText(f"Built {result.model_class} in {result.path}")
        self.built.emit(result)
        if hasattr(self.window_, "open_checkpoint"):
            self.window_.open_checkpoint(result.path)
        self.accept()

    def _on_build_failed(self, message: str, details: str) -> None:
        self.status.setText(message)
        show_error(self, "Could not build the model", message, details)

    def _on_task_finished(self) -> None:
        self._task = None
        self.progress.hide()
        self._update_buttons()

    def _on_cancel_button_clicked(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self.status.setText("Cancelled.")
        else:
            self.reject()

    def done(self, result: int) -> None:
        if self.panel is not None:
            self.panel.shutdown()
        self.runner.shutdown()
        super().done(result)
