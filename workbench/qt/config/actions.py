"""Menu actions of the config editor (kept light: the window is built before the editor's
modules are imported; they import in the start-up prewarm worker or on first use)."""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence, QUndoGroup


def install_config_actions(window) -> None:
    """Edit > Undo/Redo for the visible config editor, and File > New Model..."""
    group = QUndoGroup(window)
    window.config_undo_group = group
    undo = group.createUndoAction(window, "&Undo")
    undo.setShortcut(QKeySequence(QKeySequence.StandardKey.Undo))
    redo = group.createRedoAction(window, "&Redo")
    redo.setShortcut(QKeySequence(QKeySequence.StandardKey.Redo))
    edit = window.menus["Edit"]
    first = edit.actions()[0] if edit.actions() else None
    edit.insertActions(first, [undo, redo])
    edit.insertSeparator(first) if first else edit.addSeparator()
    window.config_undo_action, window.config_redo_action = undo, redo

    new_model = QAction("New &Model...", window)
    new_model.setShortcut(QKeySequence(QKeySequence.StandardKey.New))
    new_model.triggered.connect(lambda: open_new_model_dialog(window))
    window.menus["File"].insertAction(window.feature_actions_anchor, new_model)
    window.new_model_action = new_model


def open_new_model_dialog(window):
    """Show (or raise) the window's New Model dialog."""
    from PySide6.QtCore import QTimer

    from workbench.qt.config.new_model_dialog import NewModelDialog

    dialog = getattr(window, "new_model_dialog", None)
    if dialog is not None and (dialog.isVisible() or dialog.about_to_show):
        dialog.raise_()
        return dialog
    dialog = NewModelDialog(window)
    window.new_model_dialog = dialog
    # Made in this turn of the event loop, shown in the next: both in one turn stalled the
    # window 35-60 ms (bench_stalls "new model dialog").
    dialog.about_to_show = True

    def show() -> None:
        dialog.about_to_show = False
        dialog.show()
        dialog.raise_()

    QTimer.singleShot(0, dialog, show)
    return dialog
