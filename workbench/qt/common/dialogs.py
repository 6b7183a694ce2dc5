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


def start_folder(settings, near: str | None = None) -> str:
    """Where a folder picker opens: the last folder chosen, else next to `near` when that is a
    folder of the user's (never inside an installed package), else the home folder."""
    import os
    from pathlib import Path

    last = settings.value("last_output_dir", "") if settings is not None else ""
    if last and Path(str(last)).is_dir():
        return str(last)
    if near:
        parent = Path(near).expanduser().resolve().parent
        installed = {"site-packages", "dist-packages"} & set(parent.parts)
        if not installed and parent.is_dir() and os.access(parent, os.W_OK):
            return str(parent)
    return str(Path.home())


def choose_new_folder(parent: QWidget | None, title: str, name: str, settings=None,
                      near: str | None = None) -> str | None:
    """Ask for a folder with the native folder picker; returns `<chosen>/<name>`, or the chosen
    folder itself when it is empty (the user made it for this). None when cancelled."""
    from pathlib import Path

    from PySide6.QtWidgets import QFileDialog

    chosen = QFileDialog.getExistingDirectory(parent, f"{title} (a folder named {name} is made "
                                              f"inside the one you choose)",
                                              start_folder(settings, near))
    if not chosen:
        return None
    if settings is not None:
        settings.setValue("last_output_dir", chosen)
    folder = Path(chosen)
    return str(folder if not any(folder.iterdir()) else folder / name)


def window_settings(widget: QWidget):
    """The QSettings of the main window `widget` lives in (tests give it a private file)."""
    return getattr(widget.window(), "settings", None)


def fit_to_screen(widget: QWidget, width: int, height: int) -> None:
    """Resize `widget` to width x height, or to its screen's available area where that is
    smaller (a 1200 x 780 dialog on a 1024 x 700 screen hid its buttons past the edge)."""
    screen = widget.screen() or QGuiApplication.primaryScreen()
    if screen is not None:
        area = screen.availableGeometry()
        width, height = min(width, area.width()), min(height, area.height())
    widget.resize(width, height)
