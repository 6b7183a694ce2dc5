"""The "Edit config" view of a checkpoint: the generated form, Save/Save As/Export, and rebuilds."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from workbench.core.errors import WorkbenchError
from workbench.qt.common.dialogs import choose_new_folder, show_error, window_settings
from workbench.qt.config.actions import install_config_actions, open_new_model_dialog
from workbench.qt.config.editor_panel import ConfigEditorPanel

__all__ = ["ConfigEditorView", "install_config_actions", "open_new_model_dialog"]


def _build_from_weights(values, source, out_dir, progress=None, cancel=None):
    from workbench.core.model.builder import build_from_weights

    return build_from_weights(values, source, out_dir, progress=progress, cancel=cancel)


def _save_as(values, source, out_dir):
    from workbench.core.model.builder import save_config_as

    return save_config_as(values, source, out_dir)


class ConfigEditorView(QWidget):
    """Edit the checkpoint's config.json in a validated form with a live size estimate."""

    saved = Signal(str)  # path written
    built = Signal(object)  # BuildResult of "Build from checkpoint weights"

    def __init__(self, tab, parent=None):
        super().__init__(parent)
        self.tab, self.info, self.runner = tab, tab.info, tab.runner
        self.panel: ConfigEditorPanel | None = None
        self.report_dialog = None
        self._build_task = None
        layout = QVBoxLayout(self)
        if self.info.config is None or self.info.adapter is not None:
            empty = QLabel("This checkpoint has no model config.json to edit. Use File > New "
                           "Model... to start one from a family.")
            empty.setWordWrap(True)
            layout.addWidget(empty)
            layout.addStretch()
            return
        tok = self.info.tokenizer
        self.panel = ConfigEditorPanel(
            self.info.config, self.runner, stored=self.info.tensors,
            tokenizer_vocab_size=tok.vocab_size if tok else None,
            # The original model's parameters (the meta model of the stored config), not the
            # stored element count: buffers such as position_ids are stored but not parameters.
            original_parameters=(self.info.module_tree.num_parameters
                                 if self.info.module_tree is not None else None))
        stack = self.panel.undo_stack
        self.toolbar = QToolBar()
        self.undo_action = stack.createUndoAction(self, "Undo")
        self.redo_action = stack.createRedoAction(self, "Redo")
        self.toolbar.addAction(self.undo_action)
        self.toolbar.addAction(self.redo_action)
        self.toolbar.addSeparator()
        self.save_action = self._tool("Save", self.save, "Write config.json in place (the "
                                      "original is kept as config.json.bak)")
        self.save_as_action = self._tool("Save As...", self._on_save_as_triggered,
                                         "Write the edited config to a new folder")
        self.export_action = self._tool("Export JSON...", self._on_export_triggered,
                                        "Write the edited config to a .json file")
        self.toolbar.addSeparator()
        self.build_action = self._tool("Build from checkpoint weights...",
                                       self._on_build_triggered,
                                       "Build the edited model and load every stored weight "
                                       "whose name and shape still fit")
        self.status = QLabel()
        self.status.setStyleSheet("color:#555")
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setMaximumWidth(140)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self._on_cancel_button_clicked)
        bottom = QHBoxLayout()
        bottom.addWidget(self.status, 1)
        bottom.addWidget(self.progress)
        bottom.addWidget(self.cancel_button)
        self._show_busy(False)
        layout.addWidget(self.toolbar)
        layout.addWidget(self.panel, 1)
        layout.addLayout(bottom)
        self.panel.stateChanged.connect(self._update_actions)
        self._update_actions()
        group = getattr(tab.window(), "config_undo_group", None)
        if group is not None:
            group.addStack(stack)

    def _tool(self, text: str, slot, tip: str) -> QAction:
        action = QAction(text, self)
        action.setToolTip(tip)
        action.triggered.connect(slot)
        self.toolbar.addAction(action)
        return action

    def _update_actions(self) -> None:
        p = self.panel
        busy = self._build_task is not None
        self.save_action.setEnabled(p.ready and p.is_changed and not busy)
        self.save_as_action.setEnabled(p.ready and not busy)
        self.export_action.setEnabled(p.ready)
        self.build_action.setEnabled(p.buildable and self.info.has_weights and not busy)
        if p.has_errors:
            self.status.setText("Fix the errors shown in red to save or build.")
        elif not p.ready:
            self.status.setText("Checking with transformers...")
        elif not busy:
            self.status.setText(f"{len(p.analysis.changes)} field(s) changed." if p.is_changed
                                else "No changes.")

    # -- undo group: Edit > Undo follows the visible editor ----------------------------------------
    def showEvent(self, event) -> None:
        group = getattr(self.window(), "config_undo_group", None)
        if self.panel is not None and group is not None:
            if self.panel.undo_stack not in group.stacks():
                group.addStack(self.panel.undo_stack)
            group.setActiveStack(self.panel.undo_stack)
        super().showEvent(event)

    def hideEvent(self, event) -> None:
        group = getattr(self.window(), "config_undo_group", None)
        if self.panel is not None and group is not None \
                and group.activeStack() is self.panel.undo_stack:
            group.setActiveStack(None)
        super().hideEvent(event)

    # -- saving -----------------------------------------------------------------------------------
    def save(self) -> str | None:
        """Write config.json in place, atomically, keeping the first original as a backup."""
        from workbench.core.model.builder import save_config

        try:
            result = save_config(self.panel.values, self.info.root)
        except (OSError, WorkbenchError) as e:
            show_error(self, "Could not save config.json", str(e))
            return None
        self.panel.mark_saved()
        self.status.setText(f"Saved {result.path} (original kept as {Path(result.backup).name})"
                            if result.backup else f"Saved {result.path}")
        self.saved.emit(result.path)
        return result.path

    def _on_save_as_triggered(self) -> None:
        out = choose_new_folder(self, "Save the edited model",
                                f"{Path(self.info.root).name}-edited", window_settings(self),
                                near=self.info.root)
        if out:
            self.save_as(out)

    def save_as(self, out_dir: str):
        """Write a new folder (config, tokenizer, weights if they still fit) and open it."""
        return self._run(_save_as, dict(self.panel.values), self.info.root, out_dir,
                         on_success=self._on_save_as_succeeded)

    def _on_save_as_succeeded(self, saved) -> None:
        self.status.setText(f"Saved {Path(saved.path).parent}"
                            + (" with the weights" if saved.weights_copied else
                               " without weights (they no longer fit: use Build from "
                               "checkpoint weights)"))
        self.saved.emit(saved.path)
        self._open(str(Path(saved.path).parent))

    def _on_export_triggered(self) -> None:
        out, _ = QFileDialog.getSaveFileName(self, "Export config JSON",
                                             f"{self.info.root}/config-edited.json",
                                             "JSON (*.json)")
        if out:
            self.export(out)

    def export(self, path: str) -> str:
        from workbench.core.model.builder import export_json

        written = export_json(self.panel.values, path)
        self.status.setText(f"Exported {written}")
        return written

    # -- building ---------------------------------------------------------------------------------
    def _on_build_triggered(self) -> None:
        out = choose_new_folder(self, "Folder for the rebuilt model",
                                f"{Path(self.info.root).name}-rebuilt", window_settings(self),
                                near=self.info.root)
        if out:
            self.build_from_weights(out)

    def build_from_weights(self, out_dir: str):
        """Build the edited model in a worker, load fitting weights, save, report and open."""
        return self._run(_build_from_weights, dict(self.panel.values), self.info.root, out_dir,
                         on_success=self._on_build_succeeded)

    def _on_build_succeeded(self, result) -> None:
        from workbench.qt.config.build_report_dialog import BuildReportDialog

        self.report_dialog = BuildReportDialog(result, self)
        self.report_dialog.show()
        self.status.setText(f"Built {result.model_class} in {result.path}")
        self.built.emit(result)
        self._open(result.path)

    def _run(self, fn, *args, on_success):
        self._build_task = self.runner.start(
            fn, *args, on_success=on_success, on_error=self._on_task_failed,
            on_progress=self.status.setText)
        self._build_task.finished.connect(self._on_task_finished)
        self._show_busy(True)
        self._update_actions()
        return self._build_task

    def _on_task_failed(self, message: str, details: str) -> None:
        self.status.setText(message)
        show_error(self, "Could not write the model", message, details)

    def _on_task_finished(self) -> None:
        self._build_task = None
        self._show_busy(False)
        self._update_actions()

    def _on_cancel_button_clicked(self) -> None:
        if self._build_task is not None:
            self._build_task.cancel()
            self.status.setText("Cancelling...")

    def _show_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)

    def _open(self, path: str) -> None:
        window = self.window()
        if hasattr(window, "open_checkpoint"):
            window.open_checkpoint(path)

    def shutdown(self) -> None:
        if self.panel is not None:
            self.panel.shutdown()
        if self._build_task is not None:
            self._build_task.cancel()
        if self.report_dialog is not None:
            self.report_dialog.close()
