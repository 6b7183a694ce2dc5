"""The real app in a given state, its window filling the screen, for screenshots under Xvfb:

    HOME=$(mktemp -d) ../shared/tools/screenshot OUT.png --wait 55 --size 1024x700 -- \
        python tests/bench/app_states.py training /tmp/runs

States: empty (no checkpoint), error (a path that does not exist), setup (Fine-tune with the
demo data), training (a 300-step demo run in progress), runs (the Runs page after a 3-step
run, that run selected), overview, tensors, modules, config and graph (those tabs of the
demo), attention (the Attention tab after a run on its default sentence), new-model
(File > New Model...). A fresh HOME gives the first-start look (no settings, empty home).
Unlike screenshots_all.py (offscreen, one process, every screen) this is the installed app's
own start-up (`run_gui`) on a real X screen, one state per process.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

STATES = ("empty", "error", "overview", "tensors", "modules", "setup", "training", "runs",
          "config", "graph", "attention", "new-model")
# states that only show one of the demo's tabs
VIEWS = {"overview": "Overview", "tensors": "Tensors", "modules": "Modules",
         "config": "Edit config", "graph": "Graph", "attention": "Attention"}


def main_window():
    from workbench.qt.main_window import MainWindow

    return next(w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow))


def drive(state: str, runs: Path) -> None:
    """Once the demo is open: its Fine-tune tab in `state`."""
    window = main_window()
    if window.tabs.count() == 0:
        QTimer.singleShot(300, lambda: drive(state, runs))
        return
    if state in VIEWS:
        view = window.tabs.widget(0).show_view(VIEWS[state])
        if state == "attention":  # its default sentence, run
            QTimer.singleShot(1500, lambda: view.run_button.click())
        return
    if state == "new-model":
        window.new_model_action.trigger()
        return
    train = window.tabs.widget(0).show_view("Fine-tune")
    train.load_demo()
    if state == "setup":
        return
    train.form.set_value("max_steps", 300 if state == "training" else 3)

    def select_newest_run() -> None:
        train.runs.select_run(str(max(runs.iterdir())))

    def on_finished(_result) -> None:
        train.pages.setCurrentIndex(3)
        QTimer.singleShot(1500, select_newest_run)  # the list refreshes in a worker first

    train.runFinished.connect(on_finished)
    QTimer.singleShot(2500, lambda: (train.start(), train.pages.setCurrentIndex(1)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("state", choices=STATES)
    parser.add_argument("runs", type=Path, help="the runs folder (WORKBENCH_RUNS_DIR)")
    args = parser.parse_args()
    os.environ["WORKBENCH_RUNS_DIR"] = str(args.runs)
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from workbench.qt.app import run_gui

    QApplication(sys.argv[:1])  # before the timers below; run_gui uses this instance
    QTimer.singleShot(0, lambda: main_window().setGeometry(
        main_window().screen().availableGeometry()))  # no window manager to maximise it
    if args.state == "error":
        QTimer.singleShot(1500, lambda: main_window().open_checkpoint("/does/not/exist"))
    elif args.state != "empty":
        QTimer.singleShot(800, lambda: drive(args.state, args.runs))
    return run_gui(demo=args.state not in ("empty", "error"))


if __name__ == "__main__":
    raise SystemExit(main())
