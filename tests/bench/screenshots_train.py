"""Screenshots of the Fine-tune view on the demo, and the demo fine-tune's figures.

    python tests/bench/screenshots_train.py [--out resources/screenshots] [--logging-steps 1]

Opens the demo model through Tools > Fine-tune Demo, saves the setup form (data preview and
schedule & memory), runs the demo fine-tune through the Start button, saves the live curves
mid-run and the summary after evaluating the base model and trying a sentence. Prints the demo's
wall time and eval accuracy before and after fine-tuning.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="resources/screenshots")
    parser.add_argument("--logging-steps", type=int, default=1)
    args = parser.parse_args()

    from PySide6.QtCore import QEventLoop, QPointF, QSettings
    from PySide6.QtWidgets import QApplication

    from workbench.qt.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    root = Path(tempfile.mkdtemp(prefix="shots_train_"))
    os.environ["WORKBENCH_RUNS_DIR"] = str(root / "runs")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    def wait(condition, seconds: float = 600) -> bool:
        deadline = time.time() + seconds
        while not condition() and time.time() < deadline:
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
            time.sleep(0.01)
        return condition()

    def settle(seconds: float) -> None:
        wait(lambda: False, seconds)

    window = MainWindow(settings=QSettings(str(root / "s.ini"), QSettings.Format.IniFormat))
    window.resize(1500, 920)
    window.show()
    window.start_background_checks()
    window.browser.hide()
    window.finetune_demo_action.trigger()
    assert wait(lambda: window.tabs.count() == 1 and "Fine-tune" in window.tabs.widget(0).views)
    view = window.tabs.widget(0).views["Fine-tune"]
    view.form.set_value("logging_steps", args.logging_steps)
    panel = view.preflight
    assert wait(lambda: panel.preview is not None and panel.plan is not None
                and not panel.tasks._tasks, 300)
    settle(1)
    window.grab().save(str(out / "train-setup.png"))
    panel.setCurrentIndex(1)
    settle(0.5)
    window.grab().save(str(out / "train-preflight.png"))

    finished: list = []
    view.runFinished.connect(finished.append)
    t0 = time.perf_counter()
    assert view.start(), view.form.error_label.text()
    max_steps = [0]

    def far_enough() -> bool:
        s = view.curves.series
        return s["loss"].n >= 22 and s["eval_loss"].n >= 1
    assert wait(far_enough, 900)
    view.pages.setCurrentIndex(1)
    settle(0.5)
    # hover the loss plot two thirds of the way along, so the read-out and cursor show
    plot = view.curves.loss_plot
    x_view = view.curves.series["loss"].x[-1] * 0.66
    scene_pos = plot.vb.mapViewToScene(QPointF(x_view, 0))
    scene_pos.setY(plot.vb.sceneBoundingRect().center().y())
    view.curves._on_scene_mouseMoved(scene_pos)
    settle(0.3)
    window.grab().save(str(out / "train-live.png"))
    assert wait(lambda: bool(finished), 1800)
    wall = time.perf_counter() - t0
    result = finished[0]
    max_steps[0] = view.progress.bar.maximum()
    summary = view.summary
    summary.evaluate_button.click()
    assert wait(lambda: summary.before is not None, 600)
    summary.input.setText("The new phone has a faster chip and a brighter screen.")
    summary.try_button.click()
    assert wait(lambda: bool(summary.last_output), 300)
    view.pages.setCurrentWidget(summary)
    settle(0.5)
    window.grab().save(str(out / "train-summary.png"))
    print(f"Demo fine-tune ({max_steps[0]} steps, logging every {args.logging_steps}): "
          f"{result.status} in {wall:.0f} s wall (start button to summary, model load "
          f"included); eval accuracy {summary.before.get('eval_accuracy', float('nan')):.3f} "
          f"before -> {result.metrics.get('eval_accuracy', float('nan')):.3f} after; "
          f"eval loss {summary.before.get('eval_loss', float('nan')):.3f} -> "
          f"{result.metrics.get('eval_loss', float('nan')):.3f}")
    print(f"Try it: {summary.last_output.splitlines()[0]}")
    window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
