"""Menu actions of the fine-tuning studio (kept light: nothing heavy is imported at start-up)."""

from __future__ import annotations

from typing import Any

from PySide6.QtGui import QAction

from workbench.core.errors import WorkbenchError
from workbench.qt.common.dialogs import show_error
from workbench.qt.common.requests import open_then


def install_train_actions(window: Any) -> None:
    """Add Tools > "Fine-tune demo" and File > "Open Run..." to the main window."""
    from PySide6.QtGui import QKeySequence

    open_run = QAction("Open &Run...", window)
    open_run.setToolTip("Follow a training run folder live (started here, in a terminal or on "
                        "another machine)")
    open_run.setShortcut(QKeySequence("Ctrl+Shift+R"))
    open_run.triggered.connect(lambda: _open_run(window))
    window.menus["File"].addAction(open_run)
    window.open_run_action = open_run

    action = QAction("&Fine-tune Demo", window)
    action.setToolTip("Open the demo model with the demo dataset, ready to train")
    action.triggered.connect(lambda: open_finetune_demo(window))
    window.menus["Tools"].addAction(action)
    window.finetune_demo_action = action


def open_finetune_demo(window: Any) -> None:
    """Open (or focus) the demo model and fill its Fine-tune view with the demo spec."""
    from workbench.core.model.loading import demo_checkpoint_path

    try:
        path = str(demo_checkpoint_path())
    except WorkbenchError as e:
        show_error(window, "Demo model not installed", str(e))
        return

    def show(tab: Any) -> None:
        view = tab.show_view("Fine-tune")
        if view is not None:
            view.load_demo()

    open_then(window, path, show)


def _open_run(window: Any) -> None:
    from workbench.qt.train.run_monitor import open_run_dialog

    open_run_dialog(window)
