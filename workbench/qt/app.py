"""Start the GUI: the window appears first, torch and transformers load afterwards."""

from __future__ import annotations

import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication


def run_gui(path: str | None = None, demo: bool = False) -> int:
    """Show the main window, then open `path` or the demo model; returns the exit code."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Transformer Workbench")
    app.setOrganizationName("TransformerWorkbench")
    from workbench.qt.common.gc_guard import GuiThreadCollector
    from workbench.qt.main_window import MainWindow

    collector = GuiThreadCollector(app)
    collector.start()
    install_excepthook()
    window = MainWindow()
    window.show()
    window.start_background_checks()
    if demo:
        QTimer.singleShot(0, window.open_demo)
    elif path:
        QTimer.singleShot(0, lambda: window.open_checkpoint(path))
    return app.exec()


def install_excepthook() -> None:
    """Log exceptions that escape a Qt slot (PySide hands them to sys.excepthook), then chain.

    Without it their traceback only reaches a terminal the user of a desktop app never sees.
    """
    previous = sys.excepthook

    def hook(kind, value, tb) -> None:
        import traceback

        from workbench.core.logs import log_unexpected

        log_unexpected(f"Unhandled {kind.__name__} in the GUI: {value}",
                       "".join(traceback.format_exception(kind, value, tb)))
        previous(kind, value, tb)

    if getattr(sys.excepthook, "workbench_hook", False):
        return
    hook.workbench_hook = True  # type: ignore[attr-defined]
    sys.excepthook = hook
