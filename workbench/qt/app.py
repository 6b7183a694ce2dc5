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
    window = MainWindow()
    window.show()
    window.start_background_checks()
    if demo:
        QTimer.singleShot(0, window.open_demo)
    elif path:
        QTimer.singleShot(0, lambda: window.open_checkpoint(path))
    return app.exec()
