"""Screenshots of the config editor for the README: the form, an inline error, a build report.

    QT_QPA_PLATFORM=offscreen python tests/bench/screenshots_config_editor.py [OUT_DIR]

Uses the real MiniLM demo checkpoint; writes config-form.png, config-error.png,
config-build-report.png and config-new-model.png (default OUT_DIR: resources/screenshots).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main() -> None:
    from PySide6.QtCore import QEventLoop, QSettings
    from PySide6.QtWidgets import QApplication

    out = Path(sys.argv[1] if len(sys.argv) > 1 else "resources/screenshots")
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication(sys.argv)
    from workbench.core.model.loading import demo_checkpoint_path
    from workbench.qt.config.editor_view import open_new_model_dialog
    from workbench.qt.main_window import MainWindow

    def wait(pred, timeout: float = 120) -> None:
        end = time.time() + timeout
        while not pred():
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
            time.sleep(0.01)
            if time.time() > end:
                raise TimeoutError

    tmp = Path(tempfile.mkdtemp())
    window = MainWindow(settings=QSettings(str(tmp / "s.ini"), QSettings.Format.IniFormat))
    window.resize(1500, 960)
    window.show()
    window.browser.hide()  # more room for the editor
    window.open_checkpoint(str(demo_checkpoint_path()))
    wait(lambda: window.tabs.count() == 1)
    view = window.tabs.currentWidget().show_view("Edit config")
    panel = view.panel
    wait(lambda: panel.ready)
    panel.set_value("num_hidden_layers", 4)
    panel.set_value("max_position_embeddings", 1024)
    panel.set_value("architectures", ["BertForSequenceClassification"])
    panel.set_value("num_labels", 3)
    wait(lambda: panel.ready)
    panel.diff.expandAll()
    app.processEvents()
    window.grab().save(str(out / "config-form.png"))

    panel.set_value("num_attention_heads", 7)
    app.processEvents()
    view.grab().save(str(out / "config-error.png"))
    panel.undo_stack.undo()
    wait(lambda: panel.ready)

    view.build_from_weights(str(tmp / "minilm-cls"))
    wait(lambda: view.report_dialog is not None)
    dialog = view.report_dialog
    dialog.resize(1100, 620)
    for title in ("Mismatched", "Missing", "Unexpected"):
        dialog.sections[title].setExpanded(True)
    app.processEvents()
    dialog.grab().save(str(out / "config-build-report.png"))
    dialog.close()

    new = open_new_model_dialog(window)
    wait(lambda: new.panel.ready)
    app.processEvents()
    new.grab().save(str(out / "config-new-model.png"))
    new.reject()
    window.close()
    print(f"wrote 4 screenshots to {out}")


if __name__ == "__main__":
    main()
