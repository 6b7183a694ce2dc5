"""Screenshots of the Overview dashboard (offscreen): the demo (MiniLM) and the 70B-shaped
checkpoint at 1024x700, 1440x900 and 2560x1440, to look at (into OUT, default a new temporary
folder). resources/screenshots/overview-dashboard-1024.png is the demo at 1024 and
overview-dashboard-wide.png the 70B-shaped one at 1440.

    QT_QPA_PLATFORM=offscreen python tests/bench/screenshots_overview.py [OUT]
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
SIZES = ((1024, 700), (1440, 900), (2560, 1440))


def main() -> None:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from tests.bench.fake_70b import make_fake_llama70b
    from workbench.core.model.loading import demo_checkpoint_path
    from workbench.qt.common.tasks import running_threads
    from workbench.qt.main_window import MainWindow

    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="overview-"))
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication([])
    tmp = Path(tempfile.mkdtemp())
    big = make_fake_llama70b(tmp / "Llama-3-70B-shaped")
    settings = QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings)
    window.show()
    window.start_background_checks()  # the status bar's devices, as app.py does
    opened = []
    window.checkpointOpened.connect(opened.append)
    for name, path in (("demo", demo_checkpoint_path()), ("70b", big)):
        opened.clear()
        window.open_checkpoint(str(path))
        while not opened or running_threads():  # the tab, then its device detection
            app.processEvents()
        tab = opened[0]
        for width, height in SIZES:
            window.resize(width, height)
            for _ in range(5):
                app.processEvents()
            file = out / f"overview-{name}-{width}.png"
            window.grab().save(str(file))
            scroll = tab.overview.horizontalScrollBar().maximum()
            print(f"{file}  window {window.width()}x{window.height()}  columns "
                  f"{tab.overview.grid.columns}  horizontal scroll {scroll}")
    window.close()


if __name__ == "__main__":
    main()
