"""Save README screenshots of the foundation views (offscreen).

    python tests/bench/screenshots_foundation.py
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "resources" / "screenshots"


def main() -> None:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from tests.bench.fake_70b import make_fake_llama70b
    from workbench.qt.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    tmp = Path(tempfile.mkdtemp())
    big = make_fake_llama70b(tmp / "Llama-3-70B-shaped")
    settings = QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings)
    window.resize(1400, 860)
    window.show()
    app.processEvents()
    window.grab().save(str(OUT / "start-page.png"))
    opened = []
    window.checkpointOpened.connect(opened.append)
    window.open_checkpoint(str(big))
    while not opened:
        app.processEvents()
    tab = opened[0]
    for title, name in (("Overview", "overview-70b"), ("Tensors", "tensors-70b")):
        tab.show_view(title)
        if title == "Tensors":
            tab.tensors.filter_edit.setText("layers.79")
        app.processEvents()
        window.grab().save(str(OUT / f"{name}.png"))
    tab.show_view("Modules")
    tab.modules.expand_path("model.layers.0.mlp")
    app.processEvents()
    window.grab().save(str(OUT / "modules-70b.png"))
    window.close()
    print(f"saved screenshots to {OUT}")


if __name__ == "__main__":
    main()
