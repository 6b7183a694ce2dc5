"""Small shared dialogs: errors with collapsed details, the log's place and a Copy button."""

from __future__ import annotations

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QMessageBox, QWidget


def error_box(parent: QWidget | None, title: str, message: str,
              details: str = "") -> QMessageBox:
    """The error box `show_error` opens (built, not shown: tests and callers can inspect it).

    Details mean an unexpected error, whose traceback the worker that caught it wrote to the
    log (FunctionWorker); the box says where that file is, so the user can attach it to a bug
    report.
    """
    from workbench.core.logs import log_file

    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle(title)
    box.setText(message)
    if details:
        box.setInformativeText(f"The details are in the log file {log_file()} "
                               f"(Help > Open Log Folder); attach it to a bug report.")
        box.setDetailedText(details)
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    copy = box.addButton("Copy", QMessageBox.ButtonRole.ActionRole)
    copy.setToolTip("Copy the message, the details and the log's place to the clipboard")
    # QMessageBox closes on any button; this one must only copy, so it gets its own slot alone.
    copy.clicked.disconnect()
    copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(error_text(box)))
    box.copy_button = copy
    return box


def error_text(box: QMessageBox) -> str:
    """Everything an error box says, as plain text (what Copy puts on the clipboard)."""
    parts = [box.windowTitle(), box.text(), box.informativeText(), box.detailedText()]
    return "\n\n".join(p for p in parts if p)


def show_error(parent: QWidget | None, title: str, message: str, details: str = "") -> None:
    """A modal error box: the user-facing message, the traceback (if any) under Details."""
    error_box(parent, title, message, details).exec()
