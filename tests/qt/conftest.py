"""Qt test fixtures: offscreen platform, a fresh MainWindow, and no dangling threads."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def _gc_on_the_gui_thread(qapp):
    """As in the app: cyclic garbage is collected on the GUI thread only (see gc_guard.py)."""
    from workbench.qt.common.gc_guard import GuiThreadCollector

    collector = GuiThreadCollector(qapp)
    collector.start()
    yield
    collector.stop()


@pytest.fixture(autouse=True)
def _no_dangling_qthreads(qapp, qtbot):
    """Fail a test that leaves one of the app's QThreads running (napari's idea)."""
    yield
    from workbench.qt.common.tasks import running_threads

    qtbot.waitUntil(lambda: not running_threads(), timeout=15_000)


@pytest.fixture
def main_window(qtbot, tmp_path):
    """A MainWindow with its own settings file; closed (and its workers joined) afterwards."""
    from PySide6.QtCore import QSettings

    from workbench.qt.main_window import MainWindow

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings)
    qtbot.addWidget(window)
    window.show()
    yield window
    window.close()
