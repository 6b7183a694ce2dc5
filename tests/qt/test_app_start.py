"""The installed start-up path (`run_gui`), in a process of its own as `workbench` runs it."""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = """
import sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from workbench.qt.app import run_gui

app = QApplication(sys.argv[:1])
def report():
    window = next(w for w in QApplication.topLevelWidgets() if w.isWindow() and w.isVisible())
    print("switch", sys.getswitchinterval(), "window", type(window).__name__, flush=True)
    app.quit()
QTimer.singleShot(1500, report)
sys.exit(run_gui())
"""


def test_the_app_starts_with_its_window_and_a_short_gil_switch_interval(tmp_path):
    from workbench.qt.app import GIL_SWITCH_S

    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path),
               XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_DATA_HOME=str(tmp_path / "data"))
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("switch"))
    assert float(line.split()[1]) == GIL_SWITCH_S < 0.005  # Python's default is 5 ms
    assert line.endswith("window MainWindow")
