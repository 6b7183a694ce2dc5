"""Start the GUI: the window appears first, torch and transformers load afterwards."""

from __future__ import annotations

import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

# How long a thread may hold the GIL while another waits for it (Python's default: 5 ms). A
# worker running pure Python (a meta-device build, imports) made the GUI thread wait up to that
# long for each Python paint or slot call. Measured with bench_stalls (3 runs each): the worst
# first-open stall of Edit config / New Model 44-56 ms at 5 ms, 35-41 ms at 1 ms; in-window
# training throughput unchanged within this machine's noise (bench_train_gui, 3 reps).
GIL_SWITCH_S = 0.001


def tune_interpreter_for_gui() -> None:
    """Let the GUI thread get the GIL back sooner from busy workers."""
    sys.setswitchinterval(GIL_SWITCH_S)


def run_gui(path: str | None = None, demo: bool = False) -> int:
    """Show the main window, then open `path` or the demo model; returns the exit code."""
    tune_interpreter_for_gui()
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
