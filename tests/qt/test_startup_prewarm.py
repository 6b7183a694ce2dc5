"""Start-up: the window is built without the feature views' modules; the background start-up
work imports them (and fills the per-class caches they read) in a worker, so the first Fine-tune,
Edit config, New Model or Graph does not import on the GUI thread."""

from __future__ import annotations

import json
import os
import subprocess
import sys

CODE = """
import json, sys, time
from PySide6.QtWidgets import QApplication
app = QApplication([])
from workbench.qt.main_window import MainWindow
from workbench.qt.common.tasks import running_threads
VIEWS = ("workbench.qt.train.view", "workbench.qt.config.editor_panel",
         "workbench.qt.config.new_model_dialog", "workbench.qt.graph.view")
w = MainWindow(); w.show(); app.processEvents()
shown = {m: m in sys.modules for m in VIEWS}
w.start_background_checks()
deadline = time.time() + 240
while running_threads() and time.time() < deadline:
    app.processEvents(); time.sleep(0.01)
from workbench.core.config.schema import _class_fields
from workbench.core.training.spec import _docs
from workbench.qt.config.new_model_dialog import _vocab_size
print(json.dumps({"shown": shown, "after": {m: m in sys.modules for m in VIEWS},
                  "schemas": _class_fields.cache_info().currsize,
                  "train_docs": _docs.cache_info().currsize,
                  "demo_vocab": _vocab_size.cache_info().currsize}))
w.close()
"""


def test_feature_modules_are_imported_by_the_start_up_worker_not_the_window(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path),
           "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True,
                         timeout=300, env=env)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert not any(result["shown"].values()), result["shown"]  # the window did not need them
    assert all(result["after"].values()), result["after"]
    from workbench.core.model.builder import FAMILIES

    assert result["schemas"] >= len(FAMILIES)  # New Model's families, one schema per class
    assert result["train_docs"] == 1 and result["demo_vocab"] == 1
