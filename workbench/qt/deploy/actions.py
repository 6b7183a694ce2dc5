"""Menu actions of the deploy dialogs: File > Export..., Tools > Evaluate/Diff/Serve."""

from __future__ import annotations

from typing import Any

from PySide6.QtGui import QAction, QKeySequence


def _current_path(window: Any) -> str:
    tab = window.current_tab() if hasattr(window, "current_tab") else None
    info = getattr(tab, "info", None)
    return str(getattr(info, "root", "") or getattr(info, "path", "") or "")


def _show(window: Any, name: str, dialog: Any) -> Any:
    """Keep one dialog of each kind per window; show it non-modal."""
    dialogs = window.__dict__.setdefault("deploy_dialogs", {})
    old = dialogs.get(name)
    if old is not None and old.isVisible():
        old.raise_()
        dialog.deleteLater()
        return old
    dialogs[name] = dialog
    dialog.show()
    return dialog


def open_export(window: Any):
    from workbench.qt.deploy.export_dialog import ExportDialog

    return _show(window, "export", ExportDialog(_current_path(window), parent=window))


def open_evaluate(window: Any, path: str | None = None, data: str = ""):
    """The Evaluate view, on `path` (default: the tab in front) and test file `data`.

    An Evaluate view already open and idle is pointed at the new model instead."""
    from workbench.qt.deploy.evaluate_dialog import EvaluateDialog

    dialogs = window.__dict__.setdefault("deploy_dialogs", {})
    old = dialogs.get("evaluate")
    if path is not None and old is not None and old.isVisible() and not old.busy():
        old.set_inputs(path, data)
    return _show(window, "evaluate", EvaluateDialog(
        _current_path(window) if path is None else path, data, parent=window))


def open_diff(window: Any):
    from workbench.qt.deploy.diff_dialog import DiffDialog

    return _show(window, "diff", DiffDialog(_current_path(window), parent=window))


def open_serve(window: Any):
    from workbench.qt.deploy.serve_dialog import ServeDialog

    return _show(window, "serve", ServeDialog(_current_path(window), parent=window))


def install_deploy_actions(window: Any) -> None:
    """Add the actions to the window's File and Tools menus."""
    def add(menu: Any, text: str, slot, shortcut: str, before: Any = None) -> QAction:
        action = QAction(text, window)
        action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(lambda: slot(window))
        if before is not None:
            menu.insertAction(before, action)
        else:
            menu.addAction(action)
        return action

    anchor = getattr(window, "feature_actions_anchor", None)
    window.export_action = add(window.menus["File"], "&Export...", open_export, "Ctrl+E", anchor)
    tools = window.menus["Tools"]
    tools.addSeparator()
    window.evaluate_action = add(tools, "&Evaluate...", open_evaluate, "Ctrl+Shift+E")
    window.diff_action = add(tools, "&Diff Checkpoints...", open_diff, "Ctrl+Shift+K")
    window.serve_action = add(tools, "&Serve Model...", open_serve, "Ctrl+Shift+V")
