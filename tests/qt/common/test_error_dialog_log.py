"""The error dialog names the log file and copies its text; Help > Open Log Folder."""

from __future__ import annotations

from pathlib import Path


def test_unexpected_error_dialog_names_the_log_and_copies(qtbot, tmp_path, monkeypatch):
    from PySide6.QtGui import QGuiApplication

    from workbench.core.logs import LOG_ENV
    from workbench.qt.common.dialogs import error_box

    monkeypatch.setenv(LOG_ENV, str(tmp_path / "logs"))
    log = tmp_path / "logs" / "workbench.log"
    details = 'Traceback (most recent call last):\n  File "x.py"\nKeyError: \'state_dict\'\n'
    box = error_box(None, "Build failed", "Unexpected KeyError: 'state_dict'", details)
    qtbot.addWidget(box)
    assert str(log) in box.informativeText()
    assert box.detailedText() == details
    box.show()
    box.copy_button.click()
    assert box.isVisible()  # Copy copies; it does not close the box
    copied = QGuiApplication.clipboard().text()
    assert "Unexpected KeyError" in copied and str(log) in copied and "Traceback" in copied


def test_worker_logs_unexpected_errors_not_user_errors(qtbot, tmp_path, monkeypatch):
    from workbench.core.errors import WorkbenchError
    from workbench.core.logs import LOG_ENV
    from workbench.qt.common.tasks import TaskRunner

    monkeypatch.setenv(LOG_ENV, str(tmp_path / "logs"))
    log = tmp_path / "logs" / "workbench.log"
    runner = TaskRunner()
    errors = []

    def user_error():
        raise WorkbenchError("The folder has no config.json.")

    def bug():
        return {}["state_dict"]

    task = runner.start(user_error, on_error=lambda m, d: errors.append((m, d)))
    qtbot.waitUntil(lambda: not task.running, timeout=10_000)
    assert errors == [("The folder has no config.json.", "")]
    assert not log.exists()
    task = runner.start(bug, on_error=lambda m, d: errors.append((m, d)))
    qtbot.waitUntil(lambda: not task.running, timeout=10_000)
    runner.shutdown()
    message, details = errors[-1]
    assert message == "Unexpected KeyError: 'state_dict'" and "Traceback" in details
    text = log.read_text(encoding="utf-8")
    assert message in text and 'return {}["state_dict"]' in text


def test_worker_reports_a_refused_path_as_the_users_to_fix(qtbot, tmp_path):
    """An OSError about a path (a folder that is a file, no permission) names the path and
    what is wrong, without "Unexpected" or a traceback."""
    from workbench.qt.common.tasks import TaskRunner

    runner = TaskRunner()
    errors = []
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    task = runner.start(lambda: (blocker / "out.png").write_bytes(b""),
                        on_error=lambda m, d: errors.append((m, d)))
    qtbot.waitUntil(lambda: not task.running, timeout=10_000)
    runner.shutdown()
    assert errors == [(f"{blocker / 'out.png'}: a part of the path is a file, not a folder. "
                       f"Check the path, or choose a folder you may read and write.", "")]


class _UrlSink:
    """Receives the URLs QDesktopServices would hand to the file manager."""

    def __init__(self):
        from PySide6.QtCore import QObject, Slot

        class Sink(QObject):
            def __init__(self):
                super().__init__()
                self.urls = []

            @Slot("QUrl")
            def open(self, url):
                self.urls.append(url.toLocalFile())

        self.obj = Sink()


def test_help_open_log_folder(main_window, tmp_path, monkeypatch):
    from PySide6.QtGui import QDesktopServices

    from workbench.core.logs import LOG_ENV

    monkeypatch.setenv(LOG_ENV, str(tmp_path / "logfolder"))
    sink = _UrlSink()
    QDesktopServices.setUrlHandler("file", sink.obj, "open")
    try:
        help_menu = main_window.menus["Help"]
        assert main_window.open_log_action in help_menu.actions()
        main_window.open_log_action.trigger()
    finally:
        QDesktopServices.unsetUrlHandler("file")
    assert [Path(u) for u in sink.obj.urls] == [tmp_path / "logfolder"]
    assert (tmp_path / "logfolder").is_dir()


def test_exceptions_escaping_slots_are_logged(tmp_path, monkeypatch):
    import sys

    from workbench.core.logs import LOG_ENV
    from workbench.qt.app import install_excepthook

    monkeypatch.setenv(LOG_ENV, str(tmp_path / "logs"))
    chained = []
    monkeypatch.setattr(sys, "excepthook", lambda *exc: chained.append(exc[0]))
    install_excepthook()
    try:
        raise ZeroDivisionError("in a slot")
    except ZeroDivisionError:
        sys.excepthook(*sys.exc_info())
    text = (tmp_path / "logs" / "workbench.log").read_text(encoding="utf-8")
    assert "Unhandled ZeroDivisionError in the GUI: in a slot" in text and "Traceback" in text
    assert chained == [ZeroDivisionError]  # the previous hook still runs
