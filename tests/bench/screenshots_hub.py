"""Screenshots of File > Download from Hub for the README, against the local test Hub.

    QT_QPA_PLATFORM=offscreen python tests/bench/screenshots_hub.py [OUT_DIR]

Serves the Llama-3-70B-shaped sparse checkpoint (tests/bench/fake_70b.py) and the tiny sharded
BERT from tests/fixtures/hub_server.py on 127.0.0.1; writes hub-preview-70b.png (the headers-only
preview) and hub-downloaded.png (after a download; default OUT_DIR: resources/screenshots).
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["WORKBENCH_OFFLINE_BY_DEFAULT"] = "1"  # as the CLI marks its own offline default
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main() -> None:
    from PySide6.QtCore import QEventLoop, QSettings
    from PySide6.QtWidgets import QApplication

    from tests.bench.fake_70b import make_fake_llama70b
    from tests.fixtures.hub_server import HubServer, Repo, tiny_sharded_bert

    out = Path(sys.argv[1] if len(sys.argv) > 1 else "resources/screenshots")
    out.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="wb-shots-hub-"))
    atexit.register(shutil.rmtree, root, True)
    server = HubServer().start()
    server.repos["meta-llama/Llama-3-70B"] = Repo.from_folder(
        make_fake_llama70b(root / "llama70b"), on_disk=True)
    server.repos["tiny/bert"] = Repo.from_folder(tiny_sharded_bert())
    os.environ["HF_ENDPOINT"] = server.url
    os.environ["HF_HUB_CACHE"] = str(root / "cache")

    app = QApplication.instance() or QApplication(sys.argv)
    from workbench.qt.hub.actions import open_hub_dialog
    from workbench.qt.main_window import MainWindow

    def wait(pred, timeout: float = 120) -> None:
        end = time.time() + timeout
        while not pred():
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
            time.sleep(0.01)
            if time.time() > end:
                raise TimeoutError

    window = MainWindow(settings=QSettings(str(root / "s.ini"), QSettings.Format.IniFormat))
    window.show()
    dialog = open_hub_dialog(window)
    dialog.repo_edit.setText("meta-llama/Llama-3-70B")
    dialog.start_preview()
    wait(lambda: dialog.preview is not None and dialog.task is None)
    dialog.grab().save(str(out / "hub-preview-70b.png"))
    dialog.repo_edit.setText("tiny/bert")
    dialog.start_preview()
    wait(lambda: dialog.preview is not None and dialog.task is None)
    dialog.which_combo.setCurrentIndex(1)  # safetensors only
    dialog.start_download()
    wait(lambda: window.tabs.count() == 1 and dialog.task is None)
    wait(lambda: window.browser.cache_tree.topLevelItemCount() == 1)
    dialog.grab().save(str(out / "hub-downloaded.png"))
    dialog.close()
    window.close()
    server.stop()
    print(f"wrote {out / 'hub-preview-70b.png'} and {out / 'hub-downloaded.png'}")


if __name__ == "__main__":
    main()
